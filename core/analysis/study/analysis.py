"""The analyses of the interference study's trained models: interference scores, routing, t-SNE.

For every mixture run (the specialists share nothing, so they have no interference to measure),
:func:`analyse_run` loads the final checkpoint and computes

- the task-interference scores of MixLoRA eq. 2–3 on the training samples of each task (per
  decoder layer, LoRA A and B; Fig. 2 / 7) and their summary: median, minimum and share of
  negative off-diagonal scores, averaged over layers;
- for routed methods, the routing maps on the test samples (Octavius Fig. 6, LLaVA-MoLE Fig. 3)
  and the t-SNE of the expert / factor selection (MixLoRA Fig. 5);
- the number of adapter parameters (experts and routers).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from octavius.adapters.layer import AdaptedLinear
from octavius.analysis.report_files import interference_report, routing_report
from octavius.analysis.routing_capture import routed_layers
from octavius.analysis.study.plan import StudyPlan
from octavius.analysis.study.runs import StudyRun, final_checkpoint
from octavius.analysis.task_batches import build_split_dataset
from octavius.loading import load_model

__all__ = ["RunAnalysis", "adapter_parameters", "analyse_run", "off_diagonal_summary"]


@dataclass
class RunAnalysis:
    """What :func:`analyse_run` found for one run.

    Attributes:
        run: the run's name.
        adapter_params: parameters of the expert banks and routers.
        interference: ``{"A"|"B": {"median": …, "min": …, "negative": …}}`` over the
            off-diagonal scores of the layer-averaged matrices (:func:`off_diagonal_summary`).
        figures: figure kind (``interference``, ``routing``, ``tsne``) → PNG path.
        routing_level: ``"instance"`` or ``"token"`` for routed methods, else ``None``.
        tasks: the order of the matrices' rows and columns.
        matrices: ``{"A"|"B": (t, t) nested lists}``, the layer-averaged ``I(i, j)``.
    """

    run: str
    adapter_params: int = 0
    interference: dict[str, dict[str, float]] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    routing_level: str | None = None
    tasks: list[str] = field(default_factory=list)
    matrices: dict[str, list[list[float]]] = field(default_factory=dict)


def adapter_parameters(model: torch.nn.Module) -> int:
    """Parameters of the expert banks and routers (shared routers counted once)."""
    seen: dict[int, int] = {}
    for module in model.modules():
        if isinstance(module, AdaptedLinear):
            parts = [module.experts] + ([module.slot.router] if module.slot is not None else [])
            for part in parts:
                for param in part.parameters():
                    seen[id(param)] = param.numel()
    return sum(seen.values())


def off_diagonal_summary(matrix: torch.Tensor) -> dict[str, float]:
    """Median, minimum and share of negative values (%) of the finite off-diagonal scores.

    The median rather than the mean: eq. 3's ratio is heavy-tailed, one near-zero denominator
    can dominate a mean.
    """
    t = matrix.shape[0]
    values = matrix[~torch.eye(t, dtype=torch.bool)]
    values = values[values.isfinite()]
    if not values.numel():
        return {"median": math.nan, "min": math.nan, "negative": math.nan}
    return {
        "median": float(values.median()),
        "min": float(values.min()),
        "negative": 100.0 * float((values < 0).double().mean()),
    }


def analyse_run(
    run: StudyRun,
    plan: StudyPlan,
    out_dir: str | os.PathLike,
    title: str = "",
    routing: bool = True,
) -> RunAnalysis:
    """Interference scores and (with ``routing``) routing maps and t-SNE of one trained mixture
    run (see the module docstring)."""
    from octavius.config import load_config

    options: dict[str, Any] = {
        "batches_per_task": 4,
        "gradient_batch_size": 4,
        "group_by": "layer",
        "routing_per_task": 100,
        "tsne_layers": None,
        **plan.analysis,
    }
    out = Path(out_dir)
    cfg = load_config(run.config)
    model = load_model(cfg, final_checkpoint(run))
    analysis = RunAnalysis(run.name, adapter_parameters(model))
    tasks = [t.name for t in run.tasks]
    train = build_split_dataset(cfg, "train", with_responses=True)
    scores = interference_report(
        model,
        train,
        out,
        task_key="{dataset}",
        tasks=tasks,
        batch_size=options["gradient_batch_size"],
        batches_per_task=options["batches_per_task"],
        group_by=options["group_by"],
        max_group_plots=0,
        title=title or run.name,
    )
    analysis.interference = {part: off_diagonal_summary(scores.mean(part)) for part in ("A", "B")}
    analysis.tasks = tasks
    analysis.matrices = {part: scores.mean(part).tolist() for part in ("A", "B")}
    analysis.figures["interference"] = out / "interference.png"
    if routing and routed_layers(model):
        report = routing_report(
            model,
            build_split_dataset(cfg, "test"),
            out,
            task_key="{dataset}",
            tasks=tasks,
            max_per_task=options["routing_per_task"],
            max_panels=4,
            tsne_layers=options["tsne_layers"],
            title=title or run.name,
        )
        analysis.routing_level = report.maps[0].level
        analysis.figures["routing"] = report.files["png"]
        if "tsne" in report.files:
            analysis.figures["tsne"] = report.files["tsne"]
    return analysis
