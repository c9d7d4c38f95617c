"""Random routing baseline: k experts (or factors) drawn uniformly per sample."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, ClassVar

import torch
from torch import nn

from octavius.adapters.base_router import BaseRouter
from octavius.adapters.context import RoutingContext
from octavius.adapters.decision import FactorSelection, RoutingDecision
from octavius.adapters.routing_literals import InputSource, Level
from octavius.registry import ROUTERS


def stream_seed(seed: int, name: str, part: str) -> int:
    """A 63-bit seed for the draw stream of ``part`` ("A" or "B") of the layer ``name``.

    A stable hash (not Python's salted ``hash``), so the same config routes the same way in every
    process and every run.
    """
    digest = hashlib.sha256(f"{seed}\0{name}\0{part}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


@ROUTERS.register_module()
class RandomRouter(BaseRouter):
    """Chooses ``top_k`` of the experts (or factors) uniformly at random for every sample.

    The random-routing baseline of MixLoRA Table 2: no learned parameters, equal weights
    ``1/k``. As in the official release (VT-NLP/MixLoRA ``llava/peft_cmoa/cmoa_lora.py``
    l. 961–963, ``random.sample`` per sample, once for A and once for B, in every layer), every
    adapted layer draws on its own, and with a factor pool A's and B's factors are drawn
    independently (``separate_b``). Unlike the release, draws come from generators of the router's
    own, one per layer and part, seeded with ``stream_seed(seed, layer name, "A"|"B")``: runs
    are reproducible and the global RNG is untouched. In training the generators advance with
    every call; in eval they restart at every call, so evaluating a batch twice routes it the same
    way. The choice is instance-level: ``generate()`` keeps the prompt's draw for every decoding
    step (the release redraws at each step).

    The layer name is the slot the router serves (:attr:`routing_name`, set by injection); a
    router shared by the whole model draws once for every layer, as its sharing says.

    Args:
        in_features: unused (the router reads nothing); kept for the common signature.
        num_experts: how many experts or factors to draw from.
        top_k: how many to draw per sample, without replacement (a factor pool's rank).
        seed: base seed of the router's generators.
        separate_b: with a factor pool, draw B's factors independently of A's; otherwise the
            ``i``-th drawn factor serves A and B alike (factor ``e`` is the rank-1 expert
            ``b_e a_eᵀ``). Banks without separate factor choices use A's draw only.
    """

    level: ClassVar[Level] = "instance"
    input_source: ClassVar[InputSource] = "none"

    def __init__(
        self,
        in_features: int,
        num_experts: int,
        top_k: int = 2,
        seed: int = 0,
        separate_b: bool = True,
    ) -> None:
        super().__init__(in_features, num_experts)
        if not 1 <= top_k <= num_experts:
            raise ValueError(
                f"RandomRouter: top_k must be in [1, num_experts={num_experts}], got {top_k}."
            )
        self.top_k = top_k
        self.seed = seed
        self.separate_b = bool(separate_b)
        self._generators: dict[str, torch.Generator] = {}

    def bind_name(self, name: str) -> None:
        """Serve the layer ``name``: its draws restart from that layer's own seeds."""
        super().bind_name(name)
        self._generators.clear()

    def _generator(self, part: str) -> torch.Generator:
        seed = stream_seed(self.seed, self.routing_name, part)
        if not self.training:
            return torch.Generator().manual_seed(seed)
        if part not in self._generators:
            self._generators[part] = torch.Generator().manual_seed(seed)
        return self._generators[part]

    def _draw(self, batch: int, part: str, device: torch.device) -> torch.Tensor:
        scores = torch.rand(batch, self.num_experts, generator=self._generator(part))
        return scores.topk(self.top_k, dim=-1).indices.to(device)  # a uniform k-subset

    def forward(self, x: torch.Tensor, ctx: RoutingContext | None) -> RoutingDecision:
        """Draw ``k`` distinct experts per sample (and, with ``separate_b``, ``k`` for B).

        Shapes: ``x`` ``(b, n, d)`` (only ``b`` is read) → indices/weights ``(b, k)``.
        """
        batch = x.shape[0]
        indices = self._draw(batch, "A", x.device)
        weights = torch.full(indices.shape, 1.0 / self.top_k, device=x.device)
        factors = None
        if self.separate_b:
            b_indices = self._draw(batch, "B", x.device)
            factors = FactorSelection.chosen(b_indices, torch.full_like(weights, 1.0 / self.top_k))
        return RoutingDecision(level="instance", indices=indices, weights=weights, factors=factors)

    def condition(self, decision: RoutingDecision, experts: nn.Module) -> RoutingDecision:
        """Keep B's draw only for a bank that takes separate A and B factors."""
        if decision.factors is None or getattr(experts, "accepts_factor_selection", False):
            return decision
        return dataclasses.replace(decision, factors=None)

    @classmethod
    def example_config(cls) -> dict[str, Any]:
        return {"top_k": 2, "seed": 0}

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, top_k={self.top_k}, seed={self.seed}, "
            f"separate_b={self.separate_b}"
        )
