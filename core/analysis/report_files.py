"""The analyses end to end on a model and a dataset: compute, then write JSON and PNG files.

What the ``tools/analysis`` scripts call:

- :func:`routing_report` → ``routing_maps.json`` + ``routing_maps.png`` (Octavius Fig. 6,
  LLaVA-MoLE Fig. 3) and, optionally, ``selection_tsne.png`` (MixLoRA Fig. 5);
- :func:`interference_report` → ``interference.json`` + ``interference.png`` (mean over layers,
  Fig. 7) + ``interference_<group>.png`` for a few groups (Fig. 2).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from octavius.analysis.plots import plot_interference, plot_routing_maps, plot_tsne
from octavius.analysis.routing_capture import SampleRouting, capture_routing, routed_layers
from octavius.analysis.routing_maps import RoutingMap, routing_maps
from octavius.analysis.selection_tsne import selection_features, tsne_embedding
from octavius.analysis.task_batches import labelled_batches, lm_loss, recorded_forward, task_batches
from octavius.analysis.task_gradients import InterferenceScores, task_interference

__all__ = ["RoutingReport", "evenly_spaced", "interference_report", "routing_report"]


def evenly_spaced(items: Sequence[Any], count: int) -> list[Any]:
    """Up to ``count`` items spread evenly over ``items`` (first and last included)."""
    if count <= 0:
        return []
    if len(items) <= count:
        return list(items)
    if count == 1:
        return [items[0]]
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]


def _write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


@dataclass
class RoutingReport:
    """What :func:`routing_report` computed and wrote."""

    routing: SampleRouting
    maps: list[RoutingMap]
    files: dict[str, Path] = field(default_factory=dict)


def routing_report(
    model: nn.Module,
    dataset: Any,
    out_dir: str | os.PathLike,
    task_key: str = "task_type",
    tasks: Sequence[str] | None = None,
    layers: str | None = None,
    batch_size: int = 8,
    max_per_task: int | None = None,
    max_panels: int = 6,
    tsne_layers: str | None = None,
    tsne: bool = True,
    title: str = "",
    seed: int = 0,
) -> RoutingReport:
    """Routing maps (and the selection t-SNE) of ``model`` on ``dataset``, written to ``out_dir``.

    Args:
        model: a ``MultimodalLLM`` with routed adapters (eval mode is set here).
        dataset: the samples to route (prompts suffice: instance routing reads the prompt).
        out_dir: output directory.
        task_key: sample field, or format of fields, naming the task (``"{dataset}/{task_type}"``).
        tasks: tasks to include, in row order; all when ``None``.
        layers: regular expression selecting recorded layers.
        batch_size: samples per forward.
        max_per_task: samples per task (all when ``None``).
        max_panels: maps drawn in the PNG (evenly spaced over layers); the JSON has all.
        tsne_layers: layers whose routing describes a sample for the t-SNE (all recorded ones
            when ``None``; MixLoRA Fig. 5 uses the MLP layers).
        tsne: also write ``selection_tsne.png``.
        title: figure title prefix (e.g. the run name).
        seed: t-SNE seed.
    """
    out = Path(out_dir)
    model.eval()
    batches = labelled_batches(dataset, task_key, batch_size, max_per_task, tasks)
    routing = capture_routing(batches, recorded_forward(model), routed_layers(model), layers)
    maps = routing_maps(routing, tasks=tasks)
    report = RoutingReport(routing, maps)
    report.files["json"] = _write_json(
        out / "routing_maps.json",
        {"task_key": task_key, "tasks": maps[0].tasks, "maps": [m.to_dict() for m in maps]},
    )
    heading = f"{title}: " if title else ""
    report.files["png"] = plot_routing_maps(
        evenly_spaced(maps, max_panels),
        out / "routing_maps.png",
        title=f"{heading}{maps[0].quantity} per expert and task",
    )
    if tsne and len(routing.tasks) >= 4:
        features = selection_features(routing, tsne_layers)
        embedding = tsne_embedding(features, seed=seed)
        report.files["tsne"] = plot_tsne(
            embedding,
            routing.tasks,
            out / "selection_tsne.png",
            title=f"{heading}t-SNE of expert selection",
        )
    return report


def _file_stem(group: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", group)


def interference_report(
    model: nn.Module,
    dataset: Any,
    out_dir: str | os.PathLike,
    task_key: str = "task_type",
    tasks: Sequence[str] | None = None,
    batch_size: int = 4,
    batches_per_task: int = 4,
    group_by: str = "block",
    layers: str | None = None,
    max_group_plots: int = 4,
    title: str = "",
) -> InterferenceScores:
    """MixLoRA's task-interference scores of ``model`` on ``dataset``'s tasks, written to ``out_dir``.

    Args:
        model: a ``MultimodalLLM`` with adapters.
        dataset: samples with responses (the loss needs them; see ``build_split_dataset``).
        out_dir: output directory.
        task_key: how a sample's task is named.
        tasks: tasks to compare (all when ``None``), in row order.
        batch_size: samples per gradient batch ``x``.
        batches_per_task: batches per task for the expectations of eq. 2–3.
        group_by: parameter groups (``"module"``, ``"block"``, ``"layer"``, ``"model"``).
        layers: regular expression on adapted-linear names.
        max_group_plots: per-group heatmaps written (evenly spaced), besides the mean.
        title: figure title prefix.
    """
    out = Path(out_dir)
    batches = task_batches(dataset, task_key, batch_size, batches_per_task, tasks)
    scores = task_interference(model, batches, lm_loss, group_by, layers)
    _write_json(out / "interference.json", {"task_key": task_key, **scores.to_dict()})
    heading = f"{title}: " if title else ""
    plot_interference(
        {"LoRA A": scores.mean("A"), "LoRA B": scores.mean("B")},
        scores.tasks,
        out / "interference.png",
        title=f"{heading}task interference, mean over {len(scores.groups)} {group_by} group(s)",
    )
    for group in evenly_spaced(scores.groups, max_group_plots):
        plot_interference(
            {"LoRA A": scores.scores["A"][group], "LoRA B": scores.scores["B"][group]},
            scores.tasks,
            out / f"interference_{_file_stem(group)}.png",
            title=f"{heading}task interference, {group}",
        )
    return scores
