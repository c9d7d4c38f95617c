"""The base class of every router (registry ``ROUTERS``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from octavius.adapters.context import MissingRoutingSignalError, RoutingContext
from octavius.adapters.decision import RoutingDecision
from octavius.adapters.routing_literals import INPUT_SOURCES, LEVELS, InputSource, Level


class BaseRouter(nn.Module):
    """Chooses experts (or factors) for an adapted layer.

    Subclasses set :attr:`level` and implement :meth:`forward`. A router returns its weights,
    indices and auxiliary losses together in one :class:`RoutingDecision`; the adapted layer
    adds the losses to the routing context and hands the decision to the expert bank.

    Class attributes:
        level: ``"instance"`` (one choice per sample, cached for the whole forward and for every
            decoding step) or ``"token"`` (one choice per token, never cached across calls).
        input_source: what the router reads, which tells injection the size of
            ``in_features``: ``"layer"`` the adapted layer's (or block's) input, ``"embeddings"``
            the LLM's input embeddings from the routing context (its hidden size), ``"none"``
            neither (random routing).
        learns_from_aux_only: the router's parameters get no gradient from the language-model
            loss by design, only from its auxiliary loss (e.g. top-1 with renormalised weights,
            whose weight is exactly 1). The contract test checks every other trainable router
            for a non-zero LM-loss gradient.

    Attributes:
        routing_name: the name of the slot the router serves (the adapted linear's module name,
            or the shared router's key), set by :meth:`bind_name`; ``""`` when used on its own.

    Args:
        in_features: size of the features the router reads.
        num_experts: how many choices it routes among (``experts.num_choices``).
    """

    level: ClassVar[Level] = "instance"
    input_source: ClassVar[InputSource] = "layer"
    learns_from_aux_only: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.level not in LEVELS:
            raise TypeError(f"{cls.__name__}.level must be one of {LEVELS}, got '{cls.level}'.")
        if cls.input_source not in INPUT_SOURCES:
            raise TypeError(
                f"{cls.__name__}.input_source must be one of {INPUT_SOURCES}, "
                f"got '{cls.input_source}'."
            )

    def __init__(self, in_features: int, num_experts: int, **kwargs: Any) -> None:
        super().__init__()
        if kwargs:
            raise TypeError(
                f"{type(self).__name__} got unknown config keys {sorted(kwargs)}; check the "
                "router config for typos."
            )
        if in_features <= 0:
            raise ValueError(f"{type(self).__name__}: in_features must be > 0, got {in_features}.")
        if num_experts <= 0:
            raise ValueError(f"{type(self).__name__}: num_experts must be > 0, got {num_experts}.")
        self.in_features = in_features
        self.num_experts = num_experts
        self.routing_name = ""

    def bind_name(self, name: str) -> None:
        """Tell the router which slot it serves (called by :class:`RoutingSlot`).

        Routers whose choice must differ between layers without learned parameters (random
        routing seeds its draws with it) read :attr:`routing_name`; others ignore it.
        """
        self.routing_name = name

    def forward(self, x: torch.Tensor, ctx: RoutingContext | None) -> RoutingDecision:
        """Route ``x`` (``(b, n, d_in)``), reading instance signals from ``ctx``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x, ctx).")

    def condition(self, decision: RoutingDecision, experts: nn.Module) -> RoutingDecision:
        """Refine a decision with the expert bank it is applied to (second, explicit call).

        Routers whose choice depends on the experts' own weights (MixLoRA's conditional factor
        selection reads the chosen A factors, eq. 7) override this. The adapted layer calls it
        every time, after :meth:`forward` (or after taking a cached decision). Default: identity.
        """
        return decision

    def require(self, ctx: RoutingContext | None, name: str) -> Any:
        """The routing signal ``name`` from ``ctx``; raises when there is no context or signal."""
        if ctx is None:
            raise MissingRoutingSignalError(
                f"{type(self).__name__} needs the routing signal '{name}', but the LLM was called "
                "without a routing context. Wrap the call in `with use_routing_context("
                f"RoutingContext({name}=...))` (see docs/routing.md)."
            )
        return ctx.require(name, type(self).__name__)

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters injection trains: those still requiring grad when it builds the router.

        Parts frozen in ``__init__`` (e.g. a pretrained text encoder) therefore stay frozen;
        override for finer control.
        """
        return (p for p in self.parameters() if p.requires_grad)

    @classmethod
    def example_config(cls) -> dict[str, Any]:
        """Keyword arguments of a small valid instance (without ``in_features``/``num_experts``).

        The contract test builds every registered router with these; override when the
        defaults are not valid on their own.
        """
        return {}

    @classmethod
    def example_experts_config(cls) -> dict[str, Any]:
        """An expert-bank config this router can drive, for the contract test."""
        return {"type": "LoRAExperts", "num_experts": 4, "rank": 4}

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_experts={self.num_experts}, level={self.level}"
