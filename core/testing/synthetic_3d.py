"""Synthetic 3D instruction samples: point-cloud scenes of coloured objects on a floor.

A scene is a 4 m × 4 m floor (grey points at ``z = 0``) with cubes, spheres and cylinders whose
surfaces are sampled as points. Files per scene (see :mod:`octavius.testing.synthetic`):

- ``<scene_id>.npy``: ``(N, 6)`` float32 rows ``x, y, z, r, g, b`` (metres, colours 0–1);
- ``<scene_id>_boxes.npy``: ``(M, 6)`` float32 instance boxes ``cx, cy, cz, dx, dy, dz``.

Answer formats: detection lists ``<colour> <shape> [cx, cy, cz, dx, dy, dz]`` (box centre and size
in metres, two decimals: LAMM's 3D box format, the one the system prompt, the box parser and the
IoU use) joined by ``"; "``, ordered by the lower ``x`` then ``y`` corner; multiple choice as in 2D.
Captioning and classification samples are about one instance (``object_id``, the row of its box).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from octavius.testing.synthetic_2d import COLOURS, format_box, multiple_choice

__all__ = [
    "DIFFICULTY_3D",
    "SHAPES_3D",
    "Object3D",
    "random_objects",
    "sample_points",
    "scene_samples",
]

SHAPES_3D: tuple[str, ...] = ("cube", "sphere", "cylinder")
ROOM = 4.0

#: Settings per difficulty: object count range, size range (m), points per object, jitter (m), clutter points.
DIFFICULTY_3D: dict[str, dict[str, Any]] = {
    "easy": {
        "objects": (1, 2),
        "size": (0.6, 1.0),
        "points": 256,
        "jitter": 0.0,
        "colours": 3,
        "clutter": 0,
    },
    "medium": {
        "objects": (2, 3),
        "size": (0.4, 0.9),
        "points": 192,
        "jitter": 0.01,
        "colours": 4,
        "clutter": 32,
    },
    "hard": {
        "objects": (3, 5),
        "size": (0.3, 0.8),
        "points": 128,
        "jitter": 0.02,
        "colours": 6,
        "clutter": 96,
    },
}
_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six")
_FLOOR_POINTS = 512


@dataclass(frozen=True)
class Object3D:
    """One object; ``box`` is ``(cx, cy, cz, dx, dy, dz)`` in metres."""

    colour: str
    shape: str
    box: tuple[float, float, float, float, float, float]

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def corners(self) -> tuple[float, ...]:
        cx, cy, cz, dx, dy, dz = self.box
        return (cx - dx / 2, cy - dy / 2, cz - dz / 2, cx + dx / 2, cy + dy / 2, cz + dz / 2)

    @property
    def size_word(self) -> str:
        extent = max(self.box[3:])
        return "small" if extent < 0.5 else "large" if extent >= 0.75 else "medium-sized"


def random_objects(rng: np.random.Generator, difficulty: str) -> list[Object3D]:
    """Objects standing on the floor, apart in the floor plane, distinct (colour, shape) pairs."""
    cfg = DIFFICULTY_3D[difficulty]
    palette = list(COLOURS)[: cfg["colours"]]
    count = int(rng.integers(cfg["objects"][0], cfg["objects"][1] + 1))
    objects: list[Object3D] = []
    for _ in range(300):
        if len(objects) == count:
            break
        size = round(float(rng.uniform(*cfg["size"])), 2)
        cx, cy = (
            round(float(v), 2) for v in rng.uniform(size / 2 + 0.1, ROOM - size / 2 - 0.1, size=2)
        )
        shape = SHAPES_3D[int(rng.integers(len(SHAPES_3D)))]
        height = size if shape != "cylinder" else round(size * 1.5, 2)
        colour = palette[int(rng.integers(len(palette)))]
        candidate = Object3D(colour, shape, (cx, cy, round(height / 2, 2), size, size, height))
        clash = any(
            abs(cx - o.box[0]) < (size + o.box[3]) / 2 + 0.1
            and abs(cy - o.box[1]) < (size + o.box[4]) / 2 + 0.1
            for o in objects
        )
        if clash or any((o.colour, o.shape) == (colour, shape) for o in objects):
            continue
        objects.append(candidate)
    return sorted(objects, key=lambda o: (o.corners[0], o.corners[1]))


def _surface(rng: np.random.Generator, obj: Object3D, n: int) -> np.ndarray:
    cx, cy, cz, dx, dy, dz = obj.box
    if obj.shape == "sphere":
        v = rng.normal(size=(n, 3))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return v * (dx / 2) + (cx, cy, cz)
    if obj.shape == "cylinder":
        theta = rng.uniform(0, 2 * np.pi, n)
        on_top = rng.random(n) < 0.2
        radius = np.where(on_top, np.sqrt(rng.random(n)) * dx / 2, dx / 2)
        z = np.where(on_top, dz, rng.uniform(0, dz, n))
        return np.stack(
            [cx + radius * np.cos(theta), cy + radius * np.sin(theta), z + cz - dz / 2], axis=1
        )
    # cube: a random face per point, a uniform point on it
    p = rng.uniform(-0.5, 0.5, size=(n, 3))
    axis = rng.integers(0, 3, n)
    p[np.arange(n), axis] = np.where(rng.random(n) < 0.5, -0.5, 0.5)
    return p * (dx, dy, dz) + (cx, cy, cz)


def sample_points(rng: np.random.Generator, objects: list[Object3D], difficulty: str) -> np.ndarray:
    """The ``(N, 6)`` float32 cloud of a scene: floor, object surfaces, jitter and clutter."""
    cfg = DIFFICULTY_3D[difficulty]
    floor = np.concatenate(
        [rng.uniform(0, ROOM, size=(_FLOOR_POINTS, 2)), np.zeros((_FLOOR_POINTS, 1))], axis=1
    )
    parts = [np.concatenate([floor, np.full((_FLOOR_POINTS, 3), 0.55)], axis=1)]
    for obj in objects:
        xyz = _surface(rng, obj, cfg["points"])
        rgb = np.clip(
            np.asarray(COLOURS[obj.colour]) / 255.0 + rng.normal(0, 0.03, size=(len(xyz), 3)), 0, 1
        )
        parts.append(np.concatenate([xyz, rgb], axis=1))
    if cfg["clutter"]:
        xyz = rng.uniform((0, 0, 0), (ROOM, ROOM, 1.5), size=(cfg["clutter"], 3))
        parts.append(np.concatenate([xyz, rng.uniform(0, 1, size=(cfg["clutter"], 3))], axis=1))
    points = np.concatenate(parts)
    if cfg["jitter"]:
        points[:, :3] += rng.normal(0, cfg["jitter"], size=(len(points), 3))
    return points.astype(np.float32)


def scene_samples(
    rng: np.random.Generator, objects: list[Object3D], scene_id: str, tasks: list[str]
) -> list[dict[str, Any]]:
    """LAMM-style samples about one scene, one per task in ``tasks``."""
    samples = []
    for task in tasks:
        object_id = None
        meta: dict[str, Any] = {}
        if task == "detection":
            question = "Identify all the objects in the scene and give their bounding boxes."
            answer = "; ".join(f"{o.name} {format_box(o.box)}" for o in objects)
            meta["gt_objects"] = [{"label": o.name, "box": list(o.box)} for o in objects]
        elif task == "vqa":
            target = objects[int(rng.integers(len(objects)))]
            options, letter, text = multiple_choice(rng, target.colour, list(COLOURS))
            question = f"What is the colour of the {target.shape}? Options: {options}"
            answer = f"({letter}) {text}"
            meta.update(answer_letter=letter, question_type="multiple_choice")
        elif task == "vqa_open":
            question = "How many objects are there in the scene?"
            answer = _NUMBERS[len(objects)]
            meta.update(question_type="open")
        elif task == "caption":
            object_id = int(rng.integers(len(objects)))
            obj = objects[object_id]
            question = "Describe this object in the scene."
            answer = f"A {obj.size_word} {obj.name} standing on the floor."
        elif task == "classification":
            object_id = int(rng.integers(len(objects)))
            question = "What kind of object is this?"
            answer = objects[object_id].shape
        else:
            raise ValueError(f"unknown synthetic 3D task {task!r}.")
        sample: dict[str, Any] = {"id": f"{scene_id}_{task}", "scene_id": scene_id}
        if object_id is not None:
            sample["object_id"] = object_id
        sample["task_type"] = "vqa" if task == "vqa_open" else task
        sample["conversations"] = [
            {"from": "human", "value": f"<point_cloud>\n{question}"},
            {"from": "gpt", "value": answer},
        ]
        if meta:
            sample["meta"] = meta
        samples.append(sample)
    return samples
