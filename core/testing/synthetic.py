"""A deterministic synthetic 2D + 3D instruction set, for tests and the quickstart.

:func:`make_synthetic` writes::

    OUT/images/img_00000.png                PNG canvases of coloured shapes
    OUT/scenes/scene_00000.npy              (N, 6) point clouds, xyz (m) + rgb (0–1)
    OUT/scenes/scene_00000_boxes.npy        (M, 6) instance boxes cx, cy, cz, dx, dy, dz
    OUT/annotations/2d_{train,test}.json    LLaVA-style samples (image, conversations, task_type)
    OUT/annotations/3d_{train,test}.json    LAMM-style samples (scene_id, object_id, task_type, conversations)
    OUT/README.md                           the split: counts per task, formats, how it was made

Every image and scene draws from its own generator seeded with ``(seed, kind, index)``, so the
same arguments always give byte-identical files, and growing ``size`` keeps the earlier items.
Images and scenes are split, not samples: the last ``test_fraction`` of each go to ``test``, so
no test image or scene is seen in training. Task formats are in
:mod:`octavius.testing.synthetic_2d` and :mod:`octavius.testing.synthetic_3d`.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from octavius.testing.synthetic_2d import (
    DIFFICULTY,
    SYNTHETIC_TASKS,
    image_samples,
    random_shapes,
    render_image,
)
from octavius.testing.synthetic_3d import random_objects, sample_points, scene_samples

__all__ = ["SyntheticSet", "make_synthetic"]

_KIND_2D, _KIND_3D = 2, 3


@dataclass
class SyntheticSet:
    """What :func:`make_synthetic` wrote.

    Attributes:
        root: the output directory.
        annotations: annotation file per split name (``2d_train``, ``2d_test``, ``3d_train``, ``3d_test``).
        counts: samples per split and task type.
    """

    root: Path
    annotations: dict[str, Path] = field(default_factory=dict)
    counts: dict[str, Counter] = field(default_factory=dict)


def _split(index: int, total: int, test_fraction: float) -> str:
    num_test = math.ceil(total * test_fraction) if test_fraction > 0 else 0
    return "test" if index >= total - num_test else "train"


def make_synthetic(
    out_dir: str | os.PathLike,
    *,
    num_images: int = 40,
    num_scenes: int = 20,
    difficulty: str = "easy",
    seed: int = 0,
    image_size: int = 64,
    test_fraction: float = 0.25,
    tasks: Sequence[str] = SYNTHETIC_TASKS,
    progress: bool = True,
) -> SyntheticSet:
    """Generate the synthetic instruction set into ``out_dir`` (see the module docstring).

    Args:
        out_dir: output directory (created; existing files of the same names are overwritten).
        num_images: images to draw; each yields one sample per task.
        num_scenes: point-cloud scenes to build; each yields one sample per task.
        difficulty: ``"easy"``, ``"medium"`` or ``"hard"``: more, smaller objects, more colours,
            noise and clutter.
        seed: the seed everything derives from.
        image_size: canvas side in pixels.
        test_fraction: fraction of images and of scenes that form the test split.
        tasks: subset of ``detection``, ``vqa`` (multiple choice), ``vqa_open``, ``caption``,
            ``classification``.
        progress: show a progress bar.
    """
    if difficulty not in DIFFICULTY:
        raise ValueError(f"difficulty must be one of {sorted(DIFFICULTY)}, got {difficulty!r}.")
    unknown = sorted(set(tasks) - set(SYNTHETIC_TASKS))
    if unknown or not tasks:
        raise ValueError(
            f"unknown or no tasks {unknown or list(tasks)}; choose from {list(SYNTHETIC_TASKS)}."
        )
    if num_images < 0 or num_scenes < 0 or num_images + num_scenes == 0:
        raise ValueError("num_images and num_scenes must be ≥ 0 and not both 0.")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}.")
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16 pixels, got {image_size}.")
    root = Path(out_dir)
    for sub in ("images", "scenes", "annotations"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    tasks = list(tasks)
    splits: dict[str, list[dict[str, Any]]] = {
        f"{d}_{s}": [] for d in ("2d", "3d") for s in ("train", "test")
    }
    noise = DIFFICULTY[difficulty]["noise"]
    with tqdm(
        total=num_images + num_scenes, desc="synthetic 2D+3D", unit="item", disable=not progress
    ) as bar:
        for i in range(num_images):
            rng = np.random.default_rng([seed, _KIND_2D, i])
            shapes = random_shapes(rng, difficulty)
            name = f"img_{i:05d}"
            render_image(shapes, image_size, rng, noise).save(
                root / "images" / f"{name}.png", format="PNG"
            )
            split = _split(i, num_images, test_fraction)
            splits[f"2d_{split}"].extend(image_samples(rng, shapes, f"{name}.png", name, tasks))
            bar.update()
        for i in range(num_scenes):
            rng = np.random.default_rng([seed, _KIND_3D, i])
            objects = random_objects(rng, difficulty)
            scene_id = f"scene_{i:05d}"
            np.save(root / "scenes" / f"{scene_id}.npy", sample_points(rng, objects, difficulty))
            np.save(
                root / "scenes" / f"{scene_id}_boxes.npy",
                np.asarray([o.box for o in objects], dtype=np.float32),
            )
            split = _split(i, num_scenes, test_fraction)
            splits[f"3d_{split}"].extend(scene_samples(rng, objects, scene_id, tasks))
            bar.update()
    result = SyntheticSet(root=root)
    for split, samples in splits.items():
        path = root / "annotations" / f"{split}.json"
        path.write_text(json.dumps(samples, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        result.annotations[split] = path
        result.counts[split] = Counter(s["task_type"] for s in samples)
    args = dict(num_images=num_images, num_scenes=num_scenes, difficulty=difficulty, seed=seed,
                image_size=image_size, test_fraction=test_fraction, tasks=tasks)  # fmt: skip
    (root / "README.md").write_text(_readme(result, args), encoding="utf-8")
    return result


def _readme(result: SyntheticSet, args: dict[str, Any]) -> str:
    tasks = sorted({t for c in result.counts.values() for t in c})
    header = "| split | file | " + " | ".join(tasks) + " | total |"
    rule = "|" + "---|" * (len(tasks) + 3)
    rows = [
        f"| {split} | annotations/{split}.json | "
        + " | ".join(str(counts.get(t, 0)) for t in tasks)
        + f" | {sum(counts.values())} |"
        for split, counts in result.counts.items()
    ]
    made_with = " ".join(
        f"--{k.replace('_', '-')} {' '.join(v) if isinstance(v, list) else v}"
        for k, v in args.items()
    )
    return "\n".join(
        [
            "# Synthetic 2D + 3D instruction set",
            "",
            f"Generated by `python tools/data/make_synthetic.py OUT {made_with}`;",
            "the same arguments always produce identical files.",
            "",
            header,
            rule,
            *rows,
            "",
            "Images and scenes (not samples) are split: the last test fraction of each forms `test`.",
            "",
            "## Formats",
            "",
            "- 2D samples (LLaVA style): `image` (under `images/`), `task_type`, `conversations`",
            "  (`<image>` placeholder in the question), `meta` with structured ground truth.",
            "- 3D samples (LAMM style): `scene_id` (`scenes/<scene_id>.npy`, N×6 xyz+rgb, colours 0–1;",
            "  boxes in `scenes/<scene_id>_boxes.npy`, M×6 cx, cy, cz, dx, dy, dz), `object_id` for",
            "  captioning and classification of one instance, `task_type`, `conversations`.",
            "- Detection answers: `<colour> <shape> [x1, y1, x2, y2]` with coordinates normalised to",
            "  0–1 (2D) or `[cx, cy, cz, dx, dy, dz]` box centre and size in metres (3D), two decimals,",
            "  objects joined by `; ` and ordered left to right.",
            "- Multiple choice: options `(A) … (B) …` in the question, answer `(<letter>) <option>`.",
            "- Open VQA: the number of objects as a word; captions: one sentence; classification: the shape.",
            "",
        ]
    )
