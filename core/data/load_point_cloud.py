"""Transform: load the point cloud and instance boxes of a 3D instruction sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from octavius.data.errors import DataError
from octavius.data.lamm_features import read_object_features, read_scene_features
from octavius.data.point_io import load_boxes, load_points
from octavius.data.scannet_scene import SCANNET_SUFFIXES, load_scannet_scene
from octavius.registry import TRANSFORMS

__all__ = ["LoadPointCloud"]


@TRANSFORMS.register_module()
class LoadPointCloud:
    """Load ``results['point_path']`` (N×6) and its boxes into ``results['point_clouds']``.

    Produces the point-cloud encoder item of the model contract::

        dict(points=(N, 6) float32 tensor, boxes=(M, 6) float32 tensor or None,
             scene_id=str, use_instance_boxes=bool)

    A sample about one instance (``object_id`` set: captioning or classifying a given object)
    gets that instance's box alone and ``use_instance_boxes=True``; a scene-level sample gets all
    the scene's boxes (``None`` when there is no box file) and ``use_instance_boxes=False``, so
    Object-As-Scene takes its RoIs from its RoI source.

    Scenes in mmdet3d's ScanNet layout (``results['point_format'] == 'scannet'``) are read with
    :func:`~octavius.data.scannet_scene.load_scannet_scene`: aligned points, aligned boxes, and for
    an ``object_id`` the extent of that object's labelled vertices. LAMM's precomputed features
    (``'lamm_features'``) give ``dict(roi_features=(m, d), boxes=(m, 6), scene_id=str,
    use_instance_boxes=bool)`` instead: the sample's ground-truth object alone when it names one
    (Octavius's classification and description samples), else every proposal of the scene.

    Args:
        color_range: colour scale of the files: ``"0-1"``, ``"0-255"`` or ``"auto"``.
        allow_xyz: accept ``(N, 3)`` xyz-only point files (colours 0).
    """

    def __init__(self, color_range: str = "auto", allow_xyz: bool = False) -> None:
        if color_range not in ("0-1", "0-255", "auto"):
            raise ValueError(
                f"LoadPointCloud: color_range must be '0-1', '0-255' or 'auto', got {color_range!r}."
            )
        self.color_range = color_range
        self.allow_xyz = allow_xyz

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        path = results.get("point_path")
        if path is None:
            results["point_clouds"] = []
            return results
        object_id = results.get("object_id")
        if results.get("point_format") == "lamm_features":
            results["point_clouds"] = [self._lamm_features(results)]
            return results
        if results.get("point_format") == "scannet":
            points, boxes = self._scannet(path, object_id)
        else:
            points, boxes = load_points(path, self.color_range, self.allow_xyz), None
            if results.get("boxes") is not None:
                rows = [row[:6] for row in results["boxes"]]
                boxes = np.asarray(rows, dtype=np.float32).reshape(-1, 6)
            elif results.get("boxes_path") is not None:
                boxes = load_boxes(results["boxes_path"])
            if object_id is not None:
                boxes = self._instance_row(boxes, object_id)
        results["point_clouds"] = [
            {
                "points": torch.from_numpy(points),
                "boxes": None if boxes is None else torch.from_numpy(np.ascontiguousarray(boxes)),
                "scene_id": results.get("scene_id") or "",
                "use_instance_boxes": object_id is not None,
            }
        ]
        return results

    @staticmethod
    def _lamm_features(results: dict[str, Any]) -> dict[str, Any]:
        """LAMM's features: the sample's object alone when it names one, else every proposal."""
        root, scene_id = results["point_path"], results["scene_id"]
        object_id = results.get("object_id")
        if object_id is not None:
            found = read_object_features(root, scene_id, object_id, results["object_name"])
        else:
            found = read_scene_features(root, scene_id)
        return {
            "roi_features": torch.from_numpy(found.features),
            "boxes": torch.from_numpy(found.boxes),
            "scene_id": scene_id,
            "use_instance_boxes": object_id is not None,
        }

    @staticmethod
    def _instance_row(boxes: np.ndarray | None, object_id: int) -> np.ndarray:
        if boxes is None or object_id >= len(boxes):
            count = 0 if boxes is None else len(boxes)
            raise DataError(
                "bad_object_id",
                f"'object_id' {object_id} is out of range: the scene has {count} boxes.",
            )
        return boxes[object_id : object_id + 1]

    def _scannet(self, path: str, object_id: int | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Points and boxes of an mmdet3d ScanNet scene; the object's box alone for ``object_id``."""
        file = Path(path)
        scene_id = file.name[: -len(SCANNET_SUFFIXES["vertices"])]
        scene = load_scannet_scene(file.parent, scene_id, self.color_range)
        if object_id is not None:
            return scene.points, scene.instance_box(object_id)[None]
        return scene.points, scene.boxes

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(color_range={self.color_range!r}, allow_xyz={self.allow_xyz})"
        )
