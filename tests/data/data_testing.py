"""Shared builders for the data and model tests: tiny assets, synthetic data, annotation files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from octavius.testing.synthetic import SyntheticSet, make_synthetic
from octavius.testing.tiny_assets import TinyAssets, build_tiny_assets


def tiny_assets(root: Path) -> TinyAssets:
    """The tiny LLaMA + tokenizer and CLIP tower under ``root``."""
    return build_tiny_assets(root)


def synthetic_set(root: Path, **kwargs: Any) -> SyntheticSet:
    """A small easy synthetic set (8 images, 4 scenes) under ``root``."""
    args = {
        "num_images": 8,
        "num_scenes": 4,
        "difficulty": "easy",
        "seed": 0,
        "image_size": 32,
        "progress": False,
    }
    return make_synthetic(root, **{**args, **kwargs})


def write_json(path: Path, samples: list[Any]) -> Path:
    """Write ``samples`` as a JSON list."""
    path.write_text(json.dumps(samples), encoding="utf-8")
    return path


def write_jsonl(path: Path, lines: list[Any | str]) -> Path:
    """Write one JSON value (or a raw string, for malformed lines) per line."""
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def image_sample(
    sample_id: str, image: str | list[str] | None, question: str, answer: str, task: str = "vqa"
) -> dict[str, Any]:
    """A LLaVA-style sample."""
    sample: dict[str, Any] = {
        "id": sample_id,
        "task_type": task,
        "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}],
    }
    if image is not None:
        sample["image"] = image
    return sample


def save_png(path: Path, colour: tuple[int, int, int] = (200, 30, 30), size: int = 32) -> Path:
    """A plain PNG image."""
    Image.new("RGB", (size, size), colour).save(path)
    return path


def save_scene(root: Path, scene_id: str, num_points: int = 256, num_boxes: int = 2) -> None:
    """A random ``(N, 6)`` point cloud and ``(M, 6)`` boxes for ``scene_id`` under ``root``."""
    rng = np.random.default_rng(7)
    np.save(root / f"{scene_id}.npy", rng.uniform(0, 1, size=(num_points, 6)).astype(np.float32))
    boxes = np.concatenate(
        [rng.uniform(0.2, 0.8, (num_boxes, 3)), np.full((num_boxes, 3), 0.2)], axis=1
    )
    np.save(root / f"{scene_id}_boxes.npy", boxes.astype(np.float32))
