"""Pinned routings: a request that names its experts instead of letting the router choose.

Octavius's instance gate chooses the top-k LoRA experts of a sample from its question (eq. 3). At
inference a user may want to see what a given set of experts answers — to compare experts, or to
reproduce an answer — so a request can *pin* its routing: expert indices and their weights. A
pinned sample keeps the rest of the batch routed as usual: the router runs, and a forward hook on
it replaces the pinned rows of its decision before any layer uses it, so a batch mixing pinned and
routed samples still runs in one pass (each sample gathers its own experts, Octavius eq. 3).

A pin with fewer experts than the router's ``k`` is padded with weight-0 slots (an expert times 0
adds nothing), and the router's rows are padded the same way when a pin names more. A task pin
(``{"task": "detection"}``) is not handled here: it replaces the sample's task, which the
individual gate (``InstanceRouter(mode='individual')``) and task-embedding routing read from the
routing context.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from octavius.adapters.decision import RoutingDecision
from octavius.adapters.layer import AdaptedLinear

__all__ = ["PinnedRouting", "apply_pins", "parse_pin", "pin_routers"]


@dataclass(frozen=True)
class PinnedRouting:
    """Experts and weights fixed by a request.

    Attributes:
        experts: expert indices, at least one, no repeats.
        weights: one weight per expert; ``None`` gives each ``1/k`` (what a uniform gate gives).
        routers: regular expression on router keys (``re.search``); ``None`` pins every
            instance-level router of the model.
    """

    experts: tuple[int, ...]
    weights: tuple[float, ...] | None = None
    routers: str | None = None

    def __post_init__(self) -> None:
        if not self.experts or len(set(self.experts)) != len(self.experts):
            raise ValueError(
                f"a pinned routing needs distinct expert indices, got experts={list(self.experts)}."
            )
        if any(e < 0 for e in self.experts):
            raise ValueError(f"pinned expert indices must be ≥ 0, got {list(self.experts)}.")
        if self.weights is not None and len(self.weights) != len(self.experts):
            raise ValueError(
                f"a pinned routing has {len(self.experts)} experts but {len(self.weights)} weights."
            )

    def tensors(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``(indices (k,), weights (k,))`` of the pin."""
        k = len(self.experts)
        weights = self.weights if self.weights is not None else [1.0 / k] * k
        return (
            torch.tensor(self.experts, dtype=torch.long, device=device),
            torch.tensor(weights, dtype=torch.float32, device=device),
        )

    def applies_to(self, router_key: str) -> bool:
        """Whether the pin covers the router registered under ``router_key``."""
        return self.routers is None or re.search(self.routers, router_key) is not None

    def describe(self) -> dict[str, Any]:
        """The pin as JSON values."""
        k = len(self.experts)
        return {
            "experts": list(self.experts),
            "weights": list(self.weights) if self.weights is not None else [1.0 / k] * k,
            **({"routers": self.routers} if self.routers else {}),
        }


def parse_pin(spec: PinnedRouting | Mapping[str, Any] | None) -> PinnedRouting | None:
    """A :class:`PinnedRouting` from ``{"experts": [...], "weights": [...], "routers": "..."}``.

    Raises:
        ValueError: for a mapping without ``experts`` or with unknown keys.
    """
    if spec is None or isinstance(spec, PinnedRouting):
        return spec
    if not isinstance(spec, Mapping) or "experts" not in spec:
        raise ValueError(
            f"a routing pin is {{'experts': [...], 'weights': [...]}} (weights optional), got {spec!r}."
        )
    unknown = set(spec) - {"experts", "weights", "routers"}
    if unknown:
        raise ValueError(
            f"unknown keys {sorted(unknown)} in routing pin {dict(spec)!r}; "
            "use experts, weights, routers."
        )
    weights = spec.get("weights")
    return PinnedRouting(
        experts=tuple(int(e) for e in spec["experts"]),
        weights=None if weights is None else tuple(float(w) for w in weights),
        routers=spec.get("routers"),
    )


def _pad(indices: torch.Tensor, weights: torch.Tensor, k: int) -> tuple[torch.Tensor, ...]:
    """Pad ``(b, k0)`` rows to ``k`` columns with the first expert at weight 0."""
    extra = k - indices.shape[-1]
    if extra <= 0:
        return indices, weights
    return (
        torch.cat([indices, indices[:, :1].expand(-1, extra)], dim=-1),
        torch.cat([weights, weights.new_zeros(weights.shape[0], extra)], dim=-1),
    )


