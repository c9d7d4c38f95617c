"""``y + (x Aᵀ) B`` with the low-rank product accumulated into the base output in place.

peft's LoRA layer computes ``result + lora_B(lora_A(x)) * scaling``: the rank-r product is
written to a new ``(t, d_out)`` tensor, scaled in another pass and added in a third, and the
scaling is undone on the gradient in backward. Here the scale lives in the small factor ``A``
(``r × d_in`` numbers, done by the caller) and the second matmul accumulates straight into the
frozen base output (``baddbmm_``), which nothing else keeps: the delta never exists as its own
``(t, d_out)`` tensor, in forward or backward. The backward pass keeps every matmul in the layout
``nn.Linear`` uses for its weight gradient (``∂uᵀ x``, ``(r, n) @ (n, d)``); autograd's ``bmm``
backward would compute ``xᵀ ∂u``, which CPU BLAS runs several times slower.

Shapes: ``s`` independent LoRAs (samples with their own gathered A and B, or 1 shared by every
token), ``n`` tokens each, ``d`` = ``d_in``, ``o`` = ``d_out``, ``r`` rank.
"""

from __future__ import annotations

from typing import Any

import torch


class _AddLoRA(torch.autograd.Function):
    """``y (s, n, o) += (x (s, n, d) @ a (s, r, d)ᵀ) @ b (s, r, o)``; without ``y``, returns the product."""

    @staticmethod
    def forward(
        ctx: Any, y: torch.Tensor | None, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor
    ) -> torch.Tensor:
        s, _, o = b.shape
        x3 = x.reshape(s, -1, x.shape[-1])
        u = torch.bmm(x3, a.transpose(1, 2))  # (s, n, r)
        ctx.save_for_backward(x3, a, b, u)
        ctx.x_shape = x.shape
        ctx.has_y = y is not None
        if y is None:
            return torch.bmm(u, b).view(*x.shape[:-1], o)
        y.view(s, -1, o).baddbmm_(u, b)
        ctx.mark_dirty(y)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x3, a, b, u = ctx.saved_tensors
        s, _, o = b.shape
        grad3 = grad.reshape(s, -1, o)
        need_y, need_x, need_a, need_b = ctx.needs_input_grad
        grad_u = torch.bmm(grad3, b.transpose(1, 2))  # (s, n, r)
        grad_x = torch.bmm(grad_u, a).view(ctx.x_shape) if need_x else None  # (s, n, d)
        grad_a = torch.bmm(grad_u.transpose(1, 2), x3) if need_a else None  # (s, r, d)
        grad_b = torch.bmm(u.transpose(1, 2), grad3) if need_b else None  # (s, r, o)
        return (grad if ctx.has_y and need_y else None), grad_x, grad_a, grad_b


def lora_product(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(x aᵀ) b`` for ``s`` LoRAs: ``x`` ``(s, n, d)`` (or ``(…, d)`` with ``s = 1``),
    ``a`` ``(s, r, d)``, ``b`` ``(s, r, o)`` → ``x.shape[:-1] + (o,)``."""
    return _AddLoRA.apply(None, x, a, b)


def add_lora_(y: torch.Tensor, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``y += (x aᵀ) b`` in place and return ``y`` (shapes as :func:`lora_product`).

    ``y`` must be contiguous, of the factors' dtype, and not needed by anything else's backward
    (a linear's fresh output is none of these: its matmul saves its input, not its output).
    """
    return _AddLoRA.apply(y, x, a, b)


def can_add_in_place(y: torch.Tensor, dtype: torch.dtype) -> bool:
    """Whether :func:`add_lora_` may write into ``y`` (else add a separate delta)."""
    return y.dtype == dtype and y.is_contiguous() and not y._is_view()
