"""Per-sample routing, captured with a :class:`~octavius.adapters.RoutingRecorder`.

Every routed call of an adapted linear leaves a :class:`~octavius.adapters.RoutingRecord`. This
module turns each record into one distribution over the layer's experts (or factors) per sample:

- instance level (Octavius eq. 3, MixLoRA's factor choice): the routing weight each expert gets
  for the sample — the renormalised top-k weights scattered over the ``e`` experts (0 for the
  experts not chosen); sums to 1;
- token level (LLaVA-MoLE eq. 3): the share of the sample's real tokens assigned to each expert,
  counting each of the ``k`` choices of a token as ``1/k`` (LLaVA-MoLE Fig. 3 counts tokens,
  not weights); assignments dropped by a capacity limit (index ``-1``) count for no expert.

The samples' tasks come from the caller (any label: task type, dataset, both), not from the
routing context, so the same capture serves every grouping.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from octavius.adapters.layer import AdaptedLinear
from octavius.adapters.recording import RoutingRecord, RoutingRecorder

__all__ = ["SampleRouting", "capture_routing", "record_shares", "routed_layers"]


def routed_layers(model: nn.Module) -> dict[str, int]:
    """Adapted linears that have a router → the number of choices of their expert bank.

    Layers are named as the recorder names them: the adapted linear's own ``name`` (its path in
    the model the adapters were injected into, e.g. the LLM of a ``MultimodalLLM``).
    """
    return {
        module.name or name: int(module.experts.num_choices)
        for name, module in model.named_modules()
        if isinstance(module, AdaptedLinear) and module.slot is not None
    }


def record_shares(record: RoutingRecord, num_choices: int) -> torch.Tensor:
    """The per-sample distribution over experts of one record (see the module docstring).

    Shapes: ``b`` batch, ``n`` tokens, ``k`` top-k, ``e`` = ``num_choices``.

    Returns:
        ``(b, e)`` float64; rows sum to 1 (less where token assignments were dropped).
    """
    indices = record.indices.long()
    if indices.numel() and int(indices.max()) >= num_choices:
        raise ValueError(
            f"{record.layer}: a routing index {int(indices.max())} is out of range for "
            f"{num_choices} experts."
        )
    b = indices.shape[0]
    valid = indices >= 0
    if record.level == "instance":
        shares = torch.zeros(b, num_choices, dtype=torch.float64)
        values = torch.where(valid, record.weights.to(torch.float64), 0.0)
        return shares.scatter_add_(1, indices.clamp(min=0), values)  # (b, e)
    _, n, k = indices.shape
    keep = torch.ones(b, n, dtype=torch.bool) if record.token_mask is None else record.token_mask
    counted = valid & keep[:, :, None]  # (b, n, k)
    shares = torch.zeros(b, num_choices, dtype=torch.float64)
    shares.scatter_add_(
        1, indices.clamp(min=0).reshape(b, n * k), counted.reshape(b, n * k).double()
    )
    tokens = keep.sum(dim=1).clamp(min=1).double() * k  # (b,)
    return shares / tokens[:, None]


@dataclass
class SampleRouting:
    """Per-sample routing distributions of every recorded layer.

    Attributes:
        tasks: task label of each of the ``N`` samples, in the order they were run.
        shares: layer → ``(N, e)`` distribution over the layer's experts per sample.
        levels: layer → ``"instance"`` or ``"token"``.
        modes: layer → the decisions' mode (``"sparse"``, ``"dense"``, ``"individual"``).
    """

    tasks: list[str] = field(default_factory=list)
    shares: dict[str, torch.Tensor] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)

    @property
    def task_names(self) -> list[str]:
        """Distinct tasks in order of first appearance."""
        return list(dict.fromkeys(self.tasks))

    def select(self, layers: str | None) -> list[str]:
        """Layer names matching a regular expression (``re.search``); all when ``None``."""
        pattern = re.compile(layers) if layers else None
        return [name for name in self.shares if pattern is None or pattern.search(name)]


def capture_routing(
    batches: Iterable[tuple[Any, Sequence[str]]],
    forward: Callable[[Any, RoutingRecorder], None],
    num_choices: dict[str, int],
    layers: str | None = None,
) -> SampleRouting:
    """Run ``forward`` on every batch with a recorder and collect per-sample routing.

    Args:
        batches: ``(batch, task label per sample)`` pairs.
        forward: runs the model on ``batch`` with ``recorder`` set on its routing context (e.g.
            :func:`octavius.analysis.task_batches.recorded_forward`); called without gradients.
        num_choices: routed layer → number of experts or factors (:func:`routed_layers`).
        layers: optional regular expression; only matching layers are recorded.

    Returns:
        The :class:`SampleRouting` of every sample. A layer called several times in one forward
        (e.g. a shared block) has its distributions averaged over those calls.
    """
    routing = SampleRouting()
    per_batch: dict[str, list[torch.Tensor]] = {}
    for batch, tasks in batches:
        recorder = RoutingRecorder(layers=layers)
        with torch.no_grad():
            forward(batch, recorder)
        calls: dict[str, list[torch.Tensor]] = {}
        for record in recorder.records:
            if record.layer not in num_choices:
                raise KeyError(
                    f"recorded layer {record.layer!r} is not among the routed layers given in "
                    "num_choices; pass routed_layers(model)."
                )
            shares = record_shares(record, num_choices[record.layer])
            if shares.shape[0] != len(tasks):
                raise ValueError(
                    f"{record.layer}: routed {shares.shape[0]} samples but the batch has "
                    f"{len(tasks)} task labels."
                )
            calls.setdefault(record.layer, []).append(shares)
            routing.levels[record.layer] = record.level
            routing.modes[record.layer] = record.mode
        start = len(routing.tasks)
        for layer, parts in calls.items():
            if layer not in per_batch:
                if start:
                    raise ValueError(f"layer {layer!r} was not routed in the earlier batches.")
                per_batch[layer] = []
            per_batch[layer].append(torch.stack(parts).mean(dim=0))
        missing = [layer for layer in per_batch if layer not in calls]
        if missing:
            raise ValueError(
                f"layers {missing} were routed in earlier batches but not in this one."
            )
        routing.tasks.extend(str(t) for t in tasks)
    routing.shares = {layer: torch.cat(parts) for layer, parts in per_batch.items()}
    if not routing.shares:
        raise ValueError(
            "no routing decision was recorded: the model has no routed layer"
            + (f" matching {layers!r}" if layers else "")
            + " (plain LoRA has no routing to map)."
        )
    return routing
