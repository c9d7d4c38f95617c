"""The study's own figures: per-task scores, recovered fractions, interference against drops.

Small PNGs (matplotlib, Agg, 80 dpi) for docs/; the heatmaps and routing maps come from the
analysis tools (:mod:`octavius.analysis.report_files`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from octavius.analysis.study.results import StudyResults

__all__ = ["plot_correlation", "plot_recovered", "plot_task_scores"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_task_scores(results: StudyResults, path: str | Path, variant: str = "fair") -> Path:
    """Grouped bars: mean over seeds per task and method, error bars one standard error."""
    plt = _pyplot()
    plan = results.plan
    methods = results.methods(variant)
    columns = [t.name for t in plan.tasks] + ["avg"]
    labels = [t.title or t.name for t in plan.tasks] + ["average"]
    titles = {m.key: m.title for m in plan.methods}
    fig, ax = plt.subplots(figsize=(12, 4.2), dpi=80)
    width = 0.8 / max(1, len(methods))
    cmap = plt.get_cmap("tab10")
    for i, key in enumerate(methods):
        stats = results.task_stats(key, variant)
        means = [stats[c][0] for c in columns]
        errors = [0.0 if math.isnan(stats[c][1]) else stats[c][1] for c in columns]
        xs = [j + (i - (len(methods) - 1) / 2) * width for j in range(len(columns))]
        ax.bar(xs, means, width, yerr=errors, capsize=1.5, label=titles[key], color=cmap(i % 10))
    ax.set_xticks(range(len(columns)), labels, fontsize=8)
    ax.set_ylabel("test score (%)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7, ncol=3, loc="upper left", bbox_to_anchor=(0, -0.1))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_recovered(
    rows: Mapping[str, Mapping[str, tuple[float, float, float]]], path: str | Path
) -> Path:
    """Recovered fraction with its bootstrap interval per method, for each task group.

    Args:
        rows: method title → group name → ``(point, low, high)``.
    """
    plt = _pyplot()
    groups = sorted({g for r in rows.values() for g in r}, key=["all", "conflict", "control"].index)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2), dpi=80)
    names = list(rows)
    for k, group in enumerate(groups):
        ys = [i + (k - (len(groups) - 1) / 2) * 0.25 for i in range(len(names))]
        for y, name in zip(ys, names):
            point, low, high = rows[name].get(group, (math.nan,) * 3)
            if math.isnan(point):
                continue
            xerr = (
                [[max(0.0, point - low)], [max(0.0, high - point)]] if not math.isnan(low) else None
            )
            ax.errorbar(point, y, xerr=xerr, fmt="o", ms=4, capsize=2, color=f"C{k}",
                        label=group if y == ys[0] else None)  # fmt: skip
    ax.axvline(0, color="grey", lw=0.8)
    ax.axvline(1, color="grey", lw=0.8, ls="--")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("recovered fraction (0 = shared LoRA, 1 = specialists)")
    ax.legend(fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_correlation(
    points: Sequence[tuple[str, float, float, bool]], stats: Mapping[str, float], path: str | Path
) -> Path:
    """Scatter of pair interference score against pair drop.

    Args:
        points: ``(pair label, interference score, drop, conflicting)`` per pair.
        stats: :func:`~octavius.analysis.study.results.correlations` of the points.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=80)
    for label, score, drop, conflict in points:
        ax.scatter(score, drop, color="C3" if conflict else "C0", s=25)
        ax.annotate(label, (score, drop), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.scatter([], [], color="C3", label="conflict pair")
    ax.scatter([], [], color="C0", label="control pair")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("interference score, mean of I(a, b) and I(b, a)")
    ax.set_ylabel("pair drop (specialist − together, points)")
    ax.set_title(
        f"Pearson r = {stats.get('pearson', math.nan):.2f}, "
        f"Spearman ρ = {stats.get('spearman', math.nan):.2f}, n = {stats.get('n', 0)}",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
