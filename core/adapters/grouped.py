"""Grouped execution of token-routed LoRA experts (LLaVA-MoLE §3.3, eq. 6).

Tokens are sorted by the expert they were routed to; every chosen expert runs once on its
contiguous group and the outputs are added back at the tokens' positions with their routing
weights. The autograd function keeps only the (already saved) input, the rank-``r`` activations
and the sort order for the backward pass and gathers each group's input again there, so the
grouped path stores no token-sorted copy of the activations — its memory stays that of plain LoRA.
"""

from __future__ import annotations

from typing import Any

import torch


class _GroupedLoRA(torch.autograd.Function):
    """``out[t] += w · (x[t] A_eᵀ) B_e`` for every assignment (t, e, w), grouped by expert."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        lora_a: torch.Tensor,
        lora_b: torch.Tensor,
        weights: torch.Tensor,
        tokens: torch.Tensor,
        counts: list[int],
        exclusive: bool,
    ) -> torch.Tensor:
        # x (t, d_in); lora_a (e, r, d_in); lora_b (e, r, d_out) = B_eᵀ;
        # weights, tokens (m,) assignments sorted by expert; counts[e] assignments of expert e.
        # exclusive: every token has exactly one assignment (top-1, nothing dropped), so outputs
        # are copied into place instead of accumulated into a zero-filled buffer.
        shape = (x.shape[0], lora_b.shape[-1])
        out = x.new_empty(shape) if exclusive else x.new_zeros(shape)
        place = out.index_copy_ if exclusive else out.index_add_
        hidden = x.new_empty(tokens.shape[0], lora_a.shape[1])
        start = 0
        for expert, count in enumerate(counts):
            if count == 0:
                continue
            stop = start + count
            group = tokens[start:stop]
            h = torch.mm(x.index_select(0, group), lora_a[expert].T)
            hidden[start:stop] = h
            place(0, group, torch.mm(h * weights[start:stop, None], lora_b[expert]))
            start = stop
        ctx.save_for_backward(x, lora_a, lora_b, weights, tokens, hidden)
        ctx.counts = counts
        ctx.exclusive = exclusive
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, lora_a, lora_b, weights, tokens, hidden = ctx.saved_tensors
        need_x, need_a, need_b, need_w = ctx.needs_input_grad[:4]
        grad_x = None
        if need_x:
            grad_x = torch.empty_like(x) if ctx.exclusive else torch.zeros_like(x)
            place = grad_x.index_copy_ if ctx.exclusive else grad_x.index_add_
        grad_a = torch.zeros_like(lora_a) if need_a else None
        grad_b = torch.zeros_like(lora_b) if need_b else None
        grad_w = torch.zeros_like(weights) if need_w else None
        start = 0
        for expert, count in enumerate(ctx.counts):
            if count == 0:
                continue
            stop = start + count
            group = tokens[start:stop]
            h = hidden[start:stop]
            w = weights[start:stop, None]
            g_out = grad_out.index_select(0, group)
            if need_b:
                grad_b[expert] = torch.mm((h * w).T, g_out)
            g_hw = torch.mm(g_out, lora_b[expert].T)
            if need_w:
                grad_w[start:stop] = (g_hw * h).sum(dim=1)
            g_h = g_hw * w
            if need_a:
                grad_a[expert] = torch.mm(g_h.T, x.index_select(0, group))
            if need_x:
                place(0, group, torch.mm(g_h, lora_a[expert]))
            start = stop
        return grad_x, grad_a, grad_b, grad_w, None, None, None


def grouped_lora(
    x: torch.Tensor,
    lora_a: torch.Tensor,
    lora_b: torch.Tensor,
    indices: torch.Tensor,
    weights: torch.Tensor,
) -> torch.Tensor:
    """Token-routed LoRA delta, computing only the chosen experts.

    Args:
        x: ``(t, d_in)`` tokens.
        lora_a: ``(e, r, d_in)`` the experts' A.
        lora_b: ``(e, r, d_out)`` the experts' B, transposed.
        indices: ``(t, k)`` chosen experts per token; ``-1`` marks a dropped assignment.
        weights: ``(t, k)`` weight of each assignment (scale already folded in).

    Returns:
        ``(t, d_out)`` the weighted sum of the chosen experts' outputs per token.
    """
    k = indices.shape[1]
    flat = indices.reshape(-1)
    order = torch.argsort(flat, stable=True)
    counts = torch.bincount(flat + 1, minlength=lora_a.shape[0] + 1).tolist()
    dropped = counts[0]
    order = order[dropped:]
    tokens = torch.div(order, k, rounding_mode="floor")
    sorted_weights = weights.reshape(-1).index_select(0, order)
    exclusive = k == 1 and dropped == 0
    return _GroupedLoRA.apply(x, lora_a, lora_b, sorted_weights, tokens, counts[1:], exclusive)
