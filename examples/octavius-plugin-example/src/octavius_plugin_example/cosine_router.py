"""A cosine-similarity instance router (X-MoE style), shipped as a third-party plugin."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from octavius.adapters import BaseRouter, RoutingContext, RoutingDecision
from octavius.adapters.pool_and_topk import masked_mean, top_k_renormalised


class CosineRouter(BaseRouter):
    """Routes each sample by cosine similarity between its pooled input and expert prototypes.

    ``p = softmax(cos(W h̄, e_j) / τ)`` over experts ``j``, with ``h̄`` the mean of the layer
    input over the non-padding tokens, ``W`` a low-dimensional projection and ``e_j`` learnable
    prototypes; the top-k are kept and renormalised. Scoring by cosine keeps the routing logits
    bounded, the remedy X-MoE proposes against representation collapse.

    Args:
        in_features: width of the layer input.
        num_experts: number of experts to route among.
        top_k: experts per sample.
        proj_dim: width of the space prototypes live in.
        temperature: softmax temperature τ.
    """

    level: ClassVar[str] = "instance"
    input_source: ClassVar[str] = "layer"

    def __init__(
        self,
        in_features: int,
        num_experts: int,
        top_k: int = 2,
        proj_dim: int = 16,
        temperature: float = 0.07,
    ) -> None:
        super().__init__(in_features, num_experts)
        if not 1 <= top_k <= num_experts:
            raise ValueError(f"CosineRouter: top_k must be in [1, {num_experts}], got {top_k}.")
        if temperature <= 0:
            raise ValueError(f"CosineRouter: temperature must be > 0, got {temperature}.")
        self.top_k = top_k
        self.temperature = temperature
        self.proj = nn.Linear(in_features, proj_dim, bias=False)
        self.prototypes = nn.Parameter(torch.empty(num_experts, proj_dim))
        nn.init.kaiming_uniform_(self.prototypes, a=math.sqrt(5))

    def forward(self, x: torch.Tensor, ctx: RoutingContext | None) -> RoutingDecision:
        """Route every sample of ``x``: ``(b, n, d)`` → indices and weights ``(b, k)``."""
        mask = None if ctx is None else ctx.attention_mask
        if mask is not None and mask.shape == x.shape[:2]:
            pooled = masked_mean(x, mask.bool(), "attention_mask")
        else:
            pooled = x.mean(dim=1)
        sim = F.normalize(self.proj(pooled), dim=-1) @ F.normalize(self.prototypes, dim=-1).T
        probs = torch.softmax(sim / self.temperature, dim=-1)  # (b, e)
        weights, indices = top_k_renormalised(probs, self.top_k)
        return RoutingDecision(level="instance", indices=indices, weights=weights, probs=probs)

    @classmethod
    def example_config(cls) -> dict[str, Any]:
        return {"top_k": 2, "proj_dim": 8}
