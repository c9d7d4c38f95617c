"""Grouped execution of token-routed LoRA experts (LLaVA-MoLE §3.3, eq. 6).

Tokens are sorted by the expert they were routed to; every chosen expert runs once on its
contiguous group and the outputs are added back at the tokens' positions with their routing
weights. The autograd function keeps only the (already saved) input, the rank-``r`` activations
and the sort order for the backward pass and gathers each group's input again there, so the
grouped path stores no token-sorted copy of the activations — its memory stays that of plain LoRA.

The sort (a :class:`GroupPlan`) depends on the routing only, so the linears sharing one decision
(LLaVA-MoLE's gate/up/down behind one router) compute it once. The expert outputs can be added
straight into the base output (:func:`grouped_lora_add_`), so no ``(t, d_out)`` delta is
allocated, filled and added in a second pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class GroupPlan:
    """The assignments of a token routing, sorted by expert.

    Attributes:
        order: ``(m,)`` positions in the flattened ``(t·k,)`` assignments, grouped by expert
            (dropped assignments left out).
        tokens: ``(m,)`` the token of each sorted assignment.
        counts: assignments per expert, ``len == e``.
        exclusive: every token has exactly one assignment (top-1, nothing dropped).
    """

    order: torch.Tensor
    tokens: torch.Tensor
    counts: list[int]
    exclusive: bool


def group_plan(indices: torch.Tensor, num_experts: int) -> GroupPlan:
    """Sort the ``(t, k)`` assignments (``-1`` = dropped) by expert."""
    k = indices.shape[1]
    flat = indices.reshape(-1)
    counts = torch.bincount(flat + 1, minlength=num_experts + 1).tolist()
    dropped = counts[0]
    order = torch.argsort(flat, stable=True)[dropped:]
    tokens = order if k == 1 else torch.div(order, k, rounding_mode="floor")
    return GroupPlan(order, tokens, counts[1:], exclusive=k == 1 and dropped == 0)


def _segments(counts: list[int]) -> list[tuple[int, int, int]]:
    """``(expert, start, stop)`` of every expert with assignments, in sorted order."""
    segments, start = [], 0
    for expert, count in enumerate(counts):
        if count:
            segments.append((expert, start, start + count))
            start += count
    return segments


class _GroupedLoRA(torch.autograd.Function):
    """``out[t] += w · (x[t] A_eᵀ) B_e`` for every assignment (t, e, w), grouped by expert.

    Rows are gathered into expert order once per tensor (not once per expert), each expert's
    matmuls write into its contiguous slice, and the results go back with one scatter: the
    per-expert loop holds nothing but matmuls.
    """

    @staticmethod
    def forward(
        ctx: Any,
        y: torch.Tensor | None,
        x: torch.Tensor,
        lora_a: torch.Tensor,
        lora_b: torch.Tensor,
        weights: torch.Tensor,
        tokens: torch.Tensor,
        counts: list[int],
        exclusive: bool,
    ) -> torch.Tensor:
        # y (t, d_out) the output accumulated into in place, or None for a new one;
        # x (t, d_in); lora_a (e, r, d_in); lora_b (e, r, d_out) = B_eᵀ;
        # weights, tokens (m,) assignments sorted by expert; counts[e] assignments of expert e.
        # exclusive: every token has exactly one assignment (top-1, nothing dropped), so a new
        # output is copied into place instead of accumulated into a zero-filled buffer.
        m, rank, d_out = tokens.shape[0], lora_a.shape[1], lora_b.shape[-1]
        shape = (x.shape[0], d_out)
        if y is not None:
            out = y.view(shape)
        else:
            out = x.new_empty(shape) if exclusive else x.new_zeros(shape)
        segments = _segments(counts)
        x_sorted = x.index_select(0, tokens)  # (m, d_in), transient
        hidden = x.new_empty(m, rank)
        for expert, start, stop in segments:
            torch.mm(x_sorted[start:stop], lora_a[expert].T, out=hidden[start:stop])
        del x_sorted
        weighted = hidden * weights[:, None]
        out_sorted = x.new_empty(m, d_out)
        for expert, start, stop in segments:
            torch.mm(weighted[start:stop], lora_b[expert], out=out_sorted[start:stop])
        if y is None and exclusive:
            out.index_copy_(0, tokens, out_sorted)
        else:
            out.index_add_(0, tokens, out_sorted)
        ctx.save_for_backward(x, lora_a, lora_b, weights, tokens, hidden)
        ctx.segments = segments
        ctx.exclusive = exclusive
        ctx.has_y = y is not None
        if y is not None:
            ctx.mark_dirty(y)
            return y
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, lora_a, lora_b, weights, tokens, hidden = ctx.saved_tensors
        need_y, need_x, need_a, need_b, need_w = ctx.needs_input_grad[:5]
        segments = ctx.segments
        grad_y = grad_out if ctx.has_y and need_y else None
        grad_sorted = grad_out.reshape(x.shape[0], lora_b.shape[-1]).index_select(0, tokens)
        w = weights[:, None]
        grad_b = None
        if need_b:
            grad_b = torch.zeros_like(lora_b)
            weighted = hidden * w
            for expert, start, stop in segments:
                torch.mm(weighted[start:stop].T, grad_sorted[start:stop], out=grad_b[expert])
        grad_hw = hidden.new_empty(hidden.shape)  # (m, r)
        for expert, start, stop in segments:
            torch.mm(grad_sorted[start:stop], lora_b[expert].T, out=grad_hw[start:stop])
        del grad_sorted
        grad_w = (grad_hw * hidden).sum(dim=1) if need_w else None
        grad_h = grad_hw * w
        grad_a = None
        if need_a:
            grad_a = torch.zeros_like(lora_a)
            x_sorted = x.index_select(0, tokens)
            for expert, start, stop in segments:
                torch.mm(grad_h[start:stop].T, x_sorted[start:stop], out=grad_a[expert])
            del x_sorted
        grad_x = None
        if need_x:
            grad_x_sorted = x.new_empty(tokens.shape[0], x.shape[1])
            for expert, start, stop in segments:
                torch.mm(grad_h[start:stop], lora_a[expert], out=grad_x_sorted[start:stop])
            if ctx.exclusive:
                grad_x = torch.empty_like(x).index_copy_(0, tokens, grad_x_sorted)
            else:
                grad_x = torch.zeros_like(x).index_add_(0, tokens, grad_x_sorted)
        return grad_y, grad_x, grad_a, grad_b, grad_w, None, None, None


def _apply(
    y: torch.Tensor | None,
    x: torch.Tensor,
    lora_a: torch.Tensor,
    lora_b: torch.Tensor,
    indices: torch.Tensor,
    weights: torch.Tensor,
    plan: GroupPlan | None,
) -> torch.Tensor:
    if plan is None:
        plan = group_plan(indices, lora_a.shape[0])
    sorted_weights = weights.reshape(-1).index_select(0, plan.order)
    return _GroupedLoRA.apply(
        y, x, lora_a, lora_b, sorted_weights, plan.tokens, plan.counts, plan.exclusive
    )


def grouped_lora(
    x: torch.Tensor,
    lora_a: torch.Tensor,
    lora_b: torch.Tensor,
    indices: torch.Tensor,
    weights: torch.Tensor,
    plan: GroupPlan | None = None,
) -> torch.Tensor:
    """Token-routed LoRA delta, computing only the chosen experts.

    Args:
        x: ``(t, d_in)`` tokens.
        lora_a: ``(e, r, d_in)`` the experts' A.
        lora_b: ``(e, r, d_out)`` the experts' B, transposed.
        indices: ``(t, k)`` chosen experts per token; ``-1`` marks a dropped assignment.
        weights: ``(t, k)`` weight of each assignment (scale already folded in).
        plan: the sorted assignments of ``indices`` (:func:`group_plan`), if already computed.

    Returns:
        ``(t, d_out)`` the weighted sum of the chosen experts' outputs per token.
    """
    return _apply(None, x, lora_a, lora_b, indices, weights, plan)


def grouped_lora_add_(
    y: torch.Tensor,
    x: torch.Tensor,
    lora_a: torch.Tensor,
    lora_b: torch.Tensor,
    indices: torch.Tensor,
    weights: torch.Tensor,
    plan: GroupPlan | None = None,
) -> torch.Tensor:
    """:func:`grouped_lora` added into ``y`` (``t·d_out`` elements, contiguous) in place.

    Returns ``y``. Its gradient passes through unchanged; ``y`` must not be needed by another
    backward (see :func:`octavius.adapters.lora_add.add_lora_`).
    """
    return _apply(y, x, lora_a, lora_b, indices, weights, plan)
