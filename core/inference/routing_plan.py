"""Instance routing decided once from the prompt and held for the whole answer.

Octavius routes a sample once, from its question (eq. 3), and uses those experts for every token
of the answer. Under Hugging Face ``generate`` three things must hold for that:

1. Routers that read only the routing context (the question embedding, the task, or nothing:
   ``input_source`` ``"embeddings"``/``"none"``) are run once here, on the prompt batch, before
   ``generate`` starts; their decisions go into ``ctx.decisions`` where every layer finds them,
   at prefill and at every decoding step.
2. ``generate`` repeats each sample ``m`` times for beam search (``repeat_interleave``). The
   decisions and the context's per-sample signals are repeated the same way, so the copies of a
   sample share its routing; routers that read the layer input (MixLoRA's factor routers) decide
   at prefill on the expanded batch, from identical copies.
3. When every routed layer ends up with one instance decision shared by the whole batch, the
   experts can be merged into the base weights for the call (``W + Σ_k w_k·B_k A_k``) and
   restored exactly after it; for the call the adapted linears are swapped for their base
   linears, so the merged model decodes through the same modules as the plain model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from octavius.adapters.context import RoutingContext
from octavius.adapters.decision import RoutingDecision
from octavius.adapters.layer import AdaptedLinear
from octavius.adapters.merge import merge_adapters, unmerge_adapters
from octavius.inference.pinning import routing_slots

__all__ = ["decide_from_context", "expand_context", "merged_for_batch", "shared_decisions"]

CONTEXT_SOURCES = ("embeddings", "none")


def _repeat(value: Any, copies: int, batch: int) -> Any:
    if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == batch:
        return value.repeat_interleave(copies, dim=0)
    if isinstance(value, list) and len(value) == batch:
        return [v for v in value for _ in range(copies)]
    return value


def _repeat_decision(decision: RoutingDecision, copies: int, batch: int) -> RoutingDecision:
    return replace(
        decision,
        indices=_repeat(decision.indices, copies, batch),
        weights=_repeat(decision.weights, copies, batch),
        probs=_repeat(decision.probs, copies, batch),
        aux_losses={},
        factors=(
            None
            if decision.factors is None
            else decision.factors.map(lambda v: _repeat(v, copies, batch))
        ),
    )


@torch.no_grad()
def decide_from_context(llm: nn.Module, ctx: RoutingContext) -> list[str]:
    """Run every instance router that reads only the context, caching its decision in ``ctx``.

    Returns:
        The keys of the routers decided here (the others decide inside the forward pass).
    """
    decided = []
    for key, slot in routing_slots(llm).items():
        router = slot.router
        if router.level != "instance" or router.input_source not in CONTEXT_SOURCES:
            continue
        if key not in ctx.decisions:
            embeds = ctx.require("inputs_embeds", type(router).__name__)
            ctx.decisions[key] = router(embeds, ctx)
        decided.append(key)
    return decided


def expand_context(ctx: RoutingContext, copies: int) -> RoutingContext:
    """The context with every sample repeated ``copies`` times (as ``generate`` expands beams)."""
    if copies == 1:
        return ctx
    if ctx.attention_mask is None:
        raise ValueError("expand_context needs the context's attention_mask (the batch size).")
    batch = ctx.attention_mask.shape[0]
    return replace(
        ctx,
        attention_mask=_repeat(ctx.attention_mask, copies, batch),
        question_mask=_repeat(ctx.question_mask, copies, batch),
        inputs_embeds=_repeat(ctx.inputs_embeds, copies, batch),
        task_ids=_repeat(ctx.task_ids, copies, batch),
        task_names=_repeat(ctx.task_names, copies, batch),
        task_definitions=_repeat(ctx.task_definitions, copies, batch),
        decisions={k: _repeat_decision(d, copies, batch) for k, d in ctx.decisions.items()},
        aux_losses={},
        features={k: _repeat(v, copies, batch) for k, v in ctx.features.items()},
    )


def shared_decisions(llm: nn.Module, ctx: RoutingContext) -> dict[str, RoutingDecision] | None:
    """Layer name → decision when every routed layer has one decided, shared by the batch.

    ``None`` when some layer routes per token, decides inside the forward pass, or when samples
    of the batch route differently — the batch then runs unmerged.
    """
    plan: dict[str, RoutingDecision] = {}
    for module in llm.modules():
        if not isinstance(module, AdaptedLinear) or module.slot is None:
            continue
        decision = ctx.decisions.get(module.slot.key)
        if decision is None or not decision.is_shared_by_batch():
            return None
        plan[module.name] = decision
    return plan


def _parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    parent, _, child = name.rpartition(".")
    return (model.get_submodule(parent) if parent else model), child


@contextmanager
def merged_for_batch(llm: nn.Module, plan: dict[str, RoutingDecision]) -> Iterator[list[str]]:
    """Merge the adapters with ``plan`` (see :func:`shared_decisions`), restore them on exit.

    While merged, every adapted linear is replaced in its parent by its own base linear (which
    now holds ``W + ΔW``), so a merged decoding step runs exactly the modules of the plain model:
    no wrapper call, no routing lookup, nothing per step that the base model does not do. On exit
    the adapted linears are put back and their base weights restored bit for bit (the copy kept
    by ``merge(exact=True)``), also when the body raises.

    Yields:
        The names of the merged layers.
    """
    if any(m.merged for m in llm.modules() if isinstance(m, AdaptedLinear)):
        raise RuntimeError("the model's adapters are already merged; unmerge them first.")
    adapted = {n: m for n, m in llm.named_modules() if isinstance(m, AdaptedLinear)}
    names = merge_adapters(llm, plan, exact=True)
    swapped: list[tuple[nn.Module, str, AdaptedLinear]] = []
    try:
        for name, layer in adapted.items():
            parent, child = _parent(llm, name)
            setattr(parent, child, layer.base_layer)
            swapped.append((parent, child, layer))
        yield names
    finally:
        for parent, child, layer in reversed(swapped):
            setattr(parent, child, layer)
        unmerge_adapters(llm)


def expansion(num_beams: int, num_return_sequences: int) -> int:
    """How many copies of each sample ``generate`` runs (beam search: one per beam)."""
    return max(int(num_beams or 1), 1) if (num_beams or 1) > 1 else int(num_return_sequences or 1)


def has_adapters(llm: nn.Module) -> bool:
    """Whether any linear of ``llm`` is adapted."""
    return any(isinstance(m, AdaptedLinear) for m in llm.modules())


def routed_layers(llm: nn.Module) -> Sequence[AdaptedLinear]:
    """The adapted linears that have a router."""
    return [m for m in llm.modules() if isinstance(m, AdaptedLinear) and m.slot is not None]
