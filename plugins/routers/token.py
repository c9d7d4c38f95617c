"""LLaVA-MoLE's token-level router: one expert per token, Switch-style load balancing."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from octavius.adapters.base_router import BaseRouter
from octavius.adapters.context import RoutingContext
from octavius.adapters.decision import RoutingDecision
from octavius.adapters.losses import switch_balance_loss
from octavius.adapters.pool_and_topk import top_k_renormalised
from octavius.adapters.routing_literals import InputSource, Level, Mode
from octavius.registry import ROUTERS

MODES = ("sparse", "dense")


@ROUTERS.register_module()
class TokenRouter(BaseRouter):
    """Per-token router of LLaVA-MoLE eq. 3: ``k = argmax_j W^g_j x`` (top-k in general).

    With the LLaVA-MoLE rule set one router serves the gate, up and down projections of an MLP
    block (``sharing="block"``): it routes on the block input and the three linears reuse the
    decision. By default the chosen experts' softmax weights are renormalised over the k chosen
    ones, so top-1 adds the expert's output unweighted as in eq. 4 (its weight is exactly 1 and
    the router learns from the balancing loss only, as in the paper); ``renormalize=False``
    weights each expert by its raw probability instead (Switch Transformer), which also passes
    the language-modelling gradient to the router. The router therefore declares
    :attr:`learns_from_aux_only` for sparse top-1 with renormalisation. ``W^g`` keeps
    ``nn.Linear``'s default initialisation: LLaVA-MoLE released no code that says otherwise.

    The load-balancing loss is eq. 7–8, ``Σ_j c_j·p_j``, normalised as Switch Transformer
    (``e·Σ_j f_j·P_j``, uniform routing = 1; see :mod:`octavius.adapters.losses`), computed over
    real tokens (padding excluded when ``ctx.attention_mask`` describes these tokens), multiplied
    by ``balance_loss_weight`` (α = 1e-2 in the paper) and averaged over layers by the context.

    No token is dropped by default (the paper raises the capacity to the context length). With
    ``capacity_factor`` set, each expert takes at most ``ceil(capacity_factor·t·k/e)``
    assignments per call, first choices first, in token order; the overflow is marked ``-1`` and
    not computed (the token keeps its base output).

    Args:
        in_features: size of the routed features (the block / layer input).
        num_experts: N experts.
        top_k: experts per token.
        mode: ``"sparse"`` (top-k) or ``"dense"`` (softmax-weighted sum of all experts).
        balance_loss_weight: α of the balancing loss; 0 disables it.
        capacity_factor: optional expert capacity factor (``None``: no dropping).
        renormalize: renormalise the top-k weights to sum to one (see above).
    """

    level: ClassVar[Level] = "token"
    input_source: ClassVar[InputSource] = "layer"

    def __init__(
        self,
        in_features: int,
        num_experts: int,
        top_k: int = 1,
        mode: Mode = "sparse",
        balance_loss_weight: float = 1e-2,
        capacity_factor: float | None = None,
        renormalize: bool = True,
    ) -> None:
        super().__init__(in_features, num_experts)
        if mode not in MODES:
            raise ValueError(f"TokenRouter: mode must be one of {MODES}, got '{mode}'.")
        if not 1 <= top_k <= num_experts:
            raise ValueError(
                f"TokenRouter: top_k must be in [1, num_experts={num_experts}], got {top_k}."
            )
        if balance_loss_weight < 0:
            raise ValueError(
                f"TokenRouter: balance_loss_weight must be >= 0, got {balance_loss_weight}."
            )
        if capacity_factor is not None and capacity_factor <= 0:
            raise ValueError(
                f"TokenRouter: capacity_factor must be > 0 or None (no dropping), got {capacity_factor}."
            )
        self.top_k = top_k
        self.mode = mode
        self.balance_loss_weight = balance_loss_weight
        self.capacity_factor = capacity_factor
        self.renormalize = renormalize
        self.gate = nn.Linear(in_features, num_experts, bias=False)  # W^g

    @property
    def learns_from_aux_only(self) -> bool:  # type: ignore[override]
        """Top-1 with renormalised weights (LLaVA-MoLE eq. 4): the weight is exactly 1, so the
        language-model loss gives the router no gradient; only the balancing loss trains it."""
        return self.mode == "sparse" and self.top_k == 1 and self.renormalize

    def forward(self, x: torch.Tensor, ctx: RoutingContext | None) -> RoutingDecision:
        """Route every token.

        Shapes: ``b`` batch, ``n`` tokens, ``d`` features, ``e`` experts, ``k`` top-k.

        Args:
            x: ``(b, n, d)`` the routed features.
            ctx: optional; its ``attention_mask`` keeps padding out of the balancing loss.

        Returns:
            Token decision, indices/weights ``(b, n, k)`` (``(b, n, e)`` dense), probs ``(b, n, e)``.
        """
        probs = self.gate(x.to(self.gate.weight.dtype)).float().softmax(dim=-1)  # (b, n, e)
        if self.mode == "dense":
            indices = torch.arange(self.num_experts, device=x.device).expand_as(probs)
            weights = probs
        else:
            if self.renormalize:
                weights, indices = top_k_renormalised(probs, self.top_k)  # (b, n, k)
            else:
                weights, indices = probs.topk(self.top_k, dim=-1)
            if self.capacity_factor is not None:
                indices, weights = self._apply_capacity(indices, weights)
        aux: dict[str, torch.Tensor] = {}
        if self.balance_loss_weight > 0 and self.training:
            mask = None if ctx is None else ctx.attention_mask
            token_mask = (
                mask.reshape(-1).bool() if mask is not None and mask.shape == x.shape[:2] else None
            )
            loss = switch_balance_loss(
                probs.reshape(-1, self.num_experts),
                indices.reshape(-1, indices.shape[-1]),
                token_mask,
            )
            aux["token_balance_loss"] = self.balance_loss_weight * loss
        return RoutingDecision(
            level="token",
            indices=indices,
            weights=weights,
            probs=probs,
            mode=self.mode,
            aux_losses=aux,
        )

    def _apply_capacity(
        self, indices: torch.Tensor, weights: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Drop assignments beyond each expert's capacity (first choices first, token order)."""
        b, n, k = indices.shape
        capacity = math.ceil(self.capacity_factor * b * n * k / self.num_experts)
        by_choice = indices.reshape(b * n, k).T.reshape(-1)  # (k·t,) all first choices first
        one_hot = nn.functional.one_hot(by_choice, self.num_experts)
        position = (one_hot.cumsum(dim=0) * one_hot).sum(dim=-1) - 1  # rank within its expert
        keep = (position < capacity).reshape(k, b * n).T.reshape(b, n, k)
        return indices.masked_fill(~keep, -1), weights * keep

    @classmethod
    def example_config(cls) -> dict[str, Any]:
        return {"top_k": 1}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.mode}, top_k={self.top_k}"
