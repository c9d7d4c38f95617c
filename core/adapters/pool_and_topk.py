"""Small tensor operations shared by routers and expert banks."""

from __future__ import annotations

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor, what: str = "mask") -> torch.Tensor:
    """Mean of ``x`` over the tokens where ``mask`` is true.

    Args:
        x: ``(b, n, d)`` token features.
        mask: ``(b, n)`` boolean or 0/1 mask of the tokens to pool.
        what: the mask's name, used in the error message.

    Returns:
        ``(b, d)`` pooled features, in the dtype of ``x``.

    Raises:
        ValueError: when the shapes disagree or a sample has no token in the mask; pooling zero
            tokens would silently route that sample on a vector of zeros.
    """
    if mask.shape != x.shape[:2]:
        raise ValueError(
            f"'{what}' has shape {tuple(mask.shape)} but the features have (b, n) = "
            f"{tuple(x.shape[:2])}; the mask must cover the same batch and tokens."
        )
    weights = mask.to(x.dtype)
    counts = weights.sum(dim=1, keepdim=True)
    if bool((counts == 0).any()):
        empty = (counts == 0).flatten().nonzero().flatten().tolist()
        raise ValueError(
            f"'{what}' selects no token for sample(s) {empty}; every sample needs at least one "
            "token to pool (check how the mask is built from the prompt)."
        )
    return torch.einsum("bn,bnd->bd", weights, x) / counts


def top_k_renormalised(probs: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k of a distribution over the last dim, weights renormalised to sum to one.

    Returns:
        ``(weights, indices)``, each of shape ``probs.shape[:-1] + (k,)``. The weights keep the
        gradient of ``probs`` (the division is differentiable).
    """
    top, indices = probs.topk(k, dim=-1)
    return top / top.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(top.dtype).tiny), indices
