"""Routing maps: how much each expert serves each task, per layer (Octavius Fig. 6, LLaVA-MoLE Fig. 3).

From the per-sample distributions of :func:`~octavius.analysis.routing_capture.capture_routing`,
a routing map gives for every layer and task the mean over the task's samples (and the standard
deviation, LLaVA-MoLE's error bars) of the routing weight (instance routers) or token share (token
routers) of each expert. Layers that route identically — every linear under one shared router —
are folded into one map that lists the names it stands for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from octavius.analysis.routing_capture import SampleRouting

__all__ = ["RoutingMap", "routing_maps"]


@dataclass
class RoutingMap:
    """Expert usage per task for one layer (or several identically routed layers).

    Attributes:
        layer: the first layer's name.
        level: ``"instance"`` (values are mean routing weights) or ``"token"`` (token shares).
        tasks: row order.
        mean: ``(t, e)`` mean over each task's samples.
        std: ``(t, e)`` population standard deviation over each task's samples.
        counts: samples per task.
        same_as: further layers whose routing equals this one's on every sample.
        mode: the decisions' mode.
    """

    layer: str
    level: str
    tasks: list[str]
    mean: torch.Tensor
    std: torch.Tensor
    counts: list[int]
    same_as: list[str] = field(default_factory=list)
    mode: str = "sparse"

    @property
    def quantity(self) -> str:
        """What the values are: ``"routing weight"`` or ``"token share"``."""
        return "routing weight" if self.level == "instance" else "token share"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{task: {"mean": [...], "std": [...], "samples": n}}`` plus metadata."""
        return {
            "layer": self.layer,
            "same_as": self.same_as,
            "level": self.level,
            "mode": self.mode,
            "quantity": self.quantity,
            "experts": int(self.mean.shape[1]),
            "tasks": {
                task: {
                    "mean": [round(float(v), 6) for v in self.mean[i]],
                    "std": [round(float(v), 6) for v in self.std[i]],
                    "samples": self.counts[i],
                }
                for i, task in enumerate(self.tasks)
            },
        }


def routing_maps(
    routing: SampleRouting,
    layers: str | None = None,
    tasks: Sequence[str] | None = None,
    fold_identical: bool = True,
) -> list[RoutingMap]:
    """One :class:`RoutingMap` per layer (per group of identically routed layers).

    Args:
        routing: the captured per-sample routing.
        layers: optional regular expression selecting layers (``re.search``).
        tasks: row order; tasks in order of first appearance when ``None``.
        fold_identical: fold layers with exactly equal per-sample distributions into one map.

    Returns:
        The maps, in the layers' order.
    """
    order = routing.task_names if tasks is None else list(tasks)
    unknown = sorted(set(order) - set(routing.tasks))
    if unknown:
        raise ValueError(
            f"routing_maps: no sample of task(s) {unknown}; tasks seen: {routing.task_names}."
        )
    labels = routing.tasks
    rows = {t: torch.tensor([i for i, s in enumerate(labels) if s == t]) for t in order}
    maps: list[RoutingMap] = []
    for name in routing.select(layers):
        shares = routing.shares[name]
        if fold_identical:
            twin = next((m for m in maps if torch.equal(routing.shares[m.layer], shares)), None)
            if twin is not None:
                twin.same_as.append(name)
                continue
        per_task = [shares[rows[t]] for t in order]
        maps.append(
            RoutingMap(
                layer=name,
                level=routing.levels[name],
                tasks=order,
                mean=torch.stack([p.mean(dim=0) for p in per_task]),
                std=torch.stack([p.std(dim=0, correction=0) for p in per_task]),
                counts=[int(p.shape[0]) for p in per_task],
                mode=routing.modes.get(name, "sparse"),
            )
        )
    if not maps:
        raise ValueError(f"routing_maps: no recorded layer matches {layers!r}.")
    return maps