def apply_pins(
    decision: RoutingDecision,
    pins: Sequence[PinnedRouting | None],
    router_key: str,
    num_experts: int,
) -> RoutingDecision:
    """Replace the pinned rows of an instance-level decision.

    Args:
        decision: the router's decision for ``b·m`` rows (``m`` copies per sample when the
            batch is expanded, e.g. ``num_beams``; copies are contiguous).
        pins: one entry per sample (``b``), ``None`` where the router decides.
        router_key: the router's key (a pin may cover only some routers).
        num_experts: the router's number of experts (pins are checked against it).

    Returns:
        The decision with pinned rows; ``decision`` itself when no pin covers this router.
    """
    active = [p if p is not None and p.applies_to(router_key) else None for p in pins]
    if not any(active):
        return decision
    if decision.level != "instance" or decision.factors is not None:
        raise ValueError(
            f"router '{router_key}' makes a {decision.level}-level decision"
            f"{' with factor choices' if decision.factors is not None else ''}; only instance-level expert "
            "routing (LoRAExperts) can be pinned."
        )
    rows = decision.indices.shape[0]
    if rows % len(pins):
        raise ValueError(f"router '{router_key}' decided {rows} rows for {len(pins)} samples.")
    copies = rows // len(pins)
    for pin in active:
        if pin is not None and max(pin.experts) >= num_experts:
            raise ValueError(
                f"the pin {pin.describe()} names expert {max(pin.experts)} but router "
                f"'{router_key}' has {num_experts} experts (0…{num_experts - 1})."
            )
    device = decision.indices.device
    if decision.mode == "dense":
        full = decision.weights.clone()  # (b, e), columns in expert order
        for i, pin in enumerate(active):
            if pin is not None:
                idx, w = pin.tensors(device)
                row = torch.zeros(num_experts, device=device).index_copy(0, idx, w)
                full[i * copies : (i + 1) * copies] = row.to(full.dtype)
        return RoutingDecision("instance", decision.indices, full, mode="dense")
    k = max([decision.top_k] + [len(p.experts) for p in active if p is not None])
    indices, weights = _pad(decision.indices, decision.weights, k)
    indices, weights = indices.clone(), weights.clone()
    for i, pin in enumerate(active):
        if pin is None:
            continue
        idx, w = pin.tensors(device)
        idx, w = _pad(idx[None], w[None].to(weights.dtype), k)
        indices[i * copies : (i + 1) * copies] = idx
        weights[i * copies : (i + 1) * copies] = w
    return RoutingDecision("instance", indices, weights, probs=decision.probs, mode="sparse")


def routing_slots(model: nn.Module) -> dict[str, Any]:
    """Every router slot of ``model`` by key (one entry per router, however widely shared)."""
    slots: dict[str, Any] = {}
    for module in model.modules():
        if isinstance(module, AdaptedLinear) and module.slot is not None:
            slots.setdefault(module.slot.key, module.slot)
    return slots


@contextmanager
def pin_routers(model: nn.Module, pins: Sequence[PinnedRouting | None] | None) -> Iterator[None]:
    """While active, every instance router's output has the pinned rows replaced.

    Raises:
        ValueError: when a pin covers no router of the model, or a token-level router.
    """
    if not pins or not any(pins):
        yield
        return
    handles = []
    covered: set[int] = set()
    for key, slot in routing_slots(model).items():
        hits = [i for i, p in enumerate(pins) if p is not None and p.applies_to(key)]
        if not hits:
            continue
        if slot.router.level != "instance":
            raise ValueError(
                f"router '{key}' ({type(slot.router).__name__}) routes each token; a request can "
                "pin instance-level routing only (narrow the pin with 'routers')."
            )
        covered.update(hits)

        def hook(module: nn.Module, args: Any, output: RoutingDecision, key: str = key) -> Any:
            return apply_pins(output, pins, key, module.num_experts)

        handles.append(slot.router.register_forward_hook(hook))
    try:
        missing = [i for i, p in enumerate(pins) if p is not None and i not in covered]
        if missing:
            raise ValueError(
                f"the routing pin of sample(s) {missing} covers no router of the model "
                f"(routers: {sorted(routing_slots(model))})."
            )
        yield
    finally:
        for handle in handles:
            handle.remove()
