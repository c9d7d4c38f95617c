"""Finding and checking the point-cloud files of a 3D instruction sample.

A sample names its scene with ``scene_id`` (LAMM 3D, Scan2Inst) or its file with ``point_cloud`` /
``pcl`` (LAMM's ShapeNet and 3RScan clouds). Under ``point_root`` a scene is either

- ``<scene_id>.npy`` (N×6) with optional instance boxes ``<scene_id><box_suffix>``; ``object_id``
  is then a row of the box file; or
- the files of mmdet3d's ScanNet preparation (``<scene_id>_vert.npy``, ``_aligned_bbox.npy``,
  ``_ins_label.npy``, … — :mod:`octavius.data.scannet_scene`), found when there is no
  ``<scene_id>.npy``; ``object_id`` is then the ScanNet object id (ScanRefer / Scan2Cap / Scan2Inst
  numbering), whose box is the extent of its labelled vertices.

With ``feature_root`` set, scenes are LAMM's precomputed object features instead
(:mod:`octavius.data.lamm_features`): the scene's proposals, or for a sample with ``object_id``
and ``object_name`` that ground-truth object alone, as Octavius's encoder uses them
(OpenGVLab/LAMM ``src/model/Octavius/octavius.py``, ``encode_pcl``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from octavius.data.errors import DataError
from octavius.data.lamm_features import GT_SOURCE, SCENE_SOURCE, feature_paths
from octavius.data.point_io import check_boxes_file, check_points_file
from octavius.data.scannet_scene import (
    SCANNET_SUFFIXES,
    check_scannet_scene,
    is_scannet_scene,
    scannet_instance_ids,
)

__all__ = ["SceneRef", "SceneResolver"]

_POINT_KEYS = ("point_cloud", "pcl")


@dataclass(frozen=True)
class SceneRef:
    """Where a sample's point cloud is: ``point_format`` ``"npy"``, ``"scannet"`` or
    ``"lamm_features"`` (then ``point_path`` is the feature root)."""

    point_path: str | None = None
    boxes_path: str | None = None
    scene_id: str | None = None
    object_id: int | None = None
    point_format: str = "npy"
    object_name: str | None = None


@dataclass
class SceneResolver:
    """Resolves and (with ``check_files``) checks the point-cloud files of raw samples.

    Args:
        point_root: the directory scene files are in.
        box_suffix: file-name suffix of a scene's instance boxes (the ``.npy`` layout).
        allow_xyz: accept ``(N, 3)`` xyz-only point files (colours then 0).
        check_files: check existence and array shapes (headers only) while resolving.
        feature_root: read scenes as LAMM's precomputed features under this root.
    """

    point_root: Path
    box_suffix: str = "_boxes.npy"
    allow_xyz: bool = False
    check_files: bool = True
    feature_root: Path | None = None

    def resolve(self, raw: Any) -> SceneRef:
        """The :class:`SceneRef` of one raw sample (empty for a sample without a point cloud).

        Raises:
            DataError: a malformed ``object_id``, a missing or misshapen file, an ``object_id``
                the scene does not have.
        """
        explicit = next((raw[k] for k in _POINT_KEYS if raw.get(k)), None)
        scene_id = raw.get("scene_id")
        object_id = raw.get("object_id")
        if explicit is None and scene_id is None:
            if object_id is not None:
                raise DataError("malformed_sample", "'object_id' is given without 'scene_id'.")
            return SceneRef()
        scene_id = str(scene_id) if scene_id is not None else Path(str(explicit)).stem
        if object_id is not None and (
            isinstance(object_id, bool) or not isinstance(object_id, int) or object_id < 0
        ):
            raise DataError(
                "malformed_sample",
                f"'object_id' must be a non-negative integer, got {object_id!r}.",
            )
        if self.feature_root is not None and explicit is None:
            return self._features(scene_id, object_id, raw.get("object_name"))
        if (
            explicit is None
            and not (self.point_root / f"{scene_id}.npy").is_file()
            and is_scannet_scene(self.point_root, scene_id)
        ):
            return self._scannet(scene_id, object_id)
        point_path = self.point_root / (
            str(explicit) if explicit is not None else f"{scene_id}.npy"
        )
        boxes_path = self.point_root / f"{scene_id}{self.box_suffix}"
        has_boxes = boxes_path.is_file()
        if self.check_files:
            check_points_file(point_path, allow_xyz=self.allow_xyz)
            num_boxes = check_boxes_file(boxes_path) if has_boxes else None
            if raw.get("boxes") is not None:
                num_boxes = _inline_boxes(raw["boxes"])
            if object_id is not None:
                if num_boxes is None:
                    raise DataError(
                        "missing_boxes",
                        f"'object_id' {object_id} needs instance boxes: no {boxes_path} and no 'boxes' field.",
                    )
                if object_id >= num_boxes:
                    raise DataError(
                        "bad_object_id",
                        f"'object_id' {object_id} is out of range: the scene has {num_boxes} instance boxes.",
                    )
        return SceneRef(
            str(point_path), str(boxes_path) if has_boxes else None, scene_id, object_id, "npy"
        )

    def _scannet(self, scene_id: str, object_id: int | None) -> SceneRef:
        root = self.point_root
        boxes_path = root / f"{scene_id}{SCANNET_SUFFIXES['aligned_boxes']}"
        if self.check_files:
            check_scannet_scene(root, scene_id)
            if object_id is not None:
                labels_path = root / f"{scene_id}{SCANNET_SUFFIXES['instance_labels']}"
                present = scannet_instance_ids(root, scene_id)
                if present is None:
                    raise DataError(
                        "missing_instance_labels",
                        f"'object_id' {object_id} needs the scene's instance labels: no {labels_path}.",
                    )
                if object_id not in present:
                    shown = sorted(present)[:20]
                    raise DataError(
                        "bad_object_id",
                        f"'object_id' {object_id} has no vertex in {labels_path} (label "
                        f"{object_id + 1}); the scene's object ids are {shown}.",
                    )
        return SceneRef(
            str(root / f"{scene_id}{SCANNET_SUFFIXES['vertices']}"),
            str(boxes_path) if boxes_path.is_file() else None,
            scene_id,
            object_id,
            "scannet",
        )

    def _features(self, scene_id: str, object_id: int | None, name: Any) -> SceneRef:
        root = Path(self.feature_root)
        if object_id is not None and not name:
            raise DataError(
                "malformed_sample",
                f"'object_id' {object_id} needs 'object_name' to find LAMM's feature file "
                f"{GT_SOURCE}/ins_pc_feat/{scene_id}/{object_id}-<object_name>.npy.",
            )
        if self.check_files:
            scene_dir = root / SCENE_SOURCE / "ins_pc_feat" / scene_id
            if not scene_dir.is_dir():
                raise DataError("missing_features", f"no feature directory {scene_dir}")
            if object_id is not None:
                for path in feature_paths(root, GT_SOURCE, scene_id, object_id, str(name)):
                    if not path.is_file():
                        raise DataError("missing_features", f"feature file not found: {path}")
        return SceneRef(
            str(root),
            None,
            scene_id,
            object_id,
            "lamm_features",
            None if name is None else str(name),
        )


def _inline_boxes(boxes: Any) -> int:
    if not isinstance(boxes, list) or not all(
        isinstance(b, list) and len(b) in (6, 7) for b in boxes
    ):
        raise DataError("bad_box_shape", "'boxes' must be a list of [cx, cy, cz, dx, dy, dz] rows.")
    for index, box in enumerate(boxes):
        if not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in box
        ):
            raise DataError(
                "bad_box_value",
                f"'boxes'[{index}] = {box} holds a non-finite or non-number value.",
            )
        if any(v < 0 for v in box[3:6]):
            raise DataError(
                "bad_box_value",
                f"'boxes'[{index}] = {box} has a negative size; dx, dy, dz must be >= 0.",
            )
    return len(boxes)
