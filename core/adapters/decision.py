"""The routing decision: what a router hands to an expert bank.

A router chooses, for every sample (instance level, Octavius eq. 3) or every token (token level,
LLaVA-MoLE eq. 3), which experts — or, for a factor pool, which factors — take part and with which
weights. The decision carries the chosen indices and their (renormalised) weights together with the
full distribution and the auxiliary losses the router produced, so nothing travels by side channel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

LEVELS = ("instance", "token")
MODES = ("sparse", "dense", "individual")

# ``extras`` keys of factor routing (MixLoRA eq. 5–9): ``indices``/``weights`` choose the A
# factors; these choose the B factors. ``B_PENDING`` marks a decision whose B choice still waits
# for the router's ``condition`` call (conditional factor selection reads the chosen A factors).
B_INDICES = "b_indices"
B_WEIGHTS = "b_weights"
B_PROBS = "b_probs"
B_PENDING = "b_pending"


@dataclass
class RoutingDecision:
    """The experts (or factors) chosen by a router and their weights.

    Attributes:
        level: ``"instance"`` (one choice per sample, reused for every token) or ``"token"``.
        indices: chosen expert ids; instance ``(b, k)``, token ``(b, n, k)``. An index of ``-1``
            marks an assignment dropped by an expert capacity limit: it is not computed.
        weights: the weight of each chosen expert, same shape as ``indices``; renormalised over
            the chosen ones in sparse mode; carries the router's gradient.
        probs: the full routing distribution, ``(b, e)`` or ``(b, n, e)``, for analysis and
            auxiliary losses; ``None`` for routers without one (random, individual).
        mode: ``"sparse"`` (top-k), ``"dense"`` (every expert, weighted sum) or ``"individual"``
            (a fixed task→expert table).
        aux_losses: auxiliary losses by name, already multiplied by their configured weight.
        extras: router-specific data an expert bank understands, e.g. the A and B factor
            indices of MixLoRA's conditional factor selection.
    """

    level: str
    indices: torch.Tensor
    weights: torch.Tensor
    probs: torch.Tensor | None = None
    mode: str = "sparse"
    aux_losses: dict[str, torch.Tensor] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
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

    @property
    def top_k(self) -> int:
        """How many experts each sample or token uses."""
        return self.indices.shape[-1]

    def is_shared_by_batch(self) -> bool:
        """True when every sample of an instance-level decision has the same routing."""
        if self.level != "instance":
            return False
        return bool(
            (self.indices == self.indices[:1]).all() and (self.weights == self.weights[:1]).all()
        )

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

    def detached(self) -> RoutingDecision:
        """A copy whose tensors are detached (for recording and for merging)."""
        return RoutingDecision(
            level=self.level,
            indices=self.indices.detach(),
            weights=self.weights.detach(),
            probs=None if self.probs is None else self.probs.detach(),
            mode=self.mode,
            aux_losses={},
            extras=dict(self.extras),
        )
