"""Evaluation reports: one table per dataset like the papers' tables, metrics.json, predictions.

Metric keys are ``"{dataset}/{task_type}/{metric}"`` (see
:mod:`octavius.evaluation.task_metric`). :func:`metric_tables` lays them out as the papers do —
one row per dataset, a column group per task ("Det. (IoU=0.5)" with Recall and Prec, "VQA" with
Acc@1, "Cap." with BLEU-1 and CIDEr, …); :func:`write_metrics_json` writes the flat dict to
``metrics.json``; :func:`write_predictions_jsonl` writes one JSON line per evaluated sample. Files
are written atomically.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

TASK_TITLES = {
    "detection": "Det. (IoU=0.5)",
    "vqa": "VQA",
    "multiple_choice": "VQA (MC)",
    "classification": "Cls.",
    "caption": "Cap.",
}
METRIC_TITLES = {
    "recall": "Recall",
    "precision": "Prec",
    "accuracy": "Acc@1",
    "judge_accuracy": "Judge Acc",
    "relaxed_accuracy": "Relaxed Acc",
    "anls": "ANLS",
    "open_recall": "Open Recall",
    "closed_accuracy": "Closed Acc",
    "perception": "Perception",
    "cognition": "Cognition",
    "total": "Total",
}


def metric_title(name: str) -> str:
    """A column title: ``"recall@0.50"`` → ``"Recall@0.5"``, ``"prec_wocat@0.25"`` →
    ``"Prec@0.25 (no cls)"`` (LAMM's detection keys), else :data:`METRIC_TITLES` or the name."""
    base, at, thr = name.partition("@")
    if not at:
        return METRIC_TITLES.get(name, name)
    plain = base.removesuffix("_wocat")
    title = METRIC_TITLES.get({"prec": "precision"}.get(plain, plain), plain)
    return f"{title}@{float(thr):g}" + (" (no cls)" if base.endswith("_wocat") else "")


def split_metric_key(key: str) -> tuple[str, str, str]:
    """``"scan2inst/detection/recall"`` → ``("scan2inst", "detection", "recall")``.

    A key with two parts has no task (``("dataset", "", "metric")``); one with more than three
    keeps the leading parts (a metric ``prefix``) in the dataset name.
    """
    parts = key.split("/")
    if len(parts) == 1:
        return "", "", key
    if len(parts) == 2:
        return parts[0], "", parts[1]
    return "/".join(parts[:-2]), parts[-2], parts[-1]


def metric_tables(metrics: Mapping[str, float], digits: int = 2) -> list[Table]:
    """One rich ``Table`` per dataset: a column per (task, metric), values as printed in papers."""
    datasets: dict[str, dict[tuple[str, str], float]] = {}
    for key, value in metrics.items():
        dataset, task, name = split_metric_key(key)
        datasets.setdefault(dataset, {})[(task, name)] = value
    tables = []
    for dataset in sorted(datasets):
        table = Table(title=dataset or "metrics", title_justify="left")
        cells = []
        for task, name in sorted(datasets[dataset]):
            task_title = TASK_TITLES.get(task, task)
            if "@" in name:  # the threshold is in the metric's title
                task_title = task_title.split(" (")[0]
            header = f"{task_title}\n{metric_title(name)}" if task else name
            table.add_column(header, justify="right")
            cells.append(_format(datasets[dataset][(task, name)], digits))
        table.add_row(*cells)
        tables.append(table)
    return tables


def _format(value: float, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def print_metric_tables(metrics: Mapping[str, float], console: Console | None = None) -> None:
    """Print :func:`metric_tables` to ``console`` (by default one as wide as the widest table).

    A console on a pipe or a narrow terminal would squeeze the columns and cut the headers
    ("Det. (IoU=…"); the default console is widened to the tables' natural width instead.
    """
    tables = metric_tables(metrics)
    if console is None:
        probe = Console(width=10_000)
        needed = max((probe.measure(t).maximum for t in tables), default=80)
        console = Console(width=max(needed, Console().width))
    for table in tables:
        console.print(table)


def write_metrics_json(metrics: Mapping[str, float], work_dir: str | os.PathLike) -> Path:
    """Write ``work_dir/metrics.json``: the flat ``{"dataset/task/metric": value}`` dict."""
    # Imported here: octavius.engine's hooks import this module, so a top-level import would loop.
    from octavius.checkpoints.atomic import atomic_write_json

    out = Path(work_dir)
    out.mkdir(parents=True, exist_ok=True)
    flat = {k: _json_number(v) for k, v in sorted(metrics.items())}
    return atomic_write_json(out / "metrics.json", flat)


def _json_number(value: Any) -> Any:
    value = float(value)
    return value if math.isfinite(value) else None


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def sample_to_dict(sample: Any) -> dict[str, Any]:
    """A data sample (dict, mmengine ``BaseDataElement`` or object) as a JSON-ready dict."""
    if hasattr(sample, "to_dict"):
        sample = sample.to_dict()
    elif not isinstance(sample, Mapping):
        sample = {k: v for k, v in vars(sample).items() if not k.startswith("_")}
    return {str(k): _jsonable(v) for k, v in sample.items()}


def write_predictions_jsonl(samples: Iterable[Any], path: str | os.PathLike) -> Path:
    """Write one JSON object per sample (``pred_text``, ``gt_text``, ``dataset``…) to ``path``."""
    from octavius.checkpoints.atomic import atomic_write_text

    lines = [json.dumps(sample_to_dict(s), ensure_ascii=False) for s in samples]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(out, "".join(line + "\n" for line in lines))
