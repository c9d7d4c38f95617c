"""Synthetic 2D instruction samples: coloured shapes on a canvas (see :mod:`octavius.testing.synthetic`).

Answer formats (the evaluation parses them):

- detection: ``<colour> <shape> [x1, y1, x2, y2]`` per object, objects joined by ``"; "`` and
  ordered left to right (by ``x1``, then ``y1``); coordinates are the tight box normalised by the
  image width/height to 0–1, two decimals.
- multiple-choice VQA: options listed as ``(A) text (B) text ...`` in the question; the answer is
  ``(<letter>) <text>``.
- open VQA, captioning, classification: short sentences / single words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "COLOURS",
    "DIFFICULTY",
    "SHAPES_2D",
    "SYNTHETIC_TASKS",
    "Shape2D",
    "format_box",
    "image_samples",
    "join_words",
    "multiple_choice",
    "random_shapes",
    "render_image",
]

#: Colour name → RGB, in the order harder levels add them.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 200, 40),
    "purple": (140, 60, 170),
    "orange": (240, 140, 30),
}
SHAPES_2D: tuple[str, ...] = ("square", "circle", "triangle")

#: Settings per difficulty: object count range, relative size range, palette size, pixel noise.
DIFFICULTY: dict[str, dict[str, Any]] = {
    "easy": {"objects": (1, 2), "size": (0.30, 0.45), "colours": 3, "noise": 0},
    "medium": {"objects": (1, 3), "size": (0.20, 0.40), "colours": 4, "noise": 8},
    "hard": {"objects": (2, 5), "size": (0.12, 0.30), "colours": 6, "noise": 20},
}
_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six")
_LETTERS = "ABCD"


@dataclass(frozen=True)
class Shape2D:
    """One drawn object; ``box`` is ``(x1, y1, x2, y2)`` normalised to 0–1."""

    colour: str
    shape: str
    box: tuple[float, float, float, float]

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"


def format_box(box: tuple[float, ...] | list[float]) -> str:
    """``[0.12, 0.34, 0.56, 0.78]``: numbers with two decimals."""
    return "[" + ", ".join(f"{v:.2f}" for v in box) + "]"


def _overlaps(a: tuple[float, ...], b: tuple[float, ...], margin: float = 0.02) -> bool:
    return not (
        a[2] + margin <= b[0]
        or b[2] + margin <= a[0]
        or a[3] + margin <= b[1]
        or b[3] + margin <= a[1]
    )


def random_shapes(rng: np.random.Generator, difficulty: str) -> list[Shape2D]:
    """Non-overlapping shapes with distinct (colour, shape) pairs."""
    cfg = DIFFICULTY[difficulty]
    palette = list(COLOURS)[: cfg["colours"]]
    count = int(rng.integers(cfg["objects"][0], cfg["objects"][1] + 1))
    shapes: list[Shape2D] = []
    for _ in range(200):  # rejection sampling; a few hundred tries always suffice at these sizes
        if len(shapes) == count:
            break
        size = float(rng.uniform(*cfg["size"]))
        x1, y1 = (float(v) for v in rng.uniform(0.0, 1.0 - size, size=2))
        box = (round(x1, 2), round(y1, 2), round(x1 + size, 2), round(y1 + size, 2))
        colour, shape = (
            palette[int(rng.integers(len(palette)))],
            SHAPES_2D[int(rng.integers(len(SHAPES_2D)))],
        )
        if any(_overlaps(box, s.box) or (s.colour, s.shape) == (colour, shape) for s in shapes):
            continue
        shapes.append(Shape2D(colour, shape, box))
    return sorted(shapes, key=lambda s: (s.box[0], s.box[1]))


def render_image(
    shapes: list[Shape2D], size: int, rng: np.random.Generator, noise: int
) -> Image.Image:
    """Draw ``shapes`` on a light-grey ``size``×``size`` canvas, plus uniform pixel noise."""
    image = Image.new("RGB", (size, size), (235, 235, 235))
    draw = ImageDraw.Draw(image)
    for s in shapes:
        x1, y1, x2, y2 = (round(v * (size - 1)) for v in s.box)
        fill = COLOURS[s.colour]
        if s.shape == "square":
            draw.rectangle((x1, y1, x2, y2), fill=fill)
        elif s.shape == "circle":
            draw.ellipse((x1, y1, x2, y2), fill=fill)
        else:
            draw.polygon([((x1 + x2) / 2, y1), (x2, y2), (x1, y2)], fill=fill)
    if noise:
        pixels = np.asarray(image, dtype=np.int16) + rng.integers(
            -noise, noise + 1, size=(size, size, 3)
        )
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return image


def join_words(parts: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _where(box: tuple[float, ...]) -> str:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    row = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else "middle"
    col = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else "center"
    return "center" if (row, col) == ("middle", "center") else f"{row} {col}"


def multiple_choice(rng: np.random.Generator, answer: str, pool: list[str]) -> tuple[str, str, str]:
    """Up to four options containing ``answer``; returns ``(options text, letter, answer text)``."""
    others = [p for p in pool if p != answer]
    picks = [others[i] for i in rng.permutation(len(others))[: min(3, len(others))]]
    options = [answer, *picks]
    order = rng.permutation(len(options))
    options = [options[i] for i in order]
    letter = _LETTERS[options.index(answer)]
    text = " ".join(f"({_LETTERS[i]}) {o}" for i, o in enumerate(options))
    return text, letter, answer


def image_samples(
    rng: np.random.Generator, shapes: list[Shape2D], image: str, prefix: str, tasks: list[str]
) -> list[dict[str, Any]]:
    """LLaVA-style samples about one image, one per task in ``tasks``."""
    samples = []
    palette = list(COLOURS)
    for task in tasks:
        meta: dict[str, Any] = {}
        if task == "detection":
            question = "Identify all the objects in the image and give their bounding boxes."
            answer = "; ".join(f"{s.name} {format_box(s.box)}" for s in shapes)
            meta["gt_objects"] = [{"label": s.name, "box": list(s.box)} for s in shapes]
        elif task == "vqa":
            target = shapes[int(rng.integers(len(shapes)))]
            options, letter, text = multiple_choice(rng, target.colour, palette)
            question = f"What is the colour of the {target.shape}? Options: {options}"
            answer = f"({letter}) {text}"
            meta.update(answer_letter=letter, question_type="multiple_choice")
        elif task == "vqa_open":
            question = "How many objects are there in the image?"
            answer = _NUMBERS[len(shapes)]
            meta.update(question_type="open")
        elif task == "caption":
            question = "Describe the image briefly."
            parts = [f"a {s.name} at the {_where(s.box)}" for s in shapes]
            answer = f"There {'is' if len(parts) == 1 else 'are'} {join_words(parts)}."
        elif task == "classification":
            largest = max(shapes, key=lambda s: (s.box[2] - s.box[0]) * (s.box[3] - s.box[1]))
            question = "What is the shape of the largest object in the image?"
            answer = largest.shape
        else:
            raise ValueError(f"unknown synthetic 2D task {task!r}; choose from {SYNTHETIC_TASKS}.")
        samples.append(
            {
                "id": f"{prefix}_{task}",
                "image": image,
                "task_type": "vqa" if task == "vqa_open" else task,
                "conversations": [
                    {"from": "human", "value": f"<image>\n{question}"},
                    {"from": "gpt", "value": answer},
                ],
                **({"meta": meta} if meta else {}),
            }
        )
    return samples


#: The tasks each image or scene can yield (``vqa``: multiple choice, ``vqa_open``: open answer).
SYNTHETIC_TASKS: tuple[str, ...] = ("detection", "vqa", "vqa_open", "caption", "classification")
