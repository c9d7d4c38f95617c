"""Random routing baseline: k experts (or factors) drawn uniformly per sample."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from octavius.adapters.base_router import BaseRouter
from octavius.adapters.context import RoutingContext
from octavius.adapters.decision import RoutingDecision
from octavius.registry import ROUTERS


@ROUTERS.register_module()
class RandomRouter(BaseRouter):
    """Chooses ``top_k`` of the experts (or factors) uniformly at random for every sample.

    The random-routing baseline of MixLoRA Table 2: no learned parameters, equal weights
    ``1/k``. Draws come from the router's own generator seeded with ``seed``, so runs are
    reproducible and the global RNG is untouched. In training the generator advances with every
    call; in eval it restarts from ``seed`` at every call, so evaluating the same batch twice
    routes it the same way. With a :class:`LoRAFactorPool`, ``top_k`` must equal the pool's rank
    and the i-th drawn factor serves A and B alike.

    Args:
        in_features: unused (the router reads nothing); kept for the common signature.
        num_experts: how many experts or factors to draw from.
        top_k: how many to draw per sample, without replacement.
        seed: seed of the router's generator.
    """

    level: ClassVar[str] = "instance"
    input_source: ClassVar[str] = "none"

    def __init__(self, in_features: int, num_experts: int, top_k: int = 2, seed: int = 0) -> None:
        super().__init__(in_features, num_experts)
        if not 1 <= top_k <= num_experts:
            raise ValueError(
                f"RandomRouter: top_k must be in [1, num_experts={num_experts}], got {top_k}."
            )
        self.top_k = top_k
        self.seed = seed
        self._generator = torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor, ctx: RoutingContext | None) -> RoutingDecision:
        """Draw ``k`` distinct experts per sample.

        Shapes: ``x`` ``(b, n, d)`` (only ``b`` is read) → indices/weights ``(b, k)``.
        """
        generator = self._generator if self.training else torch.Generator().manual_seed(self.seed)
        scores = torch.rand(x.shape[0], self.num_experts, generator=generator)
        indices = scores.topk(self.top_k, dim=-1).indices.to(x.device)  # uniform k-subset
        weights = torch.full(indices.shape, 1.0 / self.top_k, device=x.device)
        return RoutingDecision(level="instance", indices=indices, weights=weights)

    @classmethod
    def example_config(cls) -> dict[str, Any]:
        return {"top_k": 2, "seed": 0}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, top_k={self.top_k}, seed={self.seed}"
