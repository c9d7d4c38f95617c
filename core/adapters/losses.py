"""Load-balancing losses produced by routers.

- :func:`cv_squared_loss` — Octavius eq. 2 (Shazeer et al. 2017): the squared coefficient of
  variation of the experts' importance, ``CV(Σ_i G(x_i))² = Var / Mean²``.
- :func:`switch_balance_loss` — LLaVA-MoLE eq. 7–8 (Switch Transformer): ``Σ_j c_j·p_j`` with
  ``c_j`` the tokens dispatched to expert j and ``p_j`` its summed routing probability, normalised
  as Switch does: ``e · Σ_j f_j·P_j`` with ``f_j = c_j / (t·k)`` and ``P_j = p_j / t``, so a
  perfectly uniform routing scores exactly 1 whatever the number of tokens and experts.
"""

from __future__ import annotations

import torch


def cv_squared_loss(importance: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Squared coefficient of variation of ``importance`` (Octavius eq. 2 without α).

    Args:
        importance: ``(e,)`` summed gate values per expert over the batch.
        eps: keeps the ratio finite when every gate value is zero.

    Returns:
        Scalar ``Var(importance) / (Mean(importance)² + eps)``, with the unbiased variance as in
        Shazeer et al.'s reference code; 0 for a single expert.
    """
    importance = importance.float()
    if importance.numel() < 2:
        return importance.sum() * 0.0
    return importance.var() / (importance.mean() ** 2 + eps)


def switch_balance_loss(
    probs: torch.Tensor, indices: torch.Tensor, token_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Switch-style load-balancing loss, LLaVA-MoLE eq. 7–8 (normalised, see module docstring).

    Args:
        probs: ``(t, e)`` routing probabilities ``softmax(G(x))`` per token.
        indices: ``(t, k)`` experts each token was dispatched to (``-1`` = dropped, not counted).
        token_mask: ``(t,)`` true on real tokens; padding is left out of both terms.

    Returns:
        Scalar loss; gradients flow through ``probs`` only (the counts are not differentiable).
    """
    e = probs.shape[-1]
    if token_mask is not None and not bool(token_mask.all()):
        probs = probs[token_mask]
        indices = indices[token_mask]
    t, k = indices.shape
    if t == 0:
        return probs.sum() * 0.0
    # Shifted by one so that dropped assignments (-1) land in bin 0 and are left out.
    counts = torch.bincount(indices.reshape(-1) + 1, minlength=e + 1)[1:].to(probs.dtype)  # c_j
    fraction = counts / (t * k)  # f_j
    mean_prob = probs.float().sum(dim=0) / t  # P_j = p_j / t
    return e * (fraction * mean_prob).sum()
