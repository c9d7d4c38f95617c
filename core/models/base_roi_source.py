"""RoI sources: where Object-As-Scene gets its regions of interest (Octavius §3.2.2, step 1).

A RoI source maps one point-cloud sample to axis-aligned boxes ``(m, 6)`` =
``[cx, cy, cz, dx, dy, dz]`` (centre and full size, the scene's units). ``m`` may be 0: the encoder
then falls back to one whole-scene RoI. Sources are registered in ``ROI_SOURCES`` and built from a
config dict with :func:`build_roi_source`; the registry key is the class name.

A source is a plain object, not an ``nn.Module``: a detector it may hold (FCAF3D) is frozen and
never part of the trainable model, so it stays out of the model's state dict and checkpoints. A
source that runs a network moves the sample's points to its own device.

Subclasses implement :meth:`BaseRoISource.get_rois`; calling the source validates what it returns,
so a broken source fails with its own name and the scene id instead of deep inside attention.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from octavius.registry import ROI_SOURCES

__all__ = ["BaseRoISource", "build_roi_source", "check_boxes"]


def check_boxes(boxes: Any, source: str, scene_id: Any = None) -> Tensor:
    """Validate RoI boxes and return them as a float32 ``(m, 6)`` tensor.

    Args:
        boxes: a tensor or array-like of shape ``(m, 6)``.
        source: name of whoever produced the boxes, for the error message.
        scene_id: the sample's scene id, for the error message.

    Raises:
        ValueError: when the boxes are not ``(m, 6)``, are not finite or have a negative size.
    """
    where = f"{source} (scene {scene_id!r})"
    tensor = boxes if isinstance(boxes, Tensor) else torch.as_tensor(boxes)
    if tensor.dim() != 2 or tensor.shape[1] != 6:
        raise ValueError(
            f"{where} returned boxes of shape {tuple(tensor.shape)}; expected (m, 6) rows of"
            " [cx, cy, cz, dx, dy, dz]."
        )
    tensor = tensor.float()
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{where} returned boxes with NaN or infinite values.")
    if (tensor[:, 3:] < 0).any():
        raise ValueError(f"{where} returned boxes with a negative size (columns dx, dy, dz).")
    return tensor


class BaseRoISource(ABC):
    """Base class of RoI sources (registered in ``ROI_SOURCES``).

    Calling a source returns validated boxes ``(m, 6)`` float32 ``[cx, cy, cz, dx, dy, dz]``,
    ordered best first (by detection score where there is one): the encoder keeps the first
    ``num_rois`` boxes.
    """

    def __call__(self, item: Mapping[str, Any]) -> Tensor:
        """Return the RoIs of one sample.

        Args:
            item: a point-cloud sample: ``dict(points=(N, 6) xyz+rgb, boxes=(M, 6) or None,
                scene_id=str, use_instance_boxes=bool)``.

        Returns:
            ``(m, 6)`` float32 boxes, ``m`` possibly 0.
        """
        return check_boxes(self.get_rois(item), type(self).__name__, item.get("scene_id"))

    @abstractmethod
    def get_rois(self, item: Mapping[str, Any]) -> Tensor:
        """Produce the boxes of one sample (validated by :meth:`__call__`)."""

    @classmethod
    def example_config(cls, root: str | os.PathLike) -> dict[str, Any]:
        """Keyword arguments of a small working instance, for tests and the quickstart.

        Args:
            root: a writable directory where the source may write files it needs (for a sample
                whose ``scene_id`` is ``"example_scene"``).
        """
        raise NotImplementedError(f"{cls.__name__} does not define example_config().")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def build_roi_source(cfg: Mapping[str, Any] | BaseRoISource) -> BaseRoISource:
    """Build a RoI source from a config dict (``type`` = registered class name).

    Args:
        cfg: ``dict(type='PrecomputedRoISource', root=...)``, or an already built source.

    Raises:
        TypeError: when the config builds something that is not a :class:`BaseRoISource`.
    """
    if isinstance(cfg, BaseRoISource):
        return cfg
    if not isinstance(cfg, Mapping) or "type" not in cfg:
        raise TypeError(
            f"A RoI source config must be a dict with a 'type' key naming a class in ROI_SOURCES,"
            f" got {cfg!r}."
        )
    source = ROI_SOURCES.build(dict(cfg))
    if not isinstance(source, BaseRoISource):
        raise TypeError(
            f"ROI_SOURCES type {cfg['type']!r} built a {type(source).__name__}, which is not a"
            " BaseRoISource subclass."
        )
    return source
