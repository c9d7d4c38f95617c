"""ScanNet scenes as mmdet3d's ScanNet preparation writes them (``batch_load_scannet_data.py``).

One scene ``<scene_id>`` is a set of ``.npy`` files in one directory::

    <scene_id>_vert.npy               (N, 6) float32  x, y, z (scanner frame), r, g, b in 0-255
    <scene_id>_sem_label.npy          (N,)   uint32   NYU40 class id per vertex
    <scene_id>_ins_label.npy          (N,)   uint32   ScanNet objectId + 1 per vertex, 0 = none
    <scene_id>_aligned_bbox.npy       (K, 7) float64  cx, cy, cz, dx, dy, dz, NYU40 id (aligned frame)
    <scene_id>_unaligned_bbox.npy     (K, 7) float64  the same boxes in the scanner frame
    <scene_id>_axis_align_matrix.npy  (4, 4) float64  scanner frame → axis-aligned frame

Test scans have ``_vert.npy`` alone. The boxes kept by mmdet3d are those of its 18 detection
classes, so box rows are not object ids; the box of ScanNet object ``object_id`` (the ``object_id``
of ScanRefer / Scan2Cap / Scan2Inst samples) is the extent of the vertices labelled
``object_id + 1`` — the same min/max mmdet3d's ``extract_bbox`` takes. Points are returned in the
aligned frame (mmdet3d's ``GlobalAlignment``), where the aligned boxes live.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from octavius.data.errors import DataError

__all__ = [
    "SCANNET_SUFFIXES",
    "ScanNetScene",
    "check_scannet_scene",
    "is_scannet_scene",
    "load_scannet_scene",
    "scannet_instance_ids",
]

#: File-name suffixes of one scene, as ``batch_load_scannet_data.py`` writes them.
SCANNET_SUFFIXES = {
    "vertices": "_vert.npy",
    "semantic_labels": "_sem_label.npy",
    "instance_labels": "_ins_label.npy",
    "aligned_boxes": "_aligned_bbox.npy",
    "unaligned_boxes": "_unaligned_bbox.npy",
    "axis_align_matrix": "_axis_align_matrix.npy",
}


def _path(root: str | Path, scene_id: str, kind: str) -> Path:
    return Path(root) / f"{scene_id}{SCANNET_SUFFIXES[kind]}"


def is_scannet_scene(root: str | Path, scene_id: str) -> bool:
    """Whether ``root`` holds ``<scene_id>_vert.npy`` (the mmdet3d layout)."""
    return _path(root, scene_id, "vertices").is_file()


def _header(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataError(
            "unreadable_point_cloud", f"cannot read {path} as a numpy array: {err}"
        ) from err


def check_scannet_scene(root: str | Path, scene_id: str) -> tuple[int, int | None]:
    """Check the shapes of one scene's files from their headers; return ``(N, K or None)``.

    Raises:
        DataError: ``missing_point_cloud``; ``bad_point_shape`` for a vertex array that is not
            ``(N, 6)``; ``scannet_count_mismatch`` when a label file has another length than the
            vertex file (both files named); ``bad_box_shape`` / ``bad_axis_matrix``.
    """
    vert_path = _path(root, scene_id, "vertices")
    if not vert_path.is_file():
        raise DataError("missing_point_cloud", f"ScanNet vertex file not found: {vert_path}")
    vertices = _header(vert_path)
    if vertices.ndim != 2 or vertices.shape[1] != 6 or vertices.shape[0] == 0:
        raise DataError(
            "bad_point_shape",
            f"{vert_path} has shape {tuple(vertices.shape)}; mmdet3d's ScanNet preparation writes "
            "(N, 6): x, y, z, r, g, b per vertex.",
        )
    count = int(vertices.shape[0])
    for kind in ("semantic_labels", "instance_labels"):
        path = _path(root, scene_id, kind)
        if not path.is_file():
            continue
        labels = _header(path)
        if labels.shape != (count,):
            raise DataError(
                "scannet_count_mismatch",
                f"{path} has shape {tuple(labels.shape)} but {vert_path} has {count} vertices; "
                f"expected ({count},), one label per vertex (re-run the ScanNet preparation for "
                f"{scene_id}).",
            )
    num_boxes = None
    box_path = _path(root, scene_id, "aligned_boxes")
    if box_path.is_file():
        boxes = _header(box_path)
        if boxes.ndim != 2 or boxes.shape[1] != 7:
            raise DataError(
                "bad_box_shape",
                f"{box_path} has shape {tuple(boxes.shape)}; expected (K, 7): cx, cy, cz, dx, dy, "
                "dz, NYU40 id.",
            )
        num_boxes = int(boxes.shape[0])
    matrix_path = _path(root, scene_id, "axis_align_matrix")
    if matrix_path.is_file() and _header(matrix_path).shape != (4, 4):
        raise DataError(
            "bad_axis_matrix",
            f"{matrix_path} has shape {tuple(_header(matrix_path).shape)}; expected (4, 4).",
        )
    return count, num_boxes


@lru_cache(maxsize=64)
def _instance_ids(path: str, mtime: float) -> frozenset[int]:
    labels = np.load(path, allow_pickle=False)
    return frozenset(int(i) - 1 for i in np.unique(labels) if i > 0)


def scannet_instance_ids(root: str | Path, scene_id: str) -> frozenset[int] | None:
    """The ScanNet object ids present in a scene's instance labels (None without the file)."""
    path = _path(root, scene_id, "instance_labels")
    if not path.is_file():
        return None
    return _instance_ids(str(path), path.stat().st_mtime)


