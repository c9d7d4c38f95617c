"""Result tables: the ``metrics.json`` of several runs side by side, shaped like the papers' tables.

``tools/test.py`` writes a flat ``{"<dataset>/<task>/<metric>": value}`` per run. A results table
has one row per run and one column per task metric, plus the row average (MixLoRA Table 3,
Octavius Table 4), in Markdown; the best value of each column is in bold.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["load_metrics", "metrics_table", "results_table"]

METRICS_FILE = "metrics.json"


def load_metrics(path: str | os.PathLike) -> dict[str, float]:
    """Read a run's flat metrics from ``path`` (a ``metrics.json`` or the directory holding it).

    Raises:
        FileNotFoundError: when there is no metrics file.
        ValueError: when the file is not a flat JSON object of numbers.
    """
    file = Path(path)
    if file.is_dir():
        file = file / METRICS_FILE
    if not file.is_file():
        raise FileNotFoundError(
            f"no metrics file at {file} (tools/test.py writes <work-dir>/{METRICS_FILE})."
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{file}: not valid JSON ({err}).") from None
    if not isinstance(data, dict):
        raise ValueError(
            f'{file}: expected a JSON object {{"dataset/metric": value}}, got {type(data).__name__}.'
        )
    metrics = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | float | type(None)):
            raise ValueError(f"{file}: metric {key!r} is {value!r}, expected a number (or null).")
        metrics[str(key)] = math.nan if value is None else float(value)
    return metrics


def _cell(value: float | None, digits: int, best: bool) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{value:.{digits}f}"
    return f"**{text}**" if best else text


def results_table(
    runs: Mapping[str, Mapping[str, float]],
    columns: Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
    average: bool = True,
    scale: float = 1.0,
    digits: int = 2,
    bold_best: bool = True,
    first_column: str = "Method",
) -> str:
    """A Markdown table: rows = runs, columns = metrics (+ ``Avg``).

    Args:
        runs: run name → flat metrics, in row order.
        columns: metric keys or regular expressions (full match) selecting them, in column order;
            every key seen in any run, sorted, when ``None``.
        headers: metric key → column title; the key itself otherwise.
        average: add the mean of the row's metrics; ``–`` when one of them is missing.
        scale: multiply every value (``100`` for percentages).
        digits: decimals.
        bold_best: bold the highest value of each column.
        first_column: title of the run-name column.
    """
    if not runs:
        raise ValueError("results_table needs at least one run.")
    seen = list(dict.fromkeys(key for metrics in runs.values() for key in metrics))
    if columns is None:
        keys = sorted(seen)
    else:
        keys = []
        for spec in columns:
            if spec in seen:
                matched = [spec]
            else:
                pattern = re.compile(spec)
                matched = [k for k in seen if pattern.fullmatch(k)]
            if not matched:
                raise KeyError(
                    f"results_table: column {spec!r} matches no metric; metrics: {seen}."
                )
            keys.extend(k for k in matched if k not in keys)
    titles = [(headers or {}).get(k, k) for k in keys] + (["Avg"] if average else [])
    values: dict[str, list[float | None]] = {}
    for name, metrics in runs.items():
        row = [metrics[k] * scale if k in metrics else None for k in keys]
        if average:
            complete = all(v is not None and math.isfinite(v) for v in row)
            row.append(sum(row) / len(row) if complete and row else None)
        values[name] = row
    best = [
        max(
            (r[c] for r in values.values() if r[c] is not None and math.isfinite(r[c])),
            default=None,
        )
        for c in range(len(titles))
    ]
    lines = [
        "| " + " | ".join([first_column, *titles]) + " |",
        "|" + "---|" + "---:|" * len(titles),
    ]
    for name, row in values.items():
        cells = [
            _cell(v, digits, bold_best and len(values) > 1 and v is not None and v == best[c])
            for c, v in enumerate(row)
        ]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines) + "\n"


def metrics_table(
    paths: Sequence[str | os.PathLike],
    names: Sequence[str] | None = None,
    **kwargs: object,
) -> str:
    """:func:`results_table` of the runs whose ``metrics.json`` (or run directory) is in ``paths``.

    Args:
        paths: metrics files or run directories, in row order.
        names: row names; each run directory's name (the metrics file's parent) otherwise.
        **kwargs: :func:`results_table` options.
    """
    if names is not None and len(names) != len(paths):
        raise ValueError(f"metrics_table: {len(paths)} runs but {len(names)} names.")
    runs: dict[str, dict[str, float]] = {}
    for i, path in enumerate(paths):
        p = Path(path)
        name = names[i] if names is not None else (p.name if p.is_dir() else p.parent.name)
        if name in runs:
            raise ValueError(f"metrics_table: two runs are named {name!r}; give distinct names.")
        runs[name] = load_metrics(p)
    return results_table(runs, **kwargs)  # type: ignore[arg-type]
