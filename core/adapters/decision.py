"""The routing decision: what a router hands to an expert bank.

A router chooses, for every sample (instance level, Octavius eq. 3) or every token (token level,
LLaVA-MoLE eq. 3), which experts — or, for a factor pool, which factors — take part and with which
weights. The decision carries the chosen indices and their (renormalised) weights together with the
full distribution and the auxiliary losses the router produced, so nothing travels by side channel.
Factor routing (MixLoRA eq. 5–9) chooses A's factors in ``indices``/``weights`` and B's in a
:class:`FactorSelection`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from octavius.adapters.routing_literals import LEVELS, MODES, Level, Mode

__all__ = ["FactorSelection", "RoutingDecision"]


def _shape(t: torch.Tensor | None) -> tuple[int, ...] | None:
    return None if t is None else tuple(t.shape)


@dataclass(frozen=True)
class FactorSelection:
    """B's factor choice of a factor-routing decision (MixLoRA eq. 6–8).

    Either *pending* — conditional factor selection (eq. 7) still has to read the chosen A
    factors, in the router's explicit ``condition(decision, experts)`` call — or *chosen*.

    Attributes:
        b_indices: ``(b, r)`` the B factors, paired position by position with A's (eq. 9);
            ``None`` while pending.
        b_weights: ``(b, r)`` their renormalised weights (they carry the router's gradient).
        b_probs: ``(b, e)`` the distribution B was chosen from, for analysis.
        pending: B's choice waits for ``router.condition()``; an expert bank refuses it.
        b_ifs_probs: ``(b, e)`` ``p^B_IFS`` (eq. 6), kept for the late fusion of eq. 8.
        b_cfs_probs: ``(b, e)`` ``p^B_CFS`` (eq. 8), once conditional selection ran.
    """

    b_indices: torch.Tensor | None = None
    b_weights: torch.Tensor | None = None
    b_probs: torch.Tensor | None = None
    pending: bool = False
    b_ifs_probs: torch.Tensor | None = None
    b_cfs_probs: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.pending:
            if self.b_indices is not None or self.b_ifs_probs is None:
                raise ValueError(
                    "A pending FactorSelection has no b_indices yet and needs b_ifs_probs (the "
                    "IFS distribution the conditional selection fuses with, MixLoRA eq. 8)."
                )
            return
        if self.b_indices is None or self.b_weights is None:
            raise ValueError(
                "A chosen FactorSelection needs b_indices and b_weights of shape (b, r); set "
                "pending=True when the router's condition() call chooses them."
            )
        if self.b_indices.dim() != 2 or self.b_weights.shape != self.b_indices.shape:
            raise ValueError(
                f"FactorSelection: b_indices {_shape(self.b_indices)} and b_weights "
                f"{_shape(self.b_weights)} must both be (b, r)."
            )

    @classmethod
    def chosen(
        cls, indices: torch.Tensor, weights: torch.Tensor, probs: torch.Tensor | None = None
    ) -> FactorSelection:
        """B's factors chosen directly (IFS without CFS, task-embedding or random routing)."""
        return cls(b_indices=indices, b_weights=weights, b_probs=probs)

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> FactorSelection:
        """A copy with ``fn`` applied to every tensor (detach, select rows, move …)."""
        return dataclasses.replace(
            self,
            **{
                f.name: fn(getattr(self, f.name))
                for f in dataclasses.fields(self)
                if isinstance(getattr(self, f.name), torch.Tensor)
            },
        )


@dataclass
class RoutingDecision:
    """The experts (or factors) chosen by a router and their weights.

    Attributes:
        level: ``"instance"`` (one choice per sample, reused for every token) or ``"token"``.
        indices: chosen expert ids; instance ``(b, k)``, token ``(b, n, k)``. An index of ``-1``
            marks an assignment dropped by an expert capacity limit: it is not computed. For a
            factor pool: A's factors.
        weights: the weight of each chosen expert, same shape as ``indices``; renormalised over
            the chosen ones in sparse mode; carries the router's gradient.
        probs: the full routing distribution, ``(b, e)`` or ``(b, n, e)``, for analysis and
            auxiliary losses; ``None`` for routers without one (random, individual).
        mode: ``"sparse"`` (top-k), ``"dense"`` (every expert, weighted sum) or ``"individual"``
            (a fixed task→expert table).
        aux_losses: auxiliary losses by name, already multiplied by their configured weight.
        factors: B's own factor choice (instance level only); ``None`` when B uses A's factors
            (factor ``e`` is then the rank-1 expert ``b_e a_eᵀ``) or the bank has no factors.
    """

    level: Level
    indices: torch.Tensor
    weights: torch.Tensor
    probs: torch.Tensor | None = None
    mode: Mode = "sparse"
    aux_losses: dict[str, torch.Tensor] = field(default_factory=dict)
    factors: FactorSelection | None = None
    # Inference-time values derived from the decision (see ``cached``); never copied.
    _derived: dict[tuple[int, str], Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"RoutingDecision.level must be one of {LEVELS}, got '{self.level}'.")
        if self.mode not in MODES:
            raise ValueError(f"RoutingDecision.mode must be one of {MODES}, got '{self.mode}'.")
        want = 2 if self.level == "instance" else 3
        if self.indices.dim() != want:
            raise ValueError(
                f"A {self.level}-level decision needs indices of {want} dims "
                f"({'(b, k)' if want == 2 else '(b, n, k)'}), got shape {tuple(self.indices.shape)}."
            )
        if self.weights.shape != self.indices.shape:
            raise ValueError(
                f"RoutingDecision weights {tuple(self.weights.shape)} must have the shape of "
                f"indices {tuple(self.indices.shape)}."
            )
        if self.factors is not None:
            if not isinstance(self.factors, FactorSelection):
                raise TypeError(
                    f"RoutingDecision.factors must be a FactorSelection, got "
                    f"{type(self.factors).__name__}."
                )
            if self.level != "instance":
                raise ValueError("A factor selection belongs to an instance-level decision.")
            b_indices = self.factors.b_indices
            if b_indices is not None and b_indices.shape != self.indices.shape:
                raise ValueError(
                    f"FactorSelection b_indices {tuple(b_indices.shape)} must have the shape of "
                    f"A's indices {tuple(self.indices.shape)} (pairs i of eq. 9)."
                )

    @property
    def top_k(self) -> int:
        """How many experts each sample or token uses."""
        return self.indices.shape[-1]

    @property
    def pending(self) -> bool:
        """True while B's factor choice waits for the router's ``condition()`` call."""
        return self.factors is not None and self.factors.pending

    def is_shared_by_batch(self) -> bool:
        """True when every sample of an instance-level decision has the same routing."""
        if self.level != "instance":
            return False
        same = bool(
            (self.indices == self.indices[:1]).all() and (self.weights == self.weights[:1]).all()
        )
        factors = self.factors
        if same and factors is not None and factors.b_indices is not None:
            same = bool(
                (factors.b_indices == factors.b_indices[:1]).all()
                and (factors.b_weights == factors.b_weights[:1]).all()
            )
        return same

    def cached(self, owner: object, name: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, evaluated once per ``(owner, name)`` for this decision under no-grad.

        An instance decision is reused by every decoding step of a ``generate`` call; what an
        expert bank derives from it (the gathered, weight-folded expert factors, the
        conditioned factor choice) is then derived once per call instead of once per step.
        With gradients enabled it is computed every time, so training graphs stay per call.
        """
        if torch.is_grad_enabled():
            return compute()
        key = (id(owner), name)
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    def planned(self, name: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per ``name`` for this decision, with or without gradients.

        For what depends on the chosen indices alone and carries no gradient — the token sort of
        grouped execution — so that every linear sharing the decision (one router for an MLP's
        gate/up/down) reuses it.
        """
        key = (0, name)
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    def detached(self) -> RoutingDecision:
        """A copy whose tensors are detached (for recording and for merging)."""
        return RoutingDecision(
            level=self.level,
            indices=self.indices.detach(),
            weights=self.weights.detach(),
            probs=None if self.probs is None else self.probs.detach(),
            mode=self.mode,
            aux_losses={},
            factors=None if self.factors is None else self.factors.map(torch.Tensor.detach),
        )
