"""Non-maximum suppression of 3D boxes on the CPU, in plain torch.

FCAF3D's head suppresses duplicate detections with mmcv's ``nms3d_normal`` (axis-aligned boxes)
and ``nms3d`` (boxes with a yaw), which mmcv implements for CUDA only. :func:`nms_aligned_bev`
reproduces ``nms3d_normal`` exactly on any device, so the detector predicts the same boxes on a CPU
as on a GPU: like mmcv's kernel it measures overlap in bird's-eye view (the ``x``/``y`` rectangle,
height ignored), treats every box as yaw 0, and drops a box whose IoU with an already kept,
higher-scoring box is strictly greater than the threshold.

:func:`nms_aligned_3d` does the same with the full 3D IoU of axis-aligned boxes, for removing
duplicates among RoIs, where boxes stacked at different heights are different objects.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "aligned_bev_iou",
    "aligned_iou_3d",
    "compiled_nms3d_normal",
    "greedy_nms",
    "nms_aligned_3d",
    "nms_aligned_bev",
    "nms_bev",
]

# mmcv's kernel clamps the union from below by this value to avoid dividing by zero.
_EPS = 1e-8


def aligned_bev_iou(boxes_a: Tensor, boxes_b: Tensor) -> Tensor:
    """Pairwise bird's-eye-view IoU of axis-aligned boxes.

    Args:
        boxes_a: ``(n, c)`` boxes, ``c >= 6``, columns ``[cx, cy, cz, dx, dy, dz, ...]``
            (centre and full size; further columns such as a yaw are ignored).
        boxes_b: ``(m, c)`` boxes in the same layout.

    Returns:
        ``(n, m)`` IoU of the ``x``/``y`` rectangles.
    """
    a_min = boxes_a[:, None, 0:2] - boxes_a[:, None, 3:5] / 2  # (n, 1, 2)
    a_max = boxes_a[:, None, 0:2] + boxes_a[:, None, 3:5] / 2
    b_min = boxes_b[None, :, 0:2] - boxes_b[None, :, 3:5] / 2  # (1, m, 2)
    b_max = boxes_b[None, :, 0:2] + boxes_b[None, :, 3:5] / 2
    extent = (torch.minimum(a_max, b_max) - torch.maximum(a_min, b_min)).clamp(min=0)
    inter = extent[..., 0] * extent[..., 1]  # (n, m)
    area_a = (boxes_a[:, 3] * boxes_a[:, 4])[:, None]
    area_b = (boxes_b[:, 3] * boxes_b[:, 4])[None, :]
    return inter / (area_a + area_b - inter).clamp(min=_EPS)


def aligned_iou_3d(boxes_a: Tensor, boxes_b: Tensor) -> Tensor:
    """Pairwise 3D IoU of axis-aligned boxes.

    Args:
        boxes_a: ``(n, c)`` boxes, ``c >= 6``, columns ``[cx, cy, cz, dx, dy, dz, ...]``.
        boxes_b: ``(m, c)`` boxes in the same layout.

    Returns:
        ``(n, m)`` IoU of the boxes' volumes.
    """
    a_min = boxes_a[:, None, 0:3] - boxes_a[:, None, 3:6] / 2  # (n, 1, 3)
    a_max = boxes_a[:, None, 0:3] + boxes_a[:, None, 3:6] / 2
    b_min = boxes_b[None, :, 0:3] - boxes_b[None, :, 3:6] / 2  # (1, m, 3)
    b_max = boxes_b[None, :, 0:3] + boxes_b[None, :, 3:6] / 2
    inter = (torch.minimum(a_max, b_max) - torch.maximum(a_min, b_min)).clamp(min=0).prod(-1)
    volume_a = boxes_a[:, 3:6].prod(-1)[:, None]
    volume_b = boxes_b[:, 3:6].prod(-1)[None, :]
    return inter / (volume_a + volume_b - inter).clamp(min=_EPS)


def greedy_nms(
    boxes: Tensor, scores: Tensor, iou_threshold: float, iou: Callable[[Tensor, Tensor], Tensor]
) -> Tensor:
    """Greedy NMS: keep the best box, drop those overlapping it by more than the threshold, repeat.

    Args:
        boxes: ``(n, c)`` boxes, ``c >= 6``, columns ``[cx, cy, cz, dx, dy, dz, ...]``.
        scores: ``(n,)`` scores.
        iou_threshold: a box is dropped when its IoU with a kept box is greater than this.
        iou: pairwise IoU function, ``(n, c), (m, c) -> (n, m)``.

    Returns:
        ``(k,)`` int64 indices of the kept boxes, highest score first (ties: lower index first).
    """
    if boxes.dim() != 2 or boxes.shape[1] < 6 or scores.shape != boxes.shape[:1]:
        raise ValueError(
            f"3D NMS expects boxes (n, >=6) and scores (n,), got {tuple(boxes.shape)} and"
            f" {tuple(scores.shape)}."
        )
    order = scores.argsort(descending=True, stable=True)
    ordered = boxes[order]
    # Row by row, only for kept boxes: O(kept * n) instead of a full (n, n) IoU matrix, which
    # matters for FCAF3D's head (up to thousands of candidates per class, few of them kept).
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        overlaps = iou(ordered[i : i + 1], ordered[i + 1 :])[0] > iou_threshold
        suppressed[i + 1 :] |= overlaps.cpu().numpy()
    return order[torch.as_tensor(keep, dtype=torch.long, device=order.device)]


def nms_aligned_bev(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy NMS with :func:`aligned_bev_iou`: the CPU twin of mmcv's ``nms3d_normal``.

    Args and returns as :func:`greedy_nms`.
    """
    return greedy_nms(boxes, scores, iou_threshold, aligned_bev_iou)


@lru_cache(maxsize=1)
def compiled_nms3d_normal() -> Any:
    """mmcv's compiled ``nms3d_normal`` (a CUDA kernel), or ``None`` without it."""
    try:
        from mmcv.ops import nms3d_normal
    except (ImportError, OSError, RuntimeError):  # no mmcv, or mmcv without its compiled ops
        return None
    return nms3d_normal


def nms_bev(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Axis-aligned BEV NMS on any device: mmcv's CUDA ``nms3d_normal`` for CUDA tensors when
    mmcv has it, :func:`nms_aligned_bev` otherwise (the same result). Args as :func:`greedy_nms`."""
    compiled = compiled_nms3d_normal() if boxes.is_cuda else None
    if compiled is not None:
        return compiled(boxes, scores, iou_threshold)
    return nms_aligned_bev(boxes, scores, iou_threshold)


def nms_aligned_3d(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy NMS with :func:`aligned_iou_3d`. Args and returns as :func:`greedy_nms`."""
    return greedy_nms(boxes, scores, iou_threshold, aligned_iou_3d)
