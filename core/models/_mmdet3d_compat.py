"""Lazy access to mmdet3d (the optional ``[3d]`` extra) and the fixes it needs on this stack.

Nothing here imports mmdet3d at module import time: importing Octavius or registering its
components never touches the extra. :func:`import_mmdet3d` imports it on first use, after applying
these fixes (each idempotent, none editing installed files):

- MinkowskiEngine 0.5.4 does ``from collections import Sequence``, removed in Python 3.10: the
  name is aliased to ``collections.abc.Sequence`` before MinkowskiEngine is imported.
- FCAF3D's head calls mmcv's ``nms3d_normal`` / ``nms3d``, which exist for CUDA only. The head's
  module-level names are replaced by dispatchers that call mmcv on CUDA tensors and otherwise
  :func:`octavius.models.nms3d.nms_aligned_bev` (exact twin of ``nms3d_normal``) or mmcv's CPU
  ``nms_rotated`` on the bird's-eye-view rectangles (``nms3d`` with yaw: same rotated BEV IoU).
- mmdet's ``FocalLoss`` turns integer targets into one-hot vectors on the CPU, which fails on the
  ``-1`` background labels FCAF3D's head produces (this only matters when training the detector).
  Negative targets are mapped to ``num_classes`` first, which one-hot encodes to all zeros: the
  same meaning the CUDA kernel gives ``-1``.
- ``mmdet3d.utils.register_all_modules()`` imports datasets and metrics that need lyft/trimesh,
  which the extra does not install. Only ``mmdet3d.models`` and ``mmdet3d.structures`` are
  imported, and builds run under :func:`mmdet3d_scope` (default scope ``mmdet3d``) instead.
"""

from __future__ import annotations

import collections
import collections.abc
import contextlib
import importlib
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from octavius.errors import MissingDependencyError
from octavius.models.nms3d import nms_aligned_bev

__all__ = [
    "import_mmdet3d",
    "mmdet3d_scope",
    "nms3d_cpu",
    "nms3d_normal_cpu",
    "quiet_minkowski",
]

INSTALL_HINT = (
    "Install the optional 3D extra: `pip install octavius[3d]` together with the prebuilt mmcv"
    " and MinkowskiEngine wheels (recipe: .ci/install_3d.sh, or `make install-3d`). Without it,"
    " precompute the RoIs where the extra is installed with tools/data/extract_rois.py and read"
    " them with dict(type='PrecomputedRoISource', ...), or use ground-truth boxes."
)

_FIXED_MARK = "_octavius_fixed"


def _alias_collections_sequence() -> None:
    if not hasattr(collections, "Sequence"):
        collections.Sequence = collections.abc.Sequence  # type: ignore[attr-defined]


def import_mmdet3d(needed_by: str = "This component") -> ModuleType:
    """Import mmdet3d's models and structures, with the fixes above applied once.

    Args:
        needed_by: who needs the extra, for the error message.

    Returns:
        The ``mmdet3d`` package.

    Raises:
        MissingDependencyError: when mmdet3d, mmcv's compiled ops or MinkowskiEngine cannot be
            imported; the message names the extra and the precompute route.
    """
    _alias_collections_sequence()
    try:
        with quiet_minkowski():
            importlib.import_module("MinkowskiEngine")
            importlib.import_module("mmcv.ops")
            mmdet3d = importlib.import_module("mmdet3d")
            importlib.import_module("mmdet3d.models")
            importlib.import_module("mmdet3d.structures")
    except ImportError as error:
        raise MissingDependencyError(
            f"{needed_by} needs mmdet3d, which could not be imported ({error}). {INSTALL_HINT}",
            extra="3d",
            module="mmdet3d",
        ) from error
    _patch_fcaf3d_nms()
    _patch_focal_loss()
    return mmdet3d


@contextlib.contextmanager
def quiet_minkowski() -> Iterator[None]:
    """Silence MinkowskiEngine's known, harmless warnings.

    It warns on import that it was built without CUDA (intended here), and it instantiates
    autograd Functions, which torch deprecates, on every layer construction and call.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*CPU_ONLY.*")
        warnings.filterwarnings("ignore", ".*should not be instantiated", DeprecationWarning)
        yield


@contextlib.contextmanager
def mmdet3d_scope() -> Iterator[None]:
    """Build and run mmdet3d modules with default scope ``mmdet3d``, restoring the previous one.

    Unlike ``register_all_modules()`` this does not leave ``mmdet3d`` as the global default scope,
    so Octavius' own builds (scope ``octavius``) are unaffected afterwards.
    """
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope("mmdet3d"):
        yield


def nms3d_normal_cpu(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Same contract as ``mmcv.ops.nms3d_normal``; runs on any device (BEV IoU, yaw ignored)."""
    return nms_aligned_bev(boxes, scores, iou_threshold)


def nms3d_cpu(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Same contract as ``mmcv.ops.nms3d``: rotated BEV IoU NMS of ``(n, 7)`` yawed boxes.

    Uses mmcv's CPU ``nms_rotated`` on ``[cx, cy, dx, dy, yaw]``. IoU does not depend on the
    rotation sense (mirroring both boxes keeps their overlap), so the angle convention matches.
    """
    from mmcv.ops import nms_rotated

    if len(boxes) == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = scores.argsort(descending=True, stable=True)
    bev = boxes[order][:, [0, 1, 3, 4, 6]].contiguous()
    _, keep = nms_rotated(bev, scores[order].contiguous(), iou_threshold)
    return order[keep]


def _dispatch(cuda_op: Any, cpu_op: Any) -> Any:
    def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
        if boxes.is_cuda:
            return cuda_op(boxes, scores, iou_threshold)
        return cpu_op(boxes, scores, iou_threshold)

    setattr(nms, _FIXED_MARK, True)
    nms.__name__ = nms.__qualname__ = cpu_op.__name__
    return nms


def _patch_fcaf3d_nms() -> None:
    head = importlib.import_module("mmdet3d.models.dense_heads.fcaf3d_head")
    if getattr(head.nms3d_normal, _FIXED_MARK, False):
        return
    head.nms3d_normal = _dispatch(head.nms3d_normal, nms3d_normal_cpu)
    head.nms3d = _dispatch(head.nms3d, nms3d_cpu)


def _patch_focal_loss() -> None:
    from mmdet.models.losses.focal_loss import FocalLoss

    original = FocalLoss.forward
    if getattr(original, _FIXED_MARK, False):
        return

    def forward(self: Any, pred: Tensor, target: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        if not pred.is_cuda and target.dim() == pred.dim() - 1 and not target.is_floating_point():
            target = torch.where(target < 0, torch.full_like(target, pred.size(1)), target)
        return original(self, pred, target, *args, **kwargs)

    setattr(forward, _FIXED_MARK, True)
    forward.__doc__ = original.__doc__
    FocalLoss.forward = forward
