"""InstructionDataset: LLaVA / LAMM samples load; every bad input gives a clear error or a counted skip."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from octavius.data import IGNORE_INDEX, DataError, InstructionDataset, load_tokenizer
from octavius.registry import DATASETS
from tests.data.data_testing import image_sample, save_png, save_scene, write_json, write_jsonl


def _dataset(ann, tokenizer_path, root, **kwargs):
    return InstructionDataset(
        str(ann), tokenizer=tokenizer_path, image_root=str(root), point_root=str(root), **kwargs
    )


def test_llava_format_loads(synthetic, tokenizer_path):
    ds = DATASETS.build(
        dict(
            type="InstructionDataset",
            ann_file="annotations/2d_train.json",
            data_root=str(synthetic.root),
            image_root="images",
            tokenizer=tokenizer_path,
        )
    )
    raw = json.loads(synthetic.annotations["2d_train"].read_text())
    assert len(ds) == len(raw)
    tok = load_tokenizer(tokenizer_path)
    sample = ds[0]
    assert isinstance(sample["images"][0], Image.Image) and sample["images"][0].mode == "RGB"
    assert sample["point_clouds"] == []
    assert int((sample["input_ids"] == tok.convert_tokens_to_ids("<image>")).sum()) == 1
    meta = sample["data_sample"]
    assert meta["sample_id"] == raw[0]["id"] and meta["task_type"] == raw[0]["task_type"]
    assert meta["task_definition"] and meta["dataset"] == "2d_train"
    assert meta["extra"]["meta"] == raw[0]["meta"]
    response = [
        t
        for t, label in zip(sample["input_ids"].tolist(), sample["labels"].tolist())
        if label != IGNORE_INDEX
    ]
    assert tok.decode(response) == " " + raw[0]["conversations"][1]["value"] + "</s>"


def test_lamm_3d_format_loads(synthetic, tokenizer_path):
    root = synthetic.root
    ds = InstructionDataset(
        "annotations/3d_train.json",
        tokenizer=tokenizer_path,
        data_root=str(root),
        point_root="scenes",
    )
    raw = json.loads(synthetic.annotations["3d_train"].read_text())
    by_task = {r["task_type"]: i for i, r in enumerate(raw)}
    scene = ds[by_task["detection"]]["point_clouds"][0]
    points = np.load(root / "scenes" / f"{raw[by_task['detection']]['scene_id']}.npy")
    boxes = np.load(root / "scenes" / f"{raw[by_task['detection']]['scene_id']}_boxes.npy")
    assert scene["points"].dtype == torch.float32 and scene["points"].shape == points.shape
    assert torch.equal(scene["boxes"], torch.from_numpy(boxes)) and not scene["use_instance_boxes"]
    item = raw[by_task["classification"]]
    instance = ds[by_task["classification"]]["point_clouds"][0]
    inst_boxes = np.load(root / "scenes" / f"{item['scene_id']}_boxes.npy")
    assert instance["use_instance_boxes"] and instance["scene_id"] == item["scene_id"]
    assert torch.equal(
        instance["boxes"], torch.from_numpy(inst_boxes[item["object_id"] : item["object_id"] + 1])
    )
    assert ds[by_task["classification"]]["data_sample"]["object_id"] == item["object_id"]


def test_lamm_sample_without_placeholder(tmp_path, tokenizer_path):
    save_scene(tmp_path, "s0")
    sample = {"id": "q1", "scene_id": "s0", "task_type": "VQA", "conversations": [
        {"from": "human", "value": "How many objects?"}, {"from": "gpt", "value": "two"}]}  # fmt: skip
    ann = write_json(tmp_path / "lamm.json", [sample])
    with pytest.raises(
        DataError, match=r"lamm\.json:#0, sample 'q1': .*no <point_cloud> placeholder"
    ):
        _dataset(ann, tokenizer_path, tmp_path)
    ds = _dataset(ann, tokenizer_path, tmp_path, add_missing_placeholder=True)
    tok = load_tokenizer(tokenizer_path)
    assert int((ds[0]["input_ids"] == tok.convert_tokens_to_ids("<point_cloud>")).sum()) == 1
    assert ds[0]["data_sample"]["task_type"] == "vqa"  # alias resolved


def test_jsonl_and_test_mode(tmp_path, tokenizer_path):
    save_png(tmp_path / "a.png")
    ann = write_jsonl(tmp_path / "d.jsonl", [image_sample("x", "a.png", "<image>\nColour?", "red")])
    ds = _dataset(ann, tokenizer_path, tmp_path, test_mode=True)
    tok = load_tokenizer(tokenizer_path)
    sample = ds[0]
    assert tok.decode(sample["input_ids"]).endswith("USER: <image>\nColour? ASSISTANT:")
    assert (sample["labels"] == IGNORE_INDEX).all()
    assert (
        sample["data_sample"]["gt_text"] == "red"
        and sample["data_sample"]["question"] == "<image>\nColour?"
    )


def _bad_cases(tmp_path):
    """(name, annotation file, expected message pattern) for each kind of bad input."""
    save_png(tmp_path / "ok.png")
    save_scene(tmp_path, "good")
    np.save(tmp_path / "flat.npy", np.zeros((10, 3), np.float32))
    good = image_sample("good", "ok.png", "<image>\nWhat?", "red")
    cases = {
        "missing_image": (
            [image_sample("m1", "nope.png", "<image>\nWhat?", "red")],
            r"bad\.jsonl:1, sample 'm1': image file not found: .*nope\.png",
        ),
        "missing_point_cloud": (
            [
                {
                    "id": "p1",
                    "scene_id": "absent",
                    "task_type": "vqa",
                    "conversations": good["conversations"],
                }
            ],
            r"bad\.jsonl:1, sample 'p1': point cloud file not found: .*absent\.npy",
        ),
        "malformed_json": (
            [good, '{"id": "broken", "conversations": [', good],
            r"bad\.jsonl:2: malformed JSON line",
        ),
        "missing_placeholder": (
            [image_sample("n1", "ok.png", "What is it?", "red")],
            r"sample 'n1': the sample has 1 image\(s\) but no <image> placeholder",
        ),
        "too_many_images": (
            [image_sample("t1", ["ok.png", "ok.png"], "<image>\nWhat?", "red")],
            r"sample 't1': the sample has 2 image\(s\) but 1 <image> placeholder",
        ),
        "bad_point_shape": (
            [
                {
                    "id": "s1",
                    "point_cloud": "flat.npy",
                    "task_type": "vqa",
                    "conversations": [
                        {"from": "human", "value": "<point_cloud>\nHow many?"},
                        {"from": "gpt", "value": "one"},
                    ],
                }
            ],
            r"sample 's1': point cloud .*flat\.npy has shape \(10, 3\); expected \(N, 6\)",
        ),
        "too_long": (
            [image_sample("l1", "ok.png", "<image>\n" + "word " * 400, "red")],
            r"sample 'l1': the sample is \d+ tokens long .* max_length=64",
        ),
    }
    return cases, good


@pytest.mark.parametrize(
    "case",
    [
        "missing_image",
        "missing_point_cloud",
        "malformed_json",
        "missing_placeholder",
        "too_many_images",
        "bad_point_shape",
        "too_long",
    ],
)
def test_bad_input_raises_clear_error(tmp_path, tokenizer_path, case):
    cases, _ = _bad_cases(tmp_path)
    lines, pattern = cases[case]
    ann = write_jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(DataError, match=pattern) as info:
        _dataset(ann, tokenizer_path, tmp_path, max_length=64)
    assert info.value.reason == case
    assert "bad.jsonl" in str(info.value)


def test_skip_counts_and_reports(tmp_path, tokenizer_path, monkeypatch, caplog):
    cases, good = _bad_cases(tmp_path)
    lines = [good]
    for bad, _ in cases.values():
        lines.extend(line for line in bad if line is not good)
    lines.append(dict(good, id="good2"))
    ann = write_jsonl(tmp_path / "mixed.jsonl", lines)
    # Report through a standard logger so caplog sees it (a Runner's MMLogger otherwise).
    monkeypatch.setattr(
        "octavius.data.errors.data_logger", lambda: logging.getLogger("octavius.data")
    )
    with caplog.at_level(logging.WARNING, logger="octavius.data"):
        ds = _dataset(ann, tokenizer_path, tmp_path, max_length=64, on_error="skip")
    assert [ds.get_data_info(i)["sample_id"] for i in range(len(ds))] == ["good", "good2"]
    assert ds.skip_log.total == len(cases)
    assert dict(ds.skip_log.counts) == dict.fromkeys(cases, 1)
    assert "skipped 7 sample(s), 2 kept" in caplog.text and "too_long: 1" in caplog.text


def test_unreadable_image_at_read_time(tmp_path, tokenizer_path):
    save_png(tmp_path / "ok.png")
    (tmp_path / "corrupt.png").write_bytes(b"not a png")
    ann = write_json(
        tmp_path / "d.json",
        [
            image_sample("c", "corrupt.png", "<image>\nQ?", "A"),
            image_sample("ok", "ok.png", "<image>\nQ?", "B"),
        ],
    )
    ds = _dataset(ann, tokenizer_path, tmp_path)
    with pytest.raises(
        DataError, match=r"d\.json:#0, sample 'c': cannot read image .*corrupt\.png"
    ):
        ds[0]
    skipping = _dataset(ann, tokenizer_path, tmp_path, on_error="skip")
    assert skipping[0]["data_sample"]["sample_id"] == "ok"
    assert dict(skipping.skip_log.counts) == {"unreadable_image": 1}


def test_other_sample_errors(tmp_path, tokenizer_path):
    save_png(tmp_path / "ok.png")
    unknown = image_sample("u", "ok.png", "<image>\nQ?", "A", task="segmentation")
    with pytest.raises(DataError, match=r"task type 'segmentation' is not one of the known tasks"):
        _dataset(write_json(tmp_path / "a.json", [unknown]), tokenizer_path, tmp_path)
    swapped = {"id": "r", "conversations": [{"from": "gpt", "value": "hi"}], "task_type": "vqa"}
    with pytest.raises(DataError, match=r"sample 'r': conversations\[0\] is a assistant turn"):
        _dataset(write_json(tmp_path / "b.json", [swapped]), tokenizer_path, tmp_path)
    extra = image_sample("e", None, "<image>\nQ?", "A")
    with pytest.raises(DataError, match=r"0 image\(s\) but 1 <image> placeholder"):
        _dataset(write_json(tmp_path / "c.json", [extra]), tokenizer_path, tmp_path)
    (tmp_path / "bad.json").write_text("[{")
    with pytest.raises(DataError, match=r"bad\.json:1: not valid JSON"):
        _dataset(tmp_path / "bad.json", tokenizer_path, tmp_path)
    with pytest.raises(ValueError, match="on_error"):
        _dataset(tmp_path / "bad.json", tokenizer_path, tmp_path, on_error="ignore")
