"""``prepare_quickstart``: what a config's ``quickstart`` section builds, and its errors."""

from __future__ import annotations

import numpy as np
import pytest

from octavius.testing.quickstart import prepare_quickstart


def _scenes(root, boxes):
    root.mkdir(parents=True)
    for scene_id, rows in boxes.items():
        np.save(root / f"{scene_id}_boxes.npy", np.asarray(rows, np.float32))
    return root


def test_rois_are_the_scene_boxes_with_a_score_and_are_not_rewritten(tmp_path):
    scenes = _scenes(
        tmp_path / "scenes",
        {"scene_a": [[1, 2, 3, 0.5, 0.5, 0.5], [4, 5, 6, 1, 1, 1]], "scene_b": np.zeros((0, 6))},
    )
    cfg = {"quickstart": {"rois": {"out_dir": str(tmp_path / "rois"), "scenes_dir": str(scenes)}}}
    out = prepare_quickstart(cfg)["rois"]
    rois = np.load(out / "scene_a.npy")
    np.testing.assert_array_equal(rois, [[1, 2, 3, 0.5, 0.5, 0.5, 1], [4, 5, 6, 1, 1, 1, 1]])
    assert np.load(out / "scene_b.npy").shape == (0, 7)
    stamp = (out / "scene_a.npy").stat().st_mtime_ns
    prepare_quickstart(cfg)
    assert (out / "scene_a.npy").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in out.iterdir()) == ["scene_a.npy", "scene_b.npy"]


def test_rois_follow_the_synthetic_set(tmp_path):
    cfg = {
        "quickstart": {
            "synthetic": {
                "out_dir": str(tmp_path / "data"),
                "num_images": 1,
                "num_scenes": 2,
                "progress": False,
            },
            "rois": {"out_dir": str(tmp_path / "rois")},
        }
    }
    prepared = prepare_quickstart(cfg)
    assert sorted(p.name for p in prepared["rois"].iterdir()) == [
        "scene_00000.npy",
        "scene_00001.npy",
    ]


@pytest.mark.parametrize(
    ("section", "error", "match"),
    [
        ({"tiny_asset": {}}, KeyError, "tiny_asset"),
        ({"rois": {}}, KeyError, "out_dir"),
        ({"rois": {"out_dir": "x", "scene_dir": "y"}}, KeyError, "scene_dir"),
        ({"rois": {"out_dir": "x"}}, FileNotFoundError, "scenes_dir"),
        ([], TypeError, "dict"),
    ],
)
def test_malformed_sections_name_the_entry(section, error, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=match):
        prepare_quickstart({"quickstart": section})
