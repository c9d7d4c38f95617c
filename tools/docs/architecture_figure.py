"""Draw docs/images/architecture.png: the packages and the data path of a training step.

python tools/docs/architecture_figure.py [--out docs/images/architecture.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

#: (label, package, x, y) of each box on the data path, left to right, top to bottom.
PATH = [
    ("config file\n(configs/*.py)", "octavius.config", 0.07, 0.80),
    ("runner\n(OctaviusRunner)", "octavius.engine", 0.30, 0.80),
    ("datasets, templates,\ncollate", "octavius.data", 0.53, 0.80),
    ("MultimodalLLM", "octavius.models", 0.76, 0.80),
    ("encoders\nCLIP · Object-As-Scene", "octavius.plugins.encoders", 0.76, 0.52),
    ("projectors +\nsplicing", "octavius.models", 0.53, 0.52),
    ("HF causal LM with\nadapted linears", "octavius.adapters", 0.30, 0.52),
    ("router\n(weights, indices, aux)", "octavius.plugins.routers", 0.14, 0.22),
    ("expert bank\n(low-rank delta)", "octavius.plugins.experts", 0.46, 0.22),
]
EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (6, 8)]
#: Packages off the training path.
SIDE = [
    ("checkpoints", "atomic safetensors + JSON, RNG, resume"),
    ("export", "merged HF model, peft adapters"),
    ("evaluation", "the papers' metrics"),
    ("loading", "load_model(config, checkpoint)"),
    ("analysis", "routing maps, interference, study"),
    ("testing", "tiny models, synthetic data (not runtime)"),
]


def draw(out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(12, 6.5), dpi=110)
    ax.set_axis_off()
    ax.set_xlim(-0.04, 1.33)
    ax.set_ylim(0, 1)
    w, h = 0.19, 0.13
    for label, package, x, y in PATH:
        ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - h / 2),
                w,
                h,
                boxstyle="round,pad=0.01",
                facecolor="#e8f0fb",
                edgecolor="#2c5aa0",
            )
        )
        ax.text(x, y + 0.015, label, ha="center", va="center", fontsize=9.5)
        ax.text(x, y - h / 2 + 0.012, package, ha="center", va="bottom", fontsize=7, color="#555")
    for a, b in EDGES:
        (_, _, x0, y0), (_, _, x1, y1) = PATH[a], PATH[b]
        if abs(y0 - y1) < 1e-6:  # same row: from side to side
            sign = 1 if x1 > x0 else -1
            start, end = (x0 + sign * w / 2, y0), (x1 - sign * w / 2, y1)
        else:  # next row down: from the bottom edge to the top edge
            start, end = (x0, y0 - h / 2 - 0.01), (x1, y1 + h / 2 + 0.01)
        ax.add_patch(
            FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color="#2c5aa0")
        )
    ax.text(0.30, 0.06, "AdaptedLinear: y = W x + Σ_k w_k · Δ_k(x)", ha="center", fontsize=9.5)
    ax.text(0.92, 0.93, "other packages (octavius.*)", fontsize=10, weight="bold")
    for i, (name, what) in enumerate(SIDE):
        y = 0.86 - i * 0.085
        ax.add_patch(
            FancyBboxPatch(
                (0.92, y - 0.03),
                0.40,
                0.06,
                boxstyle="round,pad=0.005",
                facecolor="#f4f4f4",
                edgecolor="#888",
            )
        )
        ax.text(0.93, y, f"{name}: {what}", va="center", fontsize=8.5)
    ax.set_title("Octavius: the data path of a training step", fontsize=12)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/architecture.png"))
    print(draw(parser.parse_args(argv).out))


if __name__ == "__main__":
    main()
