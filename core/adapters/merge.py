"""Merging instance routing and plain LoRA into the base weights, and restoring them.

For a batch that shares one routing, ``W' = W + Σ_k w_k·(α/r)·B_k A_k`` (Octavius §3.1: "LoRA-MoE
can also merge parameter weights with language model like vanilla LoRA"); the merged model needs
no router and no expert computation. Token-level routing cannot be merged.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from octavius.adapters.context import RoutingContext
from octavius.adapters.decision import RoutingDecision
from octavius.adapters.layer import AdaptedLinear

DecisionSource = RoutingDecision | Mapping[str, RoutingDecision] | RoutingContext | None


def _adapted(model: nn.Module) -> dict[str, AdaptedLinear]:
    return {name: m for name, m in model.named_modules() if isinstance(m, AdaptedLinear)}


@torch.no_grad()
def _decision_for(
    layer: AdaptedLinear, source: DecisionSource, computed: dict[str, RoutingDecision]
) -> RoutingDecision | None:
    if layer.slot is None:
        return None
    if source is None:
        raise ValueError(
            f"'{layer.name}' is routed; merging it needs a routing decision, a mapping "
            "layer name → decision, or a RoutingContext to route from."
        )
    if isinstance(source, RoutingDecision):
        return source
    if isinstance(source, RoutingContext):
        router = layer.slot.router
        if router.level != "instance" or router.input_source == "layer":
            raise ValueError(
                f"'{layer.name}': {type(router).__name__} routes on each layer's input, so its "
                "decision cannot be computed from a routing context alone; pass the decisions "
                "(e.g. recorded with RoutingRecorder) instead."
            )
        key = layer.slot.key
        if key not in computed:
            embeds = source.require("inputs_embeds", type(router).__name__)
            was_training = router.training
            router.eval()
            computed[key] = router(embeds, source).detached()
            router.train(was_training)
        return computed[key]
    if layer.name not in source:
        raise KeyError(f"No routing decision given for '{layer.name}'.")
    return source[layer.name]


def merge_adapters(
    model: nn.Module, decisions: DecisionSource = None, exact: bool = True
) -> list[str]:
    """Merge every adapted linear's experts into its base weight.

    Args:
        model: a model with adapters injected.
        decisions: ``None`` (only layers without a router, i.e. plain LoRA), one instance
            decision shared by every routed layer (a global gate), a mapping layer name →
            decision, or a :class:`RoutingContext` from which instance routers that read the
            context (``InstanceRouter``, ``RandomRouter``…) compute theirs.
        exact: keep a copy of each base weight so unmerging restores it bit for bit.

    Returns:
        The names of the merged layers.

    Raises:
        ValueError: when a routed layer has no decision, or its decision is token-level or
            differs between samples. Nothing is merged when any layer fails.
    """
    layers = _adapted(model)
    computed: dict[str, RoutingDecision] = {}
    plan = {name: _decision_for(layer, decisions, computed) for name, layer in layers.items()}
    for name, decision in plan.items():
        if decision is not None and (
            decision.level != "instance" or not decision.is_shared_by_batch()
        ):
            raise ValueError(
                f"'{name}': only an instance-level decision shared by the whole batch can be "
                "merged (token-level or per-sample routing stays unmerged)."
            )
    for name, layer in layers.items():
        layer.merge(plan[name], exact=exact)
    return list(layers)


def unmerge_adapters(model: nn.Module) -> list[str]:
    """Restore the base weights of every merged adapted linear; returns their names."""
    restored = []
    for name, layer in _adapted(model).items():
        if layer.merged:
            layer.unmerge()
            restored.append(name)
    return restored
