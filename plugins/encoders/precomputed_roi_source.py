"""Precomputed RoIs: detector boxes read from one file per scene."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from octavius.models.base_roi_source import BaseRoISource
from octavius.registry import ROI_SOURCES

__all__ = ["PrecomputedRoISource"]


@ROI_SOURCES.register_module()
class PrecomputedRoISource(BaseRoISource):
    """RoIs of Octavius §3.2.2 step 1, detected once offline (e.g. FCAF3D) and read per scene.

    File format: ``<root>/<scene_id>.npy`` (the name follows ``filename``), a float ``.npy`` array
    of shape ``(m, 7)``: ``cx, cy, cz, dx, dy, dz, score`` per row — axis-aligned box centre and
    full size in the point cloud's coordinates, then the detection score. ``m`` may be 0 (shape
    ``(0, 7)``). Rows need not be sorted: boxes with ``score >= score_threshold`` are returned by
    decreasing score (ties keep file order), at most ``max_rois`` of them.

    Args:
        root: directory of the files.
        score_threshold: drop boxes scoring below this.
        max_rois: keep at most this many of the best boxes; None keeps all.
        filename: file name pattern inside ``root``, formatted with ``scene_id``.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        score_threshold: float = 0.0,
        max_rois: int | None = None,
        filename: str = "{scene_id}.npy",
    ) -> None:
        if max_rois is not None and max_rois < 1:
            raise ValueError(f"PrecomputedRoISource max_rois must be >= 1 or None, got {max_rois}.")
        if "{scene_id}" not in filename:
            raise ValueError(
                f"PrecomputedRoISource filename must contain '{{scene_id}}', got {filename!r}."
            )
        self.root = Path(root)
        self.score_threshold = score_threshold
        self.max_rois = max_rois
        self.filename = filename

    def path_for(self, scene_id: str) -> Path:
        """The RoI file of ``scene_id``."""
        return self.root / self.filename.format(scene_id=scene_id)

    def get_rois(self, item: Mapping[str, Any]) -> Tensor:
        """Read, filter and sort the boxes of ``item['scene_id']``."""
        scene_id = item.get("scene_id")
        if not scene_id:
            raise ValueError(
                "PrecomputedRoISource needs the sample's 'scene_id' to find its RoI file."
            )
        path = self.path_for(str(scene_id))
        if not path.is_file():
            raise FileNotFoundError(
                f"No precomputed RoI file for scene {scene_id!r}: {path} does not exist"
                f" (PrecomputedRoISource root={str(self.root)!r}). Write it with"
                " tools/data/extract_rois.py or point 'root' at the right directory."
            )
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise ValueError(f"RoI file {path} is not a readable .npy array: {err}") from None
        if array.ndim != 2 or array.shape[1] != 7 or not np.issubdtype(array.dtype, np.number):
            raise ValueError(
                f"RoI file {path} holds a {array.dtype} array of shape {array.shape}; expected a"
                " float array (m, 7) of rows cx, cy, cz, dx, dy, dz, score."
            )
        rois = torch.from_numpy(array.astype(np.float32))
        rois = rois[rois[:, 6] >= self.score_threshold]
        order = torch.argsort(rois[:, 6], descending=True, stable=True)
        return rois[order[: self.max_rois], :6]

    @classmethod
    def example_config(cls, root: str | os.PathLike) -> dict[str, Any]:
        """Write ``<root>/example_scene.npy`` with three boxes and return a config reading it."""
        boxes = np.array(
            [
                [0.0, 0.0, 0.5, 1.0, 1.0, 1.0, 0.9],
                [2.0, 0.0, 0.5, 1.0, 1.0, 1.0, 0.2],
                [0.0, 2.0, 0.5, 1.0, 1.0, 1.0, 0.6],
            ],
            dtype=np.float32,
        )
        np.save(Path(root) / "example_scene.npy", boxes)
        return dict(root=str(root), score_threshold=0.1)

    def __repr__(self) -> str:
        return (
            f"PrecomputedRoISource(root={str(self.root)!r}, score_threshold={self.score_threshold},"
            f" max_rois={self.max_rois})"
        )
