"""Ground-truth RoIs: the instance boxes that come with the sample."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from octavius.models.base_roi_source import BaseRoISource
from octavius.registry import ROI_SOURCES

__all__ = ["GTBoxRoISource"]


@ROI_SOURCES.register_module()
class GTBoxRoISource(BaseRoISource):
    """RoIs read from the sample's own instance boxes (``item['boxes']``).

    An oracle for Octavius §3.2.2 step 1 (which uses FCAF3D detections): useful on synthetic data,
    for ablations and where annotated boxes are part of the input. A sample with ``boxes=None``
    yields no RoIs unless ``require_boxes`` is set.

    Args:
        require_boxes: raise when a sample carries no ``boxes`` instead of returning none.
    """

    def __init__(self, require_boxes: bool = False) -> None:
        self.require_boxes = require_boxes

    def get_rois(self, item: Mapping[str, Any]) -> Tensor:
        """Return ``item['boxes']`` as ``(m, 6)`` (``(0, 6)`` when absent)."""
        boxes = item.get("boxes")
        if boxes is None:
            if self.require_boxes:
                raise ValueError(
                    f"GTBoxRoISource(require_boxes=True): sample of scene {item.get('scene_id')!r}"
                    " has no 'boxes'."
                )
            return torch.zeros(0, 6)
        return torch.as_tensor(boxes)

    @classmethod
    def example_config(cls, root: str | os.PathLike) -> dict[str, Any]:
        """No files needed; ``root`` unused."""
        return {}

    def __repr__(self) -> str:
        return f"GTBoxRoISource(require_boxes={self.require_boxes})"
