"""Farthest point sampling and BEV NMS: the torch fallback on hand-computed cases, and on CUDA
mmcv's compiled kernels give the same answer (skipped without a GPU)."""

from __future__ import annotations

import pytest
import torch

from octavius.models.nms3d import compiled_nms3d_normal, nms_aligned_bev, nms_bev
from octavius.models.point_ops import (
    compiled_furthest_point_sample,
    farthest_point_sample,
    farthest_point_sample_torch,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _line() -> torch.Tensor:
    # x = 0, 1, 2, 10: start at 0; 10 is farthest; then 2 (distance 2 to the set, 1 has 1).
    return torch.tensor([[[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [10, 0, 0]]])


def _boxes() -> tuple[torch.Tensor, torch.Tensor]:
    # A and B overlap in BEV with IoU 3.8 / 4.2 = 0.905; C is far away.
    boxes = torch.tensor(
        [[0.0, 0, 0, 2, 2, 2, 0], [0.1, 0, 0, 2, 2, 2, 0], [5.0, 5, 0, 2, 2, 2, 0]]
    )
    return boxes, torch.tensor([0.9, 0.8, 0.7])


def test_fallbacks_on_hand_computed_cases():
    assert farthest_point_sample(_line(), 3).tolist() == [[0, 3, 2]]
    assert farthest_point_sample_torch(_line(), 3).tolist() == [[0, 3, 2]]
    boxes, scores = _boxes()
    assert nms_bev(boxes, scores, 0.5).tolist() == [0, 2]
    assert nms_bev(boxes, scores, 0.95).tolist() == [0, 1, 2]  # below the threshold: both kept
    with pytest.raises(ValueError, match="Cannot pick 5"):
        farthest_point_sample(_line(), 5)


@cuda
def test_cuda_uses_mmcv_kernels_with_the_same_result():
    if compiled_furthest_point_sample() is None or compiled_nms3d_normal() is None:
        pytest.skip("mmcv without compiled CUDA ops")
    g = torch.Generator().manual_seed(0)
    xyz = torch.rand(2, 256, 3, generator=g)
    on_gpu = farthest_point_sample(xyz.cuda(), 32)
    assert on_gpu.is_cuda and torch.equal(on_gpu.cpu(), farthest_point_sample_torch(xyz, 32))
    boxes, scores = _boxes()
    kept = nms_bev(boxes.cuda(), scores.cuda(), 0.5)
    assert (
        kept.is_cuda and sorted(kept.cpu().tolist()) == nms_aligned_bev(boxes, scores, 0.5).tolist()
    )
