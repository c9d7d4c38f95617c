"""The routing context: how instance-level signals reach the adapted layers.

A Hugging Face causal LM calls its linear layers with hidden states only. Signals that belong to
the whole sample — the question tokens an instance gate pools (Octavius eq. 3), task ids, task
definition texts (MixLoRA appendix A) — travel through one explicit object instead, set by the model
around the LLM call::

    ctx = RoutingContext(attention_mask=mask, question_mask=q_mask, inputs_embeds=embeds)
    with use_routing_context(ctx):
        out = llm(inputs_embeds=embeds, attention_mask=mask)
    aux = ctx.aux_losses            # collected from every router that produced one

The context also carries what must outlive a single forward call: instance-level decisions are
cached in :attr:`RoutingContext.decisions` at prefill and reused for every decoding step of
``generate()``, so routing is decided once from the prompt. A router that needs a signal the
context lacks raises :class:`MissingRoutingSignalError` naming it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import torch


class MissingRoutingSignalError(RuntimeError):
    """A router needs an instance-level signal that the routing context does not carry."""


@dataclass
class RoutingContext:
    """Instance-level routing signals and per-call collectors.

    Attributes:
        attention_mask: ``(b, n)`` 1 on real tokens, 0 on padding, for the prompt (prefill).
        question_mask: ``(b, n)`` true on the instruction/question tokens (Octavius's z^qu).
        inputs_embeds: ``(b, n, d)`` the LLM's input embeddings, modality tokens spliced in.
        task_ids: ``(b,)`` integer task ids (individual routing, task-embedding routing).
        task_names: the task name of each sample, kept with recorded decisions.
        task_definitions: the task definition text of each sample (MixLoRA appendix A);
            ``None`` for a sample that has none.
        datasets: the dataset (or annotation file) each sample comes from, for error messages.
        text_encoder: maps a list of texts to ``(b, d)`` embeddings; by default the model's
            frozen LLM mean hidden state (set by the model).
        decisions: instance-level routing decisions cached by router key; reused while the
            context lives (every decoding step of one ``generate()`` call).
        aux_losses: auxiliary losses produced by routers in this call, by loss name.
        recorder: when set, called with ``(layer_name, decision, context)`` for every routed
            layer; see :class:`octavius.adapters.recording.RoutingRecorder`.
        features: per-sample features derived from the signals, computed once per context and
            shared by every router that reads them (e.g. the pooled question embedding z^qu).
        last_pooled: by pooling kind, the last layer input a router pooled and the result, so
            routers of linears reading the same input (q/k/v, gate/up) pool it once. One entry
            per kind: it holds at most one activation alive.
    """

    attention_mask: torch.Tensor | None = None
    question_mask: torch.Tensor | None = None
    inputs_embeds: torch.Tensor | None = None
    task_ids: torch.Tensor | None = None
    task_names: list[str] | None = None
    task_definitions: list[str | None] | None = None
    datasets: list[str] | None = None
    text_encoder: Callable[[list[str]], torch.Tensor] | None = None
    decisions: dict[str, Any] = field(default_factory=dict)
    aux_losses: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    recorder: Callable[[str, Any, RoutingContext], None] | None = None
    features: dict[str, torch.Tensor] = field(default_factory=dict)
    last_pooled: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)

    def require(self, name: str, router: str) -> Any:
        """Return the signal ``name`` or raise an error that names it and the router."""
        value = getattr(self, name)
        if value is None:
            raise MissingRoutingSignalError(
                f"{router} needs the routing signal '{name}', but the routing context does not "
                f"carry it. Set it on RoutingContext({name}=...) around the LLM call; "
                "MultimodalLLM does this from the batch (see docs/routing.md)."
            )
        return value

    def add_aux_loss(self, name: str, value: torch.Tensor) -> None:
        """Collect one auxiliary loss term (averaged over layers by :meth:`reduced_aux_losses`)."""
        self.aux_losses.setdefault(name, []).append(value)

    def reduced_aux_losses(self) -> dict[str, torch.Tensor]:
        """Each auxiliary loss averaged over the layers that produced it."""
        return {k: torch.stack(v).mean() for k, v in self.aux_losses.items() if v}


_current: ContextVar[RoutingContext | None] = ContextVar("octavius_routing_context", default=None)


def current_routing_context() -> RoutingContext | None:
    """The routing context of the running LLM call, or ``None`` outside one."""
    return _current.get()


@contextlib.contextmanager
def use_routing_context(ctx: RoutingContext) -> Iterator[RoutingContext]:
    """Make ``ctx`` the routing context for the calls inside the ``with`` block."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
