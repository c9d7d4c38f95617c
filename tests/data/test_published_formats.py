"""Instruction files exactly as LLaVA and LAMM publish them load without editing.

Samples are copied from the published files' documented format: LLaVA's
``llava_instruct_150k.json`` (no ``task_type``; ``<image>`` in the first question), LAMM's 2D
meta files (``task_type``, ``src_image``, no placeholder) and 3D meta files (``pcl`` path,
``classification3d``) as ``src/model/LAMM/README.md`` shows them, and Scan2Inst samples
(``scene_id``, ``object_id``, ``object_name``, ``VQA3D`` …) as OpenGVLab/LAMM's
``OctaviusDataset`` reads them.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from octavius.data import DataError, InstructionDataset, normalize_task
from tests.data.data_testing import save_png, write_json

LLAVA = [
    {
        "id": "000000033471",
        "image": "000000033471.jpg",
        "conversations": [
            {"from": "human", "value": "<image>\nWhat are the colors of the bus in the image?"},
            {"from": "gpt", "value": "The bus in the image is white and red."},
            {"from": "human", "value": "What feature can be seen on the back of the bus?"},
            {"from": "gpt", "value": "The back of the bus features an advertisement."},
        ],
    },
    {
        "id": "000000052846",
        "image": "000000052846.jpg",
        "conversations": [
            {"from": "human", "value": "Where is the cat positioned in the image?\n<image>"},
            {"from": "gpt", "value": "The cat is positioned on top of the back of the couch."},
        ],
    },
]


def _standard_logger(monkeypatch) -> None:
    """Report through a standard logger so caplog sees it (a Runner's MMLogger otherwise)."""
    monkeypatch.setattr(
        "octavius.data.instruction_dataset.data_logger", lambda: logging.getLogger("octavius.data")
    )


def test_llava_instruct_loads_as_conversation_and_says_so_once(
    tmp_path, tokenizer_path, caplog, monkeypatch
):
    _standard_logger(monkeypatch)
    for sample in LLAVA:
        save_png(tmp_path / sample["image"])
    ann = write_json(tmp_path / "llava_instruct_150k.json", LLAVA)
    with caplog.at_level(logging.INFO, logger="octavius.data"):
        ds = InstructionDataset(str(ann), tokenizer=tokenizer_path, image_root=str(tmp_path))
        samples = [ds[0], ds[1]]
    assert len(ds) == 2
    assert [s["data_sample"]["task_type"] for s in samples] == ["conversation", "conversation"]
    notes = [r for r in caplog.records if "no 'task_type'" in r.getMessage()]
    assert len(notes) == 1
    assert "2 sample(s)" in notes[0].getMessage() and "conversation" in notes[0].getMessage()


def test_an_explicit_default_task_is_not_reported(tmp_path, tokenizer_path, caplog, monkeypatch):
    _standard_logger(monkeypatch)
    save_png(tmp_path / LLAVA[1]["image"])
    ann = write_json(tmp_path / "one.json", LLAVA[1:])
    with caplog.at_level(logging.INFO, logger="octavius.data"):
        ds = InstructionDataset(
            str(ann), tokenizer=tokenizer_path, image_root=str(tmp_path), default_task="vqa"
        )
    assert ds[0]["data_sample"]["task_type"] == "vqa"
    assert not [r for r in caplog.records if "no 'task_type'" in r.getMessage()]


LAMM_2D = [
    {
        "id": "000000019028",
        "image": "coco_images/000000019028.jpg",
        "conversations": [
            {"from": "human", "value": "How is the kitchen in the image furnished?"},
            {"from": "gpt", "value": "The kitchen is furnished with white cabinets."},
        ],
        "task_type": "conversation",
        "src_image": "coco2017",
    },
    {
        "id": "000000019029",
        "image": "coco_images/000000019029.jpg",
        "conversations": [
            {"from": "human", "value": "Describe the image in detail."},
            {"from": "gpt", "value": "A kitchen with white cabinets and a blue towel."},
        ],
        "task_type": "description",
        "src_image": "coco2017",
    },
]


def test_lamm_2d_meta_file_loads(tmp_path, tokenizer_path):
    (tmp_path / "coco_images").mkdir()
    for sample in LAMM_2D:
        save_png(tmp_path / sample["image"])
    ann = write_json(tmp_path / "daily_dialogue_49k.json", LAMM_2D)
    ds = InstructionDataset(
        str(ann), tokenizer=tokenizer_path, image_root=str(tmp_path), add_missing_placeholder=True
    )
    meta = [ds[i]["data_sample"] for i in range(2)]
    assert [m["task_type"] for m in meta] == ["conversation", "caption"]
    assert meta[1]["extra"] == {"src_image": "coco2017", "source_task": "description"}


def test_lamm_3d_meta_file_loads_xyz_only_clouds(tmp_path, tokenizer_path):
    name = "shapenet_pcls/04256520_cb71cb7b36dbcb6f826fc8d57346a2e4_4096.npy"
    (tmp_path / "shapenet_pcls").mkdir()
    xyz = np.random.default_rng(0).uniform(-1, 1, (4096, 3)).astype(np.float32)
    np.save(tmp_path / name, xyz)
    sample = {
        "pcl": name,
        "conversations": [
            {"from": "human", "value": "What scenario does this point cloud belong to?"},
            {"from": "gpt", "value": "It aligns with the characteristics of sofa,couch,lounge."},
        ],
        "task_type": "classification3d",
        "src_dataset": "ShapeNet",
        "src_id": "04256520_cb71cb7b36dbcb6f826fc8d57346a2e4",
    }
    ann = write_json(tmp_path / "LAMM_3dinstruct_10k.json", [sample])
    ds = InstructionDataset(
        str(ann),
        tokenizer=tokenizer_path,
        point_root=str(tmp_path),
        add_missing_placeholder=True,
        allow_xyz=True,
    )
    item = ds[0]
    assert item["data_sample"]["task_type"] == "classification"
    assert item["data_sample"]["extra"]["source_task"] == "classification3d"
    points = item["point_clouds"][0]["points"].numpy()
    assert points.shape == (4096, 6)
    np.testing.assert_array_equal(points[:, :3], xyz)
    np.testing.assert_array_equal(points[:, 3:], 0.0)


@pytest.mark.parametrize(
    ("lamm", "ours"),
    [
        ("VQA3D", "vqa"),
        ("VQA3d", "vqa"),
        ("VQA", "vqa"),
        ("classification3d", "classification"),
        ("description3d", "caption"),
        ("description", "caption"),
        ("detection3d", "detection"),
        ("conversation3d", "conversation"),
        ("normal", "conversation"),
        ("commomsenseqa3d", "vqa"),
        ("counting", "vqa"),
        ("visual_grounding3d", "detection"),
    ],
)
def test_lamm_task_names(lamm, ours):
    """Every task name of LAMM's conversation_dict (src/model/LAMM/conversations.py) but keypoints."""
    assert normalize_task(lamm) == ours


def test_unknown_task_names_the_sample(tmp_path, tokenizer_path):
    save_png(tmp_path / "a.jpg")
    sample = dict(LLAVA[1], image="a.jpg", task_type="keypoint_detection")
    ann = write_json(tmp_path / "kp.json", [sample])
    with pytest.raises(DataError, match=r"kp\.json:#0.*'keypoint_detection'"):
        InstructionDataset(str(ann), tokenizer=tokenizer_path, image_root=str(tmp_path))