@dataclass(frozen=True)
class ScanNetScene:
    """One scene in the axis-aligned frame.

    Attributes:
        points: ``(N, 6)`` float32, aligned xyz and colours in 0–1.
        boxes: ``(K, 6)`` float32 aligned boxes ``cx, cy, cz, dx, dy, dz`` (None without a file).
        box_classes: ``(K,)`` NYU40 ids of the boxes (None without a box file).
        instance_labels: ``(N,)`` objectId + 1 per vertex, 0 = none (None without a file).
        semantic_labels: ``(N,)`` NYU40 id per vertex (None without a file).
    """

    scene_id: str
    points: np.ndarray
    boxes: np.ndarray | None
    box_classes: np.ndarray | None
    instance_labels: np.ndarray | None
    semantic_labels: np.ndarray | None

    def instance_box(self, object_id: int) -> np.ndarray:
        """``(6,)`` box of ScanNet object ``object_id``: the extent of its vertices.

        Raises:
            DataError: ``missing_instance_labels`` or ``bad_object_id`` (no vertex carries it).
        """
        if self.instance_labels is None:
            raise DataError(
                "missing_instance_labels",
                f"scene {self.scene_id}: 'object_id' {object_id} needs "
                f"{self.scene_id}{SCANNET_SUFFIXES['instance_labels']}.",
            )
        xyz = self.points[self.instance_labels == object_id + 1, :3]
        if not len(xyz):
            raise DataError(
                "bad_object_id",
                f"scene {self.scene_id} has no vertex of object {object_id} (instance label "
                f"{object_id + 1}).",
            )
        low, high = xyz.min(axis=0), xyz.max(axis=0)
        return np.concatenate([(low + high) / 2, high - low]).astype(np.float32)


def load_scannet_scene(root: str | Path, scene_id: str, color_range: str = "0-255") -> ScanNetScene:
    """Load one scene, align it with its axis-alignment matrix, scale colours to 0–1.

    Args:
        root: the directory of the scene files (mmdet3d's ``scannet_instance_data``).
        scene_id: e.g. ``"scene0000_00"``.
        color_range: ``"0-255"`` (what the preparation writes), ``"0-1"`` or ``"auto"``.
    """
    check_scannet_scene(root, scene_id)
    vertices = np.asarray(np.load(_path(root, scene_id, "vertices")), dtype=np.float32)
    if not np.isfinite(vertices).all():
        raise DataError(
            "bad_point_values",
            f"{_path(root, scene_id, 'vertices')} contains NaN or infinite values.",
        )
    points = vertices.copy()
    matrix_path = _path(root, scene_id, "axis_align_matrix")
    if matrix_path.is_file():
        matrix = np.load(matrix_path).astype(np.float64)
        homogeneous = np.concatenate([vertices[:, :3], np.ones((len(vertices), 1))], axis=1)
        points[:, :3] = (homogeneous @ matrix.T)[:, :3]
    if color_range == "0-255" or (color_range == "auto" and points[:, 3:].max(initial=0) > 1):
        points[:, 3:] /= 255.0
    optional = {}
    for kind in ("aligned_boxes", "instance_labels", "semantic_labels"):
        path = _path(root, scene_id, kind)
        optional[kind] = np.load(path, allow_pickle=False) if path.is_file() else None
    boxes = optional["aligned_boxes"]
    return ScanNetScene(
        scene_id=scene_id,
        points=points,
        boxes=None if boxes is None else boxes[:, :6].astype(np.float32),
        box_classes=None if boxes is None else boxes[:, 6].astype(np.int64),
        instance_labels=optional["instance_labels"],
        semantic_labels=optional["semantic_labels"],
    )
