"""ScanNet scenes in mmdet3d's layout, and raw ScanNet scans converted to it.

The fixtures are written by hand in the published formats: the ``.npy`` files of mmdet3d's
``data/scannet/batch_load_scannet_data.py`` (vertices ``(N, 6)`` float32 with 0–255 colours in the
scanner frame, ``uint32`` labels, ``(K, 7)`` float64 boxes, a ``(4, 4)`` alignment matrix), and a
raw scan as ScanNet distributes it (binary little-endian ``_vh_clean_2.ply``, ``.aggregation.json``,
``_vh_clean_2.0.010000.segs.json``, ``.txt`` with ``axisAlignment``, the label-map ``.tsv``).
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from octavius.data import DataError, InstructionDataset
from octavius.data.ply_io import read_ply_vertices
from octavius.data.scannet_export import export_scan
from octavius.data.scannet_scene import check_scannet_scene, load_scannet_scene

REPO = Path(__file__).resolve().parents[2]

# Six vertices: object 0 (a chair, NYU40 5) = vertices 0-2, object 1 (a wall, NYU40 1, not one
# of the 18 detection classes) = vertices 3-4, vertex 5 unannotated.
XYZ = np.array([[1, 1, 0], [2, 1, 0], [2, 3, 1], [5, 5, 0], [5, 6, 2], [9, 9, 9]], dtype=np.float32)
RGB = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [51, 51, 51], [0, 0, 0], [255, 255, 255]])
# A quarter turn about z, then a shift by (10, 20, 30): x' = -y + 10, y' = x + 20, z' = z + 30.
MATRIX = np.array([[0, -1, 0, 10], [1, 0, 0, 20], [0, 0, 1, 30], [0, 0, 0, 1]], dtype=np.float64)


def _aligned(xyz: np.ndarray) -> np.ndarray:
    return np.stack([-xyz[:, 1] + 10, xyz[:, 0] + 20, xyz[:, 2] + 30], axis=1)


def _write_mmdet3d_scene(root: Path, scene: str = "scene0000_00", labels: int = 6) -> Path:
    np.save(root / f"{scene}_vert.npy", np.concatenate([XYZ, RGB], axis=1).astype(np.float32))
    np.save(root / f"{scene}_ins_label.npy", np.array([1, 1, 1, 2, 2, 0][:labels], np.uint32))
    np.save(root / f"{scene}_sem_label.npy", np.array([5, 5, 5, 1, 1, 0], np.uint32))
    # The chair's box in the aligned frame, by hand: x' in [-3+10, -1+10], y' in [21, 22], z' in [30, 31].
    np.save(root / f"{scene}_aligned_bbox.npy", np.array([[8.0, 21.5, 30.5, 2.0, 1.0, 1.0, 5.0]]))
    np.save(root / f"{scene}_unaligned_bbox.npy", np.array([[1.5, 2.0, 0.5, 1.0, 2.0, 1.0, 5.0]]))
    np.save(root / f"{scene}_axis_align_matrix.npy", MATRIX)
    return root


def test_scene_loads_aligned_with_colours_in_0_1(tmp_path):
    scene = load_scannet_scene(_write_mmdet3d_scene(tmp_path), "scene0000_00")
    np.testing.assert_allclose(scene.points[:, :3], _aligned(XYZ))
    np.testing.assert_allclose(scene.points[:, 3:], RGB / 255.0, rtol=1e-6)
    np.testing.assert_allclose(scene.boxes, [[8.0, 21.5, 30.5, 2.0, 1.0, 1.0]])
    assert scene.box_classes.tolist() == [5]
    # Object 0 is vertices 0-2: the extent in the aligned frame is the published box.
    np.testing.assert_allclose(scene.instance_box(0), scene.boxes[0])
    # Object 1 (the wall) has no box row, but its vertices give its box.
    np.testing.assert_allclose(scene.instance_box(1), [4.5, 25.0, 31.0, 1.0, 0.0, 2.0])
    with pytest.raises(DataError, match="no vertex of object 7"):
        scene.instance_box(7)


def test_vertex_label_count_mismatch_names_both_files(tmp_path):
    _write_mmdet3d_scene(tmp_path, labels=5)
    with pytest.raises(DataError) as info:
        check_scannet_scene(tmp_path, "scene0000_00")
    message = str(info.value)
    assert info.value.reason == "scannet_count_mismatch"
    assert "scene0000_00_ins_label.npy" in message and "scene0000_00_vert.npy" in message
    assert "(5,)" in message and "6 vertices" in message


def _scan2inst(root: Path, samples: list[dict]) -> Path:
    path = root / "scan2inst_train.json"
    path.write_text(json.dumps(samples), encoding="utf-8")
    return path


def _conversation(question: str, answer: str) -> list[dict]:
    return [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]


def test_scan2inst_samples_read_mmdet3d_scenes(tmp_path, tokenizer_path):
    _write_mmdet3d_scene(tmp_path)
    ann = _scan2inst(
        tmp_path,
        [
            {
                "scene_id": "scene0000_00",
                "object_id": 0,
                "object_name": "chair",
                "task_type": "classification3d",
                "conversations": _conversation("What is this object?", "A chair."),
            },
            {
                "scene_id": "scene0000_00",
                "task_type": "VQA3D",
                "conversations": _conversation("How many chairs are there?", "One."),
            },
        ],
    )
    ds = InstructionDataset(
        str(ann), tokenizer=tokenizer_path, point_root=str(tmp_path), add_missing_placeholder=True
    )
    classify, vqa = ds[0], ds[1]
    assert classify["data_sample"]["task_type"] == "classification"
    assert vqa["data_sample"]["task_type"] == "vqa"
    assert vqa["data_sample"]["extra"]["source_task"] == "VQA3D"
    item = classify["point_clouds"][0]
    assert item["use_instance_boxes"] and item["scene_id"] == "scene0000_00"
    np.testing.assert_allclose(item["boxes"].numpy(), [[8.0, 21.5, 30.5, 2.0, 1.0, 1.0]])
    np.testing.assert_allclose(item["points"][:, :3].numpy(), _aligned(XYZ))
    scene_item = vqa["point_clouds"][0]
    assert not scene_item["use_instance_boxes"]
    np.testing.assert_allclose(scene_item["boxes"].numpy(), [[8.0, 21.5, 30.5, 2.0, 1.0, 1.0]])


def test_scan2inst_object_without_vertices_is_a_located_error(tmp_path, tokenizer_path):
    _write_mmdet3d_scene(tmp_path)
    ann = _scan2inst(
        tmp_path,
        [
            {
                "scene_id": "scene0000_00",
                "object_id": 4,
                "object_name": "table",
                "task_type": "description3d",
                "conversations": _conversation("Describe the object.", "A table."),
            }
        ],
    )
    with pytest.raises(DataError, match=r"scan2inst_train.json:#0.*object_id' 4"):
        InstructionDataset(
            str(ann),
            tokenizer=tokenizer_path,
            point_root=str(tmp_path),
            add_missing_placeholder=True,
        )


# --------------------------------------------------------------------------- raw scans
LABEL_MAP = "id\traw_category\tcategory\tcount\tnyu40id\tnyu40class\n1\tchair\tchair\t1\t5\tchair\n2\twall\twall\t1\t1\twall\n"


def _write_raw_scan(root: Path, name: str = "scene0000_00") -> Path:
    scan = root / "scans" / name
    scan.mkdir(parents=True)
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment made by hand\n"
        f"element vertex {len(XYZ)}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty uchar alpha\n"
        "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
    )
    body = b"".join(
        struct.pack("<3f4B", *xyz, *rgb, 255) for xyz, rgb in zip(XYZ.tolist(), RGB.tolist())
    )
    face = struct.pack("<B3i", 3, 0, 1, 2)
    (scan / f"{name}_vh_clean_2.ply").write_bytes(header.encode() + body + face)
    # Segments: 10 = vertices 0-1, 11 = vertex 2, 12 = vertices 3-4, 13 = vertex 5.
    segs = {"sceneId": name, "segIndices": [10, 10, 11, 12, 12, 13]}
    (scan / f"{name}_vh_clean_2.0.010000.segs.json").write_text(json.dumps(segs))
    groups = [
        {"id": 0, "objectId": 0, "segments": [10, 11], "label": "chair"},
        {"id": 1, "objectId": 1, "segments": [12], "label": "wall"},
    ]
    (scan / f"{name}.aggregation.json").write_text(json.dumps({"segGroups": groups}))
    flat = " ".join(str(v) for v in MATRIX.reshape(-1).tolist())
    (scan / f"{name}.txt").write_text(f"axisAlignment = {flat}\ncolorHeight = 968\n")
    (root / "scannetv2-labels.combined.tsv").write_text(LABEL_MAP)
    return scan


def test_ply_reader_reads_scannet_vertices(tmp_path):
    scan = _write_raw_scan(tmp_path)
    vertices = read_ply_vertices(scan / "scene0000_00_vh_clean_2.ply")
    assert vertices.dtype.names == ("x", "y", "z", "red", "green", "blue", "alpha")
    np.testing.assert_array_equal(vertices["y"], XYZ[:, 1])
    assert vertices["red"].tolist() == RGB[:, 0].tolist()


def test_raw_scan_exports_the_mmdet3d_files(tmp_path):
    scan = _write_raw_scan(tmp_path)
    out = tmp_path / "scannet_instance_data"
    export_scan(scan, out, tmp_path / "scannetv2-labels.combined.tsv")
    vert = np.load(out / "scene0000_00_vert.npy")
    assert vert.dtype == np.float32
    np.testing.assert_array_equal(vert, np.concatenate([XYZ, RGB], axis=1))
    assert np.load(out / "scene0000_00_ins_label.npy").tolist() == [1, 1, 1, 2, 2, 0]
    assert np.load(out / "scene0000_00_sem_label.npy").tolist() == [5, 5, 5, 1, 1, 0]
    assert np.load(out / "scene0000_00_ins_label.npy").dtype == np.uint32
    # Only the chair is one of the 18 detection classes; the wall's box is dropped.
    np.testing.assert_allclose(
        np.load(out / "scene0000_00_aligned_bbox.npy"), [[8.0, 21.5, 30.5, 2.0, 1.0, 1.0, 5.0]]
    )
    np.testing.assert_allclose(
        np.load(out / "scene0000_00_unaligned_bbox.npy"), [[1.5, 2.0, 0.5, 1.0, 2.0, 1.0, 5.0]]
    )
    np.testing.assert_array_equal(np.load(out / "scene0000_00_axis_align_matrix.npy"), MATRIX)
    # And the exported scene reads back as the hand-written one does.
    scene = load_scannet_scene(out, "scene0000_00")
    np.testing.assert_allclose(scene.instance_box(0), scene.boxes[0])


def test_converter_tool_writes_every_scan(tmp_path):
    _write_raw_scan(tmp_path, "scene0000_00")
    _write_raw_scan(tmp_path, "scene0001_00")
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "data" / "scannet_to_mmdet3d.py"),
            str(tmp_path / "scans"),
            str(out),
            "--label-map",
            str(tmp_path / "scannetv2-labels.combined.tsv"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.glob("*_vert.npy")) == [
        "scene0000_00_vert.npy",
        "scene0001_00_vert.npy",
    ]


def test_truncated_ply_is_a_named_error(tmp_path):
    scan = _write_raw_scan(tmp_path)
    ply = scan / "scene0000_00_vh_clean_2.ply"
    ply.write_bytes(ply.read_bytes()[:-40])
    with pytest.raises(
        DataError, match=r"scene0000_00_vh_clean_2\.ply.*ends inside the vertex data"
    ):
        read_ply_vertices(ply)
