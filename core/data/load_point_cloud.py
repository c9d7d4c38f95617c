"""Transform: load the point cloud and instance boxes of a 3D instruction sample."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from octavius.data.errors import DataError
from octavius.data.point_io import load_boxes, load_points
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

    Args:
        color_range: colour scale of the files: ``"0-1"``, ``"0-255"`` or ``"auto"``.
    """

    def __init__(self, color_range: str = "auto") -> None:
        if color_range not in ("0-1", "0-255", "auto"):
            raise ValueError(
                f"LoadPointCloud: color_range must be '0-1', '0-255' or 'auto', got {color_range!r}."
            )
        self.color_range = color_range

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        path = results.get("point_path")
        if path is None:
            results["point_clouds"] = []
            return results
        points = load_points(path, self.color_range)
        boxes = None
        if results.get("boxes") is not None:
            boxes = np.asarray([row[:6] for row in results["boxes"]], dtype=np.float32).reshape(
                -1, 6
            )
        elif results.get("boxes_path") is not None:
            boxes = load_boxes(results["boxes_path"])
        object_id = results.get("object_id")
        if object_id is not None:
            if boxes is None or object_id >= len(boxes):
                count = 0 if boxes is None else len(boxes)
                raise DataError(
                    "bad_object_id",
                    f"'object_id' {object_id} is out of range: the scene has {count} boxes.",
                )
            boxes = boxes[object_id : object_id + 1]
        results["point_clouds"] = [
            {
                "points": torch.from_numpy(points),
                "boxes": None if boxes is None else torch.from_numpy(np.ascontiguousarray(boxes)),
                "scene_id": results.get("scene_id") or "",
                "use_instance_boxes": object_id is not None,
            }
        ]
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(color_range={self.color_range!r})"
