"""Bad data files: each error names the file, the line and the sample id (exit code 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from octavius.errors import run_cli
from tests.reliability.helpers import assert_user_error, run_tool

SAMPLE = {
    "id": "s_bad",
    "image": "img_00000.png",
    "task_type": "classification",
    "conversations": [
        {"from": "human", "value": "<image>\nWhat is the shape?"},
        {"from": "gpt", "value": "circle"},
    ],
}


def _train_on(tiny, tmp_path, ann_file):
    argv = [str(tiny["config"]), "--work-dir", str(tmp_path / "w"), "--no-progress",
            "--cfg-options", f"train_dataloader.dataset.ann_file={ann_file}",
            "train_cfg.max_iters=1"]  # fmt: skip
    return run_tool("train", argv)


def _good_line(sample_id="s_ok"):
    return json.dumps({**SAMPLE, "id": sample_id}).encode()


def test_undecodable_utf8_in_jsonl_names_line(tiny, tmp_path):
    ann = tmp_path / "ann.jsonl"
    ann.write_bytes(_good_line() + b"\n" + b'{"id": "s_bad", "x": "caf\xe9"}\n')
    assert_user_error(_train_on(tiny, tmp_path, ann), f"{ann}:2", "UTF-8")


def test_undecodable_utf8_in_json_names_line(tiny, tmp_path):
    ann = tmp_path / "ann.json"
    ann.write_bytes(b"[\n" + _good_line() + b",\n" + b'{"id": "\xff\xfe"}\n]')
    assert_user_error(_train_on(tiny, tmp_path, ann), f"{ann}:3", "UTF-8")


def test_malformed_jsonl_line(tiny, tmp_path):
    ann = tmp_path / "ann.jsonl"
    ann.write_bytes(_good_line() + b"\n{not json\n")
    assert_user_error(_train_on(tiny, tmp_path, ann), f"{ann}:2", "malformed JSON")


def test_missing_image_names_sample(tiny, tmp_path):
    ann = tmp_path / "ann.jsonl"
    ann.write_text(json.dumps({**SAMPLE, "image": "no_such.png"}) + "\n")
    assert_user_error(_train_on(tiny, tmp_path, ann), f"{ann}:1", "s_bad", "no_such.png")


def test_decompression_bomb_image_names_file_line_and_sample(tiny, tmp_path, monkeypatch):
    ann = tmp_path / "ann.jsonl"
    ann.write_bytes(_good_line("s_bomb") + b"\n")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # the 32x32 images count as bombs now
    err = assert_user_error(_train_on(tiny, tmp_path, ann), f"{ann}:1", "s_bomb", "img_00000.png")
    assert "too large" in err


def test_missing_annotation_file(tiny, tmp_path):
    assert_user_error(
        _train_on(tiny, tmp_path, tmp_path / "none.jsonl"), str(tmp_path / "none.jsonl")
    )


def test_unknown_task_type_names_sample(tiny, tmp_path):
    ann = tmp_path / "ann.jsonl"
    ann.write_text(json.dumps({**SAMPLE, "task_type": "juggling"}) + "\n")
    assert_user_error(_train_on(tiny, tmp_path, ann), f"{ann}:1", "s_bad", "juggling")


@pytest.fixture
def scene_root(tmp_path):
    points = tmp_path / "points"
    points.mkdir()
    np.save(points / "room.npy", np.zeros((64, 6), dtype=np.float32))
    return tmp_path


def _scene_dataset(tiny, root, boxes_text):
    ann = root / "scenes.jsonl"
    sample = (
        '{"id": "room_det", "scene_id": "room", "task_type": "detection", "boxes": '
        + boxes_text
        + ', "conversations": [{"from": "human", "value": "<point_cloud>\\nFind the chair."},'
        ' {"from": "gpt", "value": "none"}]}'
    )
    ann.write_text(_good_line().decode() + "\n" + sample + "\n")

    def build(argv):
        from octavius.data import InstructionDataset

        InstructionDataset(
            ann_file=str(ann), tokenizer=str(tiny["assets"] / "llama"), data_root="",
            image_root=str(tiny["data"] / "images"), point_root=str(root / "points"),
            modality_tokens=dict(image=16, point_cloud=4),
        )  # fmt: skip

    return ann, build


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        ("[[0, 0, 0, NaN, 1, 1]]", "non-finite"),
        ("[[0, 0, 0, Infinity, 1, 1]]", "non-finite"),
        ("[[0, 0, 0, 1, -2, 1]]", "negative size"),
        ("[[0, 0, 0, 1, 1]]", "[cx, cy, cz, dx, dy, dz]"),
        ('[[0, 0, 0, "1", 1, 1]]', "non-number"),
    ],
)
def test_bad_inline_boxes_name_file_line_and_sample(tiny, scene_root, capsys, boxes, expected):
    ann, build = _scene_dataset(tiny, scene_root, boxes)
    code = run_cli(build, [])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    for name in (f"{ann}:2", "room_det", expected):
        assert name in err, err
