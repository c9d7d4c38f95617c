"""The base class of every expert bank (registry ``EXPERTS``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from octavius.adapters.decision import RoutingDecision


class BaseExpertBank(nn.Module):
    """A set of low-rank experts (or factors) that adds a delta to a frozen linear.

    An expert bank returns the low-rank delta only; :class:`~octavius.adapters.AdaptedLinear`
    adds it to the frozen base output. Subclasses set :attr:`num_choices` (what a router chooses
    among: experts for :class:`LoRAExperts`, rank-1 factors for a factor pool) and implement
    :meth:`forward` and :meth:`delta_weight`.

    Class attributes:
        accepts_factor_selection: the bank takes a separate B choice
            (:class:`~octavius.adapters.decision.FactorSelection`, MixLoRA eq. 9); routers that
            make one drop it (or refuse) for banks without.

    Args:
        in_features: input size ``d_in`` of the adapted linear.
        out_features: output size ``d_out`` of the adapted linear.
    """

    num_choices: int = 1
    accepts_factor_selection: ClassVar[bool] = False

    def __init__(self, in_features: int, out_features: int, **kwargs: Any) -> None:
        super().__init__()
        if kwargs:
            raise TypeError(
                f"{type(self).__name__} got unknown config keys {sorted(kwargs)}; check the "
                "experts config for typos."
            )
        if in_features <= 0 or out_features <= 0:
            raise ValueError(
                f"{type(self).__name__}: in_features and out_features must be > 0, got "
                f"{in_features} and {out_features}."
            )
        self.in_features = in_features
        self.out_features = out_features

    @property
    def needs_router(self) -> bool:
        """Whether a router must choose among the experts (more than one choice)."""
        return self.num_choices > 1

    def forward(self, x: torch.Tensor, decision: RoutingDecision | None) -> torch.Tensor:
        """The low-rank delta for ``x`` (``(b, n, d_in)`` → ``(b, n, d_out)``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x, decision).")

    def add_delta(
        self, y: torch.Tensor, x: torch.Tensor, decision: RoutingDecision | None
    ) -> torch.Tensor:
        """``y + forward(x, decision)``: the base output ``y`` with the delta added.

        :class:`~octavius.adapters.AdaptedLinear` calls this with the frozen base output, fresh
        and of the bank's dtype; a bank may accumulate into ``y`` in place instead of allocating
        the delta (the built-in banks do; the result must equal ``y + self(x, decision)``).
        """
        return y + self(x, decision)

    def delta_weight(
        self, indices: torch.Tensor | None, weights: torch.Tensor | None
    ) -> torch.Tensor:
        """The dense ``(d_out, d_in)`` ΔW of one routing shared by a batch (for merging).

        Args:
            indices: ``(k,)`` chosen experts, or ``None`` for a bank used without a router.
            weights: ``(k,)`` their weights, or ``None``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement delta_weight().")

    def merged_delta(self, decision: RoutingDecision | None) -> torch.Tensor:
        """ΔW for a decision shared by the whole batch; banks with a factor selection override it."""
        if decision is None:
            return self.delta_weight(None, None)
        return self.delta_weight(decision.indices[0], decision.weights[0])

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters injection trains: those still requiring grad when it builds the expert bank.

        Parts frozen in ``__init__`` (e.g. a pretrained text encoder) therefore stay frozen;
        override for finer control.
        """
        return (p for p in self.parameters() if p.requires_grad)

    @classmethod
    def example_config(cls) -> dict[str, Any]:
        """Keyword arguments of a small valid instance (without in/out features).

        The contract test builds every registered expert bank with these.
        """
        return {}

    @classmethod
    def example_router_config(cls) -> dict[str, Any] | None:
        """A router config that can drive this bank (for the contract test), or ``None``."""
        return {"type": "InstanceRouter", "top_k": 2}

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"num_choices={self.num_choices}"
        )
