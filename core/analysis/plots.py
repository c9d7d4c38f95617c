"""PNG figures of the analyses: routing maps, interference heatmaps, selection t-SNE.

Matplotlib figures drawn on an Agg canvas directly — no display, and no change to pyplot's global
backend or figure registry in the caller's process. Every function writes one PNG of exactly
``figsize × dpi`` pixels (no tight bounding box, so sizes are predictable) and returns its path.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from octavius.analysis.routing_maps import RoutingMap

__all__ = ["plot_interference", "plot_routing_maps", "plot_tsne"]


def _annotate(ax: Axes, values: np.ndarray, fmt: str, dark: float | None = None) -> None:
    for (row, col), value in np.ndenumerate(values):
        if not math.isfinite(value):
            text, colour = "n/a", "black"
        else:
            text = format(value, fmt)
            colour = "white" if dark is not None and abs(value) > dark else "black"
        ax.text(col, row, text, ha="center", va="center", fontsize=7, color=colour)


def _figure(figsize: tuple[float, float], dpi: int) -> Figure:
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike, dpi: int) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, format="png")
    return out


def _grid(count: int, columns: int) -> tuple[int, int]:
    cols = max(1, min(columns, count))
    return math.ceil(count / cols), cols


def plot_routing_maps(
    maps: Sequence[RoutingMap],
    path: str | os.PathLike,
    title: str = "Routing per task",
    columns: int = 4,
    panel_size: tuple[float, float] = (3.6, 2.8),
    dpi: int = 100,
) -> Path:
    """One heatmap per map — rows tasks, columns experts, cells the mean weight / token share.

    Octavius Fig. 6 shows each task's routing weights over the experts; LLaVA-MoLE Fig. 3 the
    token share per expert for a few layers. Cells are annotated ``mean±std``.

    Args:
        maps: from :func:`~octavius.analysis.routing_maps.routing_maps` (e.g. a few layers).
        path: output PNG.
        title: figure title.
        columns: panels per row.
        panel_size: inches per panel ``(width, height)``.
        dpi: pixels per inch; the PNG is ``cols·w·dpi × (rows·h + 0.5)·dpi`` pixels.
    """
    if not maps:
        raise ValueError("plot_routing_maps needs at least one routing map.")
    rows, cols = _grid(len(maps), columns)
    size = (cols * panel_size[0], rows * panel_size[1] + 0.5)
    fig = _figure(size, dpi)
    axes = fig.subplots(rows, cols, squeeze=False)
    image = None
    for ax, rmap in zip(axes.flat, maps):
        mean = rmap.mean.numpy()
        image = ax.imshow(mean, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
        for (r, c), value in np.ndenumerate(mean):
            label = f"{value:.2f}\n±{float(rmap.std[r, c]):.2f}"
            ax.text(
                c,
                r,
                label,
                ha="center",
                va="center",
                fontsize=6,
                color="white" if value > 0.6 else "black",
            )
        ax.set_xticks(range(mean.shape[1]), [f"E{e}" for e in range(mean.shape[1])], fontsize=7)
        ax.set_yticks(range(len(rmap.tasks)), rmap.tasks, fontsize=7)
        shared = f" (+{len(rmap.same_as)} same)" if rmap.same_as else ""
        ax.set_title(f"{rmap.layer}{shared}\n{rmap.quantity}", fontsize=7)
    for ax in list(axes.flat)[len(maps) :]:
        ax.axis("off")
    fig.suptitle(textwrap.fill(title, width=max(30, int(size[0] * 14))), fontsize=9)
    fig.subplots_adjust(
        left=0.16, right=0.9, top=1 - 0.9 / size[1], bottom=0.08, hspace=0.6, wspace=0.5
    )
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), fraction=0.02, pad=0.02)
    return _save(fig, path, dpi)


def plot_interference(
    matrices: Mapping[str, torch.Tensor | np.ndarray],
    tasks: Sequence[str],
    path: str | os.PathLike,
    title: str = "Task interference I(i, j)",
    panel_size: tuple[float, float] = (4.2, 3.8),
    dpi: int = 100,
) -> Path:
    """Side-by-side heatmaps of ``I_{i,j}`` (MixLoRA Fig. 2 / 7): row ``i`` affected by column ``j``.

    Blue is negative (task ``j`` hurts task ``i``), red positive, white zero. The ratio of eq. 3
    is heavy-tailed (a task whose own mean step barely changes its loss gives large scores), so
    the symmetric colour range is the 90th percentile of ``|I|`` (at least 1): larger scores
    saturate, and every cell is annotated with its exact value.

    Args:
        matrices: panel title (e.g. ``"LoRA A"``, ``"LoRA B"``) → ``(t, t)`` scores.
        tasks: row/column labels.
        path: output PNG.
        title: figure title.
        panel_size: inches per panel.
        dpi: pixels per inch; the PNG is ``panels·w·dpi × (h + 0.4)·dpi`` pixels.
    """
    if not matrices:
        raise ValueError("plot_interference needs at least one matrix.")
    values = {k: np.asarray(v, dtype=np.float64) for k, v in matrices.items()}
    for name, matrix in values.items():
        if matrix.shape != (len(tasks), len(tasks)):
            raise ValueError(
                f"plot_interference: {name!r} is {matrix.shape}, expected {len(tasks)}×{len(tasks)}."
            )
    finite = np.concatenate([m[np.isfinite(m)] for m in values.values()] + [np.ones(1)])
    bound = max(float(np.quantile(np.abs(finite), 0.9)), 1.0)
    size = (len(values) * panel_size[0], panel_size[1] + 0.4)
    fig = _figure(size, dpi)
    axes = fig.subplots(1, len(values), squeeze=False)
    image = None
    for ax, (name, matrix) in zip(axes.flat, values.items()):
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-bound, vmax=bound)
        _annotate(ax, matrix, ".2f", dark=0.6 * bound)
        ax.set_xticks(range(len(tasks)), tasks, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(tasks)), tasks, fontsize=7)
        ax.set_xlabel("task j (update applied)", fontsize=7)
        ax.set_ylabel("task i (affected)", fontsize=7)
        ax.set_title(name, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.14, right=0.88, top=0.86, bottom=0.26, wspace=0.6)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), fraction=0.03, pad=0.03, extend="both")
    return _save(fig, path, dpi)


def plot_tsne(
    embedding: np.ndarray,
    tasks: Sequence[str],
    path: str | os.PathLike,
    title: str = "t-SNE of expert selection",
    figsize: tuple[float, float] = (5.0, 4.2),
    dpi: int = 100,
) -> Path:
    """Scatter of a 2-D embedding, one colour per task (MixLoRA Fig. 5).

    Args:
        embedding: ``(N, 2)`` from :func:`~octavius.analysis.selection_tsne.tsne_embedding`.
        tasks: the task of each point.
        path: output PNG.
        title: figure title.
        figsize: inches; the PNG is ``figsize × dpi`` pixels.
        dpi: pixels per inch.
    """
    points = np.asarray(embedding)
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] != len(tasks):
        raise ValueError(
            f"plot_tsne: embedding must be (N, 2) with N = {len(tasks)} task labels, got {points.shape}."
        )
    fig = _figure(figsize, dpi)
    ax = fig.subplots()
    colours = matplotlib.colormaps["tab10" if len(set(tasks)) <= 10 else "tab20"]
    for i, task in enumerate(dict.fromkeys(tasks)):
        chosen = np.array([t == task for t in tasks])
        ax.scatter(
            points[chosen, 0],
            points[chosen, 1],
            s=12,
            color=colours(i % colours.N),
            label=task,
            alpha=0.8,
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="best", markerscale=1.5)
    ax.set_title(title, fontsize=9)
    fig.subplots_adjust(left=0.04, right=0.96, top=0.9, bottom=0.04)
    return _save(fig, path, dpi)
