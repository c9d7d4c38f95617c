"""Point-cloud operations shared by the point encoders, in plain batched torch (CPU and GPU).

Farthest point sampling and k-nearest-neighbour grouping follow Point-BERT's ``Group`` module
(which calls the CUDA ``pointnet2_ops``); points-in-box and per-RoI sampling serve Object-As-Scene
(Octavius eq. 5). Boxes are axis-aligned ``[cx, cy, cz, dx, dy, dz]`` (centre, full size).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "compiled_furthest_point_sample",
    "farthest_point_sample",
    "farthest_point_sample_torch",
    "gather_points",
    "knn_indices",
    "normalize_unit_sphere",
    "points_in_boxes",
    "sample_indices",
    "scene_box",
]


@lru_cache(maxsize=1)
def compiled_furthest_point_sample() -> Any:
    """mmcv's compiled ``furthest_point_sample`` (a CUDA kernel), or ``None`` without it."""
    try:
        from mmcv.ops import furthest_point_sample
    except (ImportError, OSError, RuntimeError):  # no mmcv, or mmcv without its compiled ops
        return None
    return furthest_point_sample


def farthest_point_sample(xyz: Tensor, num_samples: int) -> Tensor:
    """Farthest point sampling, starting from point 0 of every cloud (as ``pointnet2_ops``).

    On a CUDA tensor it runs mmcv's compiled kernel when mmcv has one (same algorithm and start
    point); elsewhere, and without mmcv, the torch loop of :func:`farthest_point_sample_torch`.

    Args:
        xyz: ``(b, n, 3)`` coordinates.
        num_samples: ``g`` points to pick, at most ``n``.

    Returns:
        ``(b, g)`` long indices into ``n``.
    """
    n = xyz.shape[1]
    if num_samples > n:
        raise ValueError(f"Cannot pick {num_samples} farthest points from clouds of {n} points.")
    compiled = compiled_furthest_point_sample() if xyz.is_cuda else None
    if compiled is not None:
        return compiled(xyz.float().contiguous(), num_samples).long()
    return farthest_point_sample_torch(xyz, num_samples)


def farthest_point_sample_torch(xyz: Tensor, num_samples: int) -> Tensor:
    """:func:`farthest_point_sample` in plain torch, on any device (the fallback)."""
    b, n, _ = xyz.shape
    if num_samples > n:
        raise ValueError(f"Cannot pick {num_samples} farthest points from clouds of {n} points.")
    chosen = torch.zeros(b, num_samples, dtype=torch.long, device=xyz.device)
    nearest = torch.full((b, n), float("inf"), dtype=xyz.dtype, device=xyz.device)
    current = torch.zeros(b, dtype=torch.long, device=xyz.device)
    rows = torch.arange(b, device=xyz.device)
    for i in range(num_samples):
        chosen[:, i] = current
        # distance of every point to the set picked so far = min over picked points
        dist = (xyz - xyz[rows, current].unsqueeze(1)).pow(2).sum(-1)  # (b, n)
        nearest = torch.minimum(nearest, dist)
        current = nearest.argmax(dim=1)
    return chosen


def knn_indices(xyz: Tensor, centers: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` points of ``xyz`` nearest to each centre.

    Args:
        xyz: ``(b, n, 3)`` points.
        centers: ``(b, g, 3)`` query centres.
        k: neighbours per centre, at most ``n``.

    Returns:
        ``(b, g, k)`` long indices into ``n``, nearest first.
    """
    if k > xyz.shape[1]:
        raise ValueError(f"Cannot take {k} neighbours from clouds of {xyz.shape[1]} points.")
    dist = torch.cdist(centers, xyz)  # (b, g, n)
    return dist.topk(k, dim=-1, largest=False).indices


def gather_points(points: Tensor, index: Tensor) -> Tensor:
    """Gather ``points (b, n, c)`` at ``index (b, *s)`` → ``(b, *s, c)``."""
    b, _, c = points.shape
    flat = index.reshape(b, -1)
    out = points.gather(1, flat.unsqueeze(-1).expand(-1, -1, c))
    return out.reshape(*index.shape, c)


def normalize_unit_sphere(xyz: Tensor) -> Tensor:
    """Centre each cloud on its centroid and scale it into the unit sphere (ULIP's ``pc_normalize``).

    Args:
        xyz: ``(b, n, 3)``.

    Returns:
        ``(b, n, 3)``; a cloud of identical points maps to the origin.
    """
    centered = xyz - xyz.mean(dim=1, keepdim=True)
    radius = centered.norm(dim=-1).amax(dim=1).clamp_min(1e-6)  # (b,)
    return centered / radius[:, None, None]


def points_in_boxes(xyz: Tensor, boxes: Tensor) -> Tensor:
    """Which points lie inside which axis-aligned box (boundary included).

    Args:
        xyz: ``(n, 3)`` points.
        boxes: ``(m, 6)`` boxes ``[cx, cy, cz, dx, dy, dz]``.

    Returns:
        ``(m, n)`` bool.
    """
    offset = (xyz[None, :, :] - boxes[:, None, :3]).abs()  # (m, n, 3)
    return (offset <= boxes[:, None, 3:] / 2).all(dim=-1)


def scene_box(xyz: Tensor) -> Tensor:
    """The ``(1, 6)`` axis-aligned box enclosing all points ``(n, 3)``."""
    low, high = xyz.amin(dim=0), xyz.amax(dim=0)
    return torch.cat([(low + high) / 2, high - low]).unsqueeze(0)


def sample_indices(
    candidates: Tensor, count: int, generator: torch.Generator | None = None
) -> Tensor:
    """Pick exactly ``count`` of the ``candidates`` indices.

    With at least ``count`` candidates, a random subset without replacement; with fewer, every
    candidate once plus random repeats, so no point of a small RoI is lost.

    Args:
        candidates: ``(p,)`` long indices, ``p >= 1``.
        count: how many to return.
        generator: random source; pass a seeded one for reproducible sampling.

    Returns:
        ``(count,)`` long indices drawn from ``candidates``.
    """
    p = candidates.numel()
    if p == 0:
        raise ValueError("Cannot sample points from an empty set.")
    device = candidates.device
    if p >= count:
        order = torch.randperm(p, generator=generator)[:count]
        return candidates[order.to(device)]
    extra = torch.randint(p, (count - p,), generator=generator)
    return torch.cat([candidates, candidates[extra.to(device)]])
