"""The synthetic generator: deterministic files, documented answer formats, the thin tool."""

from __future__ import annotations

import json
import re
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.data.data_testing import synthetic_set

ROOT = Path(__file__).resolve().parents[2]
BOX_2D = re.compile(r"^(\w+ \w+) \[(\d\.\d\d), (\d\.\d\d), (\d\.\d\d), (\d\.\d\d)\]$")
BOX_3D = re.compile(r"^(\w+ \w+) \[(-?\d+\.\d\d)(?:, (-?\d+\.\d\d)){5}\]$")


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_gives_identical_files(tmp_path):
    a = _files(synthetic_set(tmp_path / "a", difficulty="hard").root)
    b = _files(synthetic_set(tmp_path / "b", difficulty="hard").root)
    assert a == b and len(a) == 8 + 2 * 4 + 4 + 1
    c = _files(synthetic_set(tmp_path / "c", difficulty="hard", seed=1).root)
    assert c.keys() == a.keys() and c != a


def test_splits_counts_and_readme(synthetic):
    assert set(synthetic.annotations) == {"2d_train", "2d_test", "3d_train", "3d_test"}
    assert (
        sum(synthetic.counts["2d_train"].values()) == 6 * 5
        and sum(synthetic.counts["2d_test"].values()) == 2 * 5
    )
    assert synthetic.counts["3d_train"] == {
        "detection": 3,
        "vqa": 6,
        "caption": 3,
        "classification": 3,
    }
    train_images = {s["image"] for s in json.loads(synthetic.annotations["2d_train"].read_text())}
    test_images = {s["image"] for s in json.loads(synthetic.annotations["2d_test"].read_text())}
    assert not train_images & test_images
    readme = (synthetic.root / "README.md").read_text()
    assert "| 3d_train | annotations/3d_train.json | 3 | 3 | 3 | 6 | 15 |" in readme


def test_2d_answers_follow_the_documented_formats(synthetic):
    samples = json.loads(synthetic.annotations["2d_train"].read_text())
    checked = 0
    for s in samples:
        question, answer = (c["value"] for c in s["conversations"])
        assert question.startswith("<image>\n")
        assert Image.open(synthetic.root / "images" / s["image"]).size == (32, 32)
        if s["task_type"] == "detection":
            items = answer.split("; ")
            assert len(items) == len(s["meta"]["gt_objects"])
            for item, gt in zip(items, s["meta"]["gt_objects"]):
                m = BOX_2D.match(item)
                box = [float(v) for v in m.groups()[1:]]
                assert m.group(1) == gt["label"] and box == pytest.approx(gt["box"], abs=0.006)
                assert 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1
            x1 = [float(BOX_2D.match(i).group(2)) for i in items]
            assert x1 == sorted(x1)
        elif s["task_type"] == "vqa" and s["meta"]["question_type"] == "multiple_choice":
            letter = s["meta"]["answer_letter"]
            options = dict(re.findall(r"\(([A-D])\) (\w+)", question))
            assert answer == f"({letter}) {options[letter]}"
            checked += 1
    assert checked == 6


def test_3d_scenes_and_answers(synthetic):
    samples = json.loads(synthetic.annotations["3d_train"].read_text())
    for s in samples:
        points = np.load(synthetic.root / "scenes" / f"{s['scene_id']}.npy")
        boxes = np.load(synthetic.root / "scenes" / f"{s['scene_id']}_boxes.npy")
        assert points.dtype == np.float32 and points.ndim == 2 and points.shape[1] == 6
        assert boxes.shape[1] == 6 and points[:, 3:].min() >= 0 and points[:, 3:].max() <= 1
        answer = s["conversations"][1]["value"]
        if s["task_type"] == "detection":
            assert len(answer.split("; ")) == len(boxes) and all(
                BOX_3D.match(i) for i in answer.split("; ")
            )
        if s["task_type"] in ("caption", "classification"):
            assert 0 <= s["object_id"] < len(boxes)
        else:
            assert "object_id" not in s


def test_difficulty_adds_objects(tmp_path):
    def mean_objects(level):
        made = synthetic_set(tmp_path / level, difficulty=level, num_scenes=1, tasks=["detection"])
        samples = json.loads(made.annotations["2d_train"].read_text()) + json.loads(
            made.annotations["2d_test"].read_text()
        )
        return np.mean([len(s["meta"]["gt_objects"]) for s in samples])

    assert mean_objects("hard") > mean_objects("easy")


def test_tool_is_a_thin_wrapper(tmp_path, monkeypatch, capsys):
    argv = [
        "make_synthetic.py",
        str(tmp_path / "out"),
        "--num-images",
        "2",
        "--num-scenes",
        "1",
        "--tasks",
        "vqa",
        "--no-progress",
    ]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(ROOT / "tools" / "data" / "make_synthetic.py"), run_name="__main__")
    assert "2d_train: 1 samples" in capsys.readouterr().out
    assert (tmp_path / "out" / "README.md").is_file()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="difficulty"):
        synthetic_set(tmp_path, difficulty="extreme")
    with pytest.raises(ValueError, match="unknown or no tasks"):
        synthetic_set(tmp_path, tasks=["segmentation"])
