"""``tools/data/extract_rois.py`` on scenes in mmdet3d's ScanNet layout.

The fixture is what mmdet3d's ``data/scannet/batch_load_scannet_data.py`` writes per scene:
``<scene>_vert.npy`` ``(N, 6)`` float32 (x, y, z in the scanner frame, r, g, b in 0–255),
``_sem_label.npy`` and ``_ins_label.npy`` ``(N,)`` uint32, ``_aligned_bbox.npy`` and
``_unaligned_bbox.npy`` ``(K, 7)`` float64, ``_axis_align_matrix.npy`` ``(4, 4)`` float64.
"""

from __future__ import annotations

import importlib.util
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch

from octavius.data import DataError
from octavius.models.base_roi_source import BaseRoISource
from octavius.models.roi_extraction import extract_rois, load_scene_points, scene_files
from octavius.plugins.encoders.precomputed_roi_source import PrecomputedRoISource

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "data" / "extract_rois.py"

XYZ = np.array([[1, 1, 0], [2, 1, 0], [2, 3, 1], [5, 5, 0], [5, 6, 2]], dtype=np.float32)
RGB = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [51, 51, 51], [0, 0, 0]], np.float32)
# A shift by (10, 20, 30), then (hand-computed) aligned xyz = XYZ + (10, 20, 30).
MATRIX = np.array([[1, 0, 0, 10], [0, 1, 0, 20], [0, 0, 1, 30], [0, 0, 0, 1]], dtype=np.float64)


def write_scene(root: Path, scene: str, labels: int = 5) -> None:
    np.save(root / f"{scene}_vert.npy", np.concatenate([XYZ, RGB], axis=1))
    np.save(root / f"{scene}_sem_label.npy", np.array([5, 5, 5, 1, 1], np.uint32))
    np.save(root / f"{scene}_ins_label.npy", np.array([1, 1, 1, 2, 2][:labels], np.uint32))
    np.save(root / f"{scene}_aligned_bbox.npy", np.array([[11.5, 22.0, 30.5, 1.0, 2.0, 1.0, 5.0]]))
    np.save(root / f"{scene}_unaligned_bbox.npy", np.array([[1.5, 2.0, 0.5, 1.0, 2.0, 1.0, 5.0]]))
    np.save(root / f"{scene}_axis_align_matrix.npy", MATRIX)


class ExtentStub(BaseRoISource):
    """One box: the extent of the points it is given, score 0.9 (records what it saw)."""

    def __init__(self) -> None:
        self.seen: dict[str, torch.Tensor] = {}

    def scored_rois(self, item):
        points = torch.as_tensor(item["points"])
        self.seen[item["scene_id"]] = points
        low, high = points[:, :3].min(0).values, points[:, :3].max(0).values
        return torch.cat([(low + high) / 2, high - low])[None], torch.tensor([0.9])

    def get_rois(self, item):
        return self.scored_rois(item)[0]


def test_mmdet3d_scenes_are_found_aligned_and_written(tmp_path):
    scenes_dir = tmp_path / "scannet_instance_data"
    scenes_dir.mkdir()
    write_scene(scenes_dir, "scene0000_00")
    write_scene(scenes_dir, "scene0001_00")
    scenes = scene_files(scenes_dir)
    # The label, box and matrix files are not scenes.
    assert [s for s, _ in scenes] == ["scene0000_00", "scene0001_00"]
    assert scenes[0][1].name == "scene0000_00_vert.npy"
    stub = ExtentStub()
    report = extract_rois(stub, scenes, tmp_path / "rois", progress=False)
    assert report.written == ["scene0000_00", "scene0001_00"] and report.num_boxes == 2
    shift = np.array([10, 20, 30], np.float32)
    expected = np.concatenate([XYZ + shift, RGB / 255], axis=1).astype(np.float32)
    np.testing.assert_allclose(stub.seen["scene0000_00"].numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(load_scene_points(scenes[1][1]).numpy(), expected, rtol=1e-6)
    # Aligned extent of the five vertices: x 11..15, y 21..26, z 30..32.
    rois = PrecomputedRoISource(root=tmp_path / "rois")({"scene_id": "scene0001_00"})
    torch.testing.assert_close(rois, torch.tensor([[13.0, 23.5, 31.0, 4.0, 5.0, 2.0]]))


def test_label_count_differing_from_vertex_count_names_the_file(tmp_path):
    write_scene(tmp_path, "scene0000_00")
    write_scene(tmp_path, "scene0001_00", labels=4)
    with pytest.raises(DataError) as info:
        scene_files(tmp_path)
    message = str(info.value)
    assert info.value.reason == "scannet_count_mismatch"
    assert "scene0001_00_ins_label.npy" in message and "scene0001_00_vert.npy" in message
    assert "(4,)" in message and "5 vertices" in message
    # The command line stops before building a detector, with the same names.
    tool = runpy.run_path(str(TOOL))["main"]
    with pytest.raises(SystemExit) as stop:
        tool([str(tmp_path), str(tmp_path / "rois")])
    assert "scene0001_00_ins_label.npy" in str(stop.value.code)
    assert not (tmp_path / "rois").exists()


def test_colour_scale_is_refused_for_mmdet3d_scenes(tmp_path):
    write_scene(tmp_path, "scene0000_00")
    tool = runpy.run_path(str(TOOL))["main"]
    with pytest.raises(SystemExit) as stop:
        tool([str(tmp_path), str(tmp_path / "rois"), "--color-scale", "255"])
    assert "0-255 colours scaled to [0, 1]" in str(stop.value.code)


def test_plain_npy_directory_keeps_the_npy_layout(tmp_path):
    np.save(tmp_path / "room.npy", np.concatenate([XYZ, RGB / 255], axis=1))
    assert [s for s, _ in scene_files(tmp_path)] == ["room"]
    with pytest.raises(FileNotFoundError, match=r"_vert\.npy"):
        scene_files(tmp_path, layout="scannet")


@pytest.mark.skipif(
    importlib.util.find_spec("mmdet3d") is None,
    reason="the optional [3d] extra (mmdet3d) is not installed; install it with .ci/install_3d.sh",
)
def test_tool_runs_fcaf3d_on_an_mmdet3d_scene(tmp_path):
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    xyz = (rng.random((800, 3)) * [4.0, 4.0, 2.0]).astype(np.float32)
    rgb = rng.integers(0, 256, size=(800, 3)).astype(np.float32)
    scenes_dir = tmp_path / "scannet_instance_data"
    scenes_dir.mkdir()
    np.save(scenes_dir / "scene0000_00_vert.npy", np.concatenate([xyz, rgb], axis=1))
    np.save(scenes_dir / "scene0000_00_ins_label.npy", np.zeros(800, np.uint32))
    np.save(scenes_dir / "scene0000_00_sem_label.npy", np.zeros(800, np.uint32))
    np.save(scenes_dir / "scene0000_00_axis_align_matrix.npy", MATRIX)
    tool = runpy.run_path(str(TOOL))["main"]
    tool([str(scenes_dir), str(tmp_path / "rois"), "--score-thr", "0", "--top-m", "5"])
    stored = np.load(tmp_path / "rois" / "scene0000_00.npy")
    assert stored.dtype == np.float32 and stored.shape[1] == 7 and 0 < len(stored) <= 5
    # The boxes lie in the aligned frame the training pipeline reads (shifted by 10, 20, 30).
    assert np.all(stored[:, 0] > 8) and np.all(stored[:, 1] > 18) and np.all(stored[:, 2] > 28)
