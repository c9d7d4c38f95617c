"""The study's tasks: conflicts by design, and a control group that does not conflict.

Built from the synthetic world (:mod:`octavius.testing.synthetic_2d` / ``synthetic_3d``: the same
shapes, renderer, scenes and point sampler), but with the study's own questions and answers:

- **format conflict** (LLaVA-MoLE's "data conflicts"): ``count_word`` and ``count_digit`` ask the
  *same* question about the *same* images and differ only in the answer convention (``two``
  against ``2``);
- **modality conflict**: ``shape_2d`` and ``shape_3d`` are the 2D and 3D versions of one question
  ("What is the shape of the largest object?"), answered with different vocabularies;
- **length conflict**: ``list_2d`` (a structured list of every object, left to right,
  ``green square; red circle``) and ``exists_2d`` (``yes`` / ``no``) are asked about the same
  images;
- **control**: ``color_2d`` and ``color_3d`` ask the *same* question ("Which colour does the
  cube have?") with the *same* answer words in the two modalities: tasks that agree, whose
  answer words no other task uses.

Each question starts with its data set's tag (``[count_word] How many …``), the way mixed
instruction sets carry their source's prompt style; it is the only thing that tells the two
conventions of a conflict apart, so a shared adapter *can* learn both, and a router *can* tell
them apart. Every task gets the same number of training, validation and test items; images and
scenes of a split are disjoint from the other splits.

:func:`write_study_data` writes ``<data>/tasks/<task>_{train,val,test}.json`` (LLaVA / LAMM-style
samples the project's :class:`~octavius.data.InstructionDataset` reads), ``images/`` and
``scenes/``.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from octavius.testing.synthetic_2d import COLOURS, SHAPES_2D, random_shapes, render_image
from octavius.testing.synthetic_3d import random_objects, sample_points

__all__ = [
    "NUMBER_WORDS", "SPLITS", "TASK_KINDS", "task_samples", "write_study_data",
]  # fmt: skip

SPLITS: tuple[str, ...] = ("train", "val", "test")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six")
#: Task name → modality (``2d`` images or ``3d`` scenes).
TASK_KINDS: dict[str, str] = {
    "count_word": "2d",
    "count_digit": "2d",
    "shape_2d": "2d",
    "list_2d": "2d",
    "exists_2d": "2d",
    "shape_3d": "3d",
    "color_2d": "2d",
    "color_3d": "3d",
}
_SEED_KIND = {"2d": 12, "3d": 13}


def _sample(task: str, item: str, question: str, answer: str, **extra: Any) -> dict[str, Any]:
    placeholder = "<image>" if TASK_KINDS[task] == "2d" else "<point_cloud>"
    sample = {"id": f"{item}_{task}", **extra}
    sample["conversations"] = [
        {"from": "human", "value": f"{placeholder}\n[{task}] {question}"},
        {"from": "gpt", "value": answer},
    ]
    return sample


def task_samples(task: str, rng: np.random.Generator, item: str, world: list) -> dict[str, Any]:
    """One sample of ``task`` about one image (``world``: its shapes) or scene (its objects)."""
    if task in ("count_word", "count_digit"):
        count = len(world)
        answer = NUMBER_WORDS[count] if task == "count_word" else str(count)
        return _sample(
            task, item, "How many objects are there?", answer, image=f"{item}.png",
            task_type="vqa",
        )  # fmt: skip
    if task == "shape_2d":
        largest = max(world, key=lambda s: (s.box[2] - s.box[0]) * (s.box[3] - s.box[1]))
        return _sample(
            task, item, "What is the shape of the largest object?", largest.shape,
            image=f"{item}.png", task_type="vqa",
        )  # fmt: skip
    if task == "list_2d":
        names = [s.name for s in sorted(world, key=lambda s: s.box[0] + s.box[2])]
        return _sample(
            task, item, "List all the objects, from left to right.", "; ".join(names),
            image=f"{item}.png", task_type="vqa", meta={"gt_objects": [{"label": n} for n in names]},
        )  # fmt: skip
    if task == "exists_2d":
        present = {(s.colour, s.shape) for s in world}
        if rng.random() < 0.5:
            colour, shape = sorted(present)[int(rng.integers(len(present)))]
        else:
            absent = [(c, s) for c in list(COLOURS)[:3] for s in SHAPES_2D if (c, s) not in present]
            colour, shape = absent[int(rng.integers(len(absent)))]
        answer = "yes" if (colour, shape) in present else "no"
        return _sample(
            task, item, f"Is there a {colour} {shape}?", answer, image=f"{item}.png",
            task_type="vqa",
        )  # fmt: skip
    if task == "color_2d":
        target = world[int(rng.integers(len(world)))]
        return _sample(
            task, item, f"Which colour does the {target.shape} have?", target.colour,
            image=f"{item}.png", task_type="vqa",
        )  # fmt: skip
    scene = {"scene_id": item}
    if task == "shape_3d":
        largest = max(world, key=lambda o: o.box[3] * o.box[4] * o.box[5])
        return _sample(
            task, item, "What is the shape of the largest object?", largest.shape,
            task_type="vqa", **scene,
        )  # fmt: skip
    target = world[int(rng.integers(len(world)))]
    if task == "color_3d":
        return _sample(
            task, item, f"Which colour does the {target.shape} have?", target.colour,
            task_type="vqa", **scene,
        )  # fmt: skip
    raise ValueError(f"unknown study task {task!r}; known: {sorted(TASK_KINDS)}.")


def write_study_data(
    data_dir: str | os.PathLike,
    tasks: Sequence[str],
    sizes: dict[str, int],
    seed: int = 0,
    image_size: int = 32,
) -> Path:
    """Write the images, scenes and per-task split files (see the module docstring).

    Args:
        data_dir: output directory.
        tasks: task names (keys of :data:`TASK_KINDS`).
        sizes: items per split, e.g. ``{"train": 160, "val": 40, "test": 80}``; each image or
            scene yields one sample of every task of its modality.
        seed: the seed everything derives from (item ``i`` of modality ``m`` draws from
            ``default_rng([seed, m, i])``).
        image_size: canvas side in pixels.

    Returns:
        ``data_dir``.
    """
    unknown = sorted(set(tasks) - set(TASK_KINDS))
    if unknown:
        raise ValueError(f"unknown study task(s) {unknown}; known: {sorted(TASK_KINDS)}.")
    root = Path(data_dir)
    for sub in ("images", "scenes", "tasks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    out: dict[tuple[str, str], list[dict[str, Any]]] = {(t, s): [] for t in tasks for s in SPLITS}
    index = 0
    for split in SPLITS:
        for _ in range(sizes[split]):
            for kind in ("2d", "3d"):
                kind_tasks = [t for t in tasks if TASK_KINDS[t] == kind]
                if not kind_tasks:
                    continue
                rng = np.random.default_rng([seed, _SEED_KIND[kind], index])
                if kind == "2d":
                    item = f"img_{index:05d}"
                    world = random_shapes(rng, "easy")
                    path = root / "images" / f"{item}.png"
                    if not path.is_file():
                        render_image(world, image_size, rng, 0).save(path, format="PNG")
                else:
                    item = f"scene_{index:05d}"
                    world = random_objects(rng, "easy")
                    path = root / "scenes" / f"{item}.npy"
                    if not path.is_file():
                        np.save(path, sample_points(rng, world, "easy"))
                        boxes = np.asarray([o.box for o in world], dtype=np.float32)
                        np.save(root / "scenes" / f"{item}_boxes.npy", boxes)
                for task in kind_tasks:
                    task_rng = np.random.default_rng(
                        [seed, _SEED_KIND[kind], index, zlib.crc32(task.encode())]
                    )
                    out[(task, split)].append(task_samples(task, task_rng, item, world))
            index += 1
    for (task, split), samples in out.items():
        path = root / "tasks" / f"{task}_{split}.json"
        path.write_text(json.dumps(samples, indent=1) + "\n", encoding="utf-8")
    return root
