"""Recording routing decisions for analysis (Octavius Fig. 6: which expert serves which task)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import torch

from octavius.adapters.context import RoutingContext
from octavius.adapters.decision import RoutingDecision


@dataclass
class RoutingRecord:
    """One routed call of one layer.

    Attributes:
        layer: module name of the adapted layer.
        level: ``"instance"`` or ``"token"``.
        mode: the decision's mode.
        indices: chosen experts, ``(b, k)`` or ``(b, n, k)``, on the CPU.
        weights: their weights, same shape, on the CPU.
        task_names: the task of each sample, when the routing context carries them.
        token_mask: ``(b, n)`` real-token mask for token-level records, when known.
    """

    layer: str
    level: str
    mode: str
    indices: torch.Tensor
    weights: torch.Tensor
    task_names: list[str] | None
    token_mask: torch.Tensor | None = None


class RoutingRecorder:
    """Collects the routing decisions of every adapted layer during forward passes.

    Set it on the routing context; every routed layer calls it with its decision::

        recorder = RoutingRecorder()
        with use_routing_context(RoutingContext(..., recorder=recorder)):
            model(...)
        recorder.expert_usage()   # {layer: {task: counts per expert}}

    Args:
        layers: optional regular expression; only layers whose name matches (``re.search``)
            are recorded.
    """

    def __init__(self, layers: str | None = None) -> None:
        self.layers = re.compile(layers) if layers else None
        self.records: list[RoutingRecord] = []

    def __call__(self, layer: str, decision: RoutingDecision, ctx: RoutingContext) -> None:
        if self.layers is not None and not self.layers.search(layer):
            return
        mask = ctx.attention_mask
        token_mask = None
        if (
            decision.level == "token"
            and mask is not None
            and mask.shape == decision.indices.shape[:2]
        ):
            token_mask = mask.detach().bool().cpu()
        self.records.append(
            RoutingRecord(
                layer=layer,
                level=decision.level,
                mode=decision.mode,
                indices=decision.indices.detach().cpu(),
                weights=decision.weights.detach().float().cpu(),
                task_names=list(ctx.task_names) if ctx.task_names is not None else None,
                token_mask=token_mask,
            )
        )

    def clear(self) -> None:
        """Forget every record."""
        self.records.clear()

    def expert_usage(self, num_experts: int | None = None) -> dict[str, dict[str, torch.Tensor]]:
        """Summed routing weight per expert, by layer and task (``"all"`` without task names).

        Token-level records count real tokens only when the padding mask is known.

        Returns:
            ``{layer: {task: (e,) tensor}}`` with ``e`` = ``num_experts`` or the largest index + 1.
        """
        if num_experts is None:
            num_experts = 1 + max((int(r.indices.max()) for r in self.records), default=0)
        usage: dict[str, dict[str, torch.Tensor]] = defaultdict(dict)
        for record in self.records:
            names = record.task_names or ["all"] * record.indices.shape[0]
            for sample, task in enumerate(names):
                idx, w = record.indices[sample], record.weights[sample]
                if record.token_mask is not None:
                    keep = record.token_mask[sample]
                    idx, w = idx[keep], w[keep]
                valid = idx >= 0
                totals = usage[record.layer].setdefault(task, torch.zeros(num_experts))
                totals.index_add_(0, idx[valid].flatten(), w[valid].flatten())
        return dict(usage)
