"""Transform: rewrite a detection answer with shuffled boxes and random sentence templates.

The Octavius release (OpenGVLab/LAMM) keeps each 2D detection answer as its boxes and classes
(``OctaviusDataset.get_2d_data`` parses LAMM's ``<Item><x1>…<cls>…</Item>`` XML, coordinates
clipped to [0, 1]) and writes the answer text anew at every training step
(``Octavius.reconstruct_gt_input``): the boxes in a random order (``torch.randperm``), each in one
of 14 sentences drawn at random (``DET_ANSWER_TEMPLATE``, ``np.random.choice``), its box as
``str([round(x, 2) for x in box])``, the sentences joined by spaces. Every epoch thus sees another
wording and order of the same objects. Only the first answer of a conversation is rewritten, as
in the release.
"""

from __future__ import annotations

import xml.dom.minidom
from collections.abc import Sequence
from typing import Any

import numpy as np

from octavius.data.errors import DataError
from octavius.evaluation.box_parsing import parse_boxes
from octavius.registry import TRANSFORMS

__all__ = ["DETECTION_ANSWER_TEMPLATES", "RetemplateDetectionAnswer", "parse_detection_answer"]

#: The release's sentence templates (``DET_ANSWER_TEMPLATE`` in ``octavius.py``), verbatim.
DETECTION_ANSWER_TEMPLATES: tuple[str, ...] = (
    "The {P} position of the image contains an object that can be classified as {C}.",
    "The object present at the {P} coordinate in the image is classified as {C}.",
    "There is an object at the {P} location of the image that can be identified as belonging to "
    "the category of {C}.",
    "At the {P} position of the image, there is an object categorized as {C}.",
    "At the {P} of the image, there is an item that falls under the category of {C}.",
    "At the coordinates of {P} position of the image, there exists an object categorized as {C}.",
    "The {P} position of the image features an object that falls under the category of {C}.",
    "There is an object at the {P} position of the image, and its category is {C}.",
    "Upon close inspection of the image, it can be observed that there is an object positioned at "
    "{P} that belongs to the {C} category.",
    "At the exact coordinates of {P} in the image, there is an object that can be identified as "
    "belonging to the {C} category, and this object stands out from the rest of the objects in "
    "the image due to its unique color and pattern.",
    "Scanning through the image, it becomes evident that there is an object at {P} that falls "
    "under the {C} category.",
    "By carefully examining the image, one can spot an object at {P} that belongs to the {C} "
    "category.",
    "Positioned at {P} within the image is an object that can be classified as belonging to the "
    "{C} category, and this object is also the only one in the image that has a specific type of "
    "texture and a distinctive shape that sets it apart from the other objects.",
    "Upon careful examination of the image, it can be observed that there is an object positioned "
    "precisely at {P} that falls under the {C} category, and this object is also the only one in "
    "the image that has a specific type of pattern or design that makes it stand out from the "
    "rest of the objects.",
)


def _clip(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def parse_detection_answer(text: str) -> list[tuple[str, list[float]]] | None:
    """``(class, [x1, y1, x2, y2])`` pairs of a detection answer; ``None`` when it has none.

    Reads LAMM's XML (``<Item><x1>…</x1>…<cls>…</cls></Item>``, coordinates clipped to [0, 1] as
    the release does) or ``"name [x1, y1, x2, y2]"`` items.
    """
    if "<Item>" in text:
        try:
            root = xml.dom.minidom.parseString(text.strip()).documentElement
        except Exception:
            return None

        def field(item: Any, tag: str) -> str:
            return item.getElementsByTagName(tag)[0].firstChild.data

        try:
            return [
                (
                    str(field(item, "cls")),
                    [_clip(float(field(item, k))) for k in ("x1", "y1", "x2", "y2")],
                )
                for item in root.getElementsByTagName("Item")
            ] or None
        except (IndexError, AttributeError, ValueError):
            return None
    # The metrics' parser: the words before each box, fillers removed, are its class.
    found = [
        (box.label or "object", list(box.coords))
        for box in parse_boxes(text)
        if len(box.coords) == 4
    ]
    return found or None


@TRANSFORMS.register_module()
class RetemplateDetectionAnswer:
    """Rewrite the first answer of 2D detection samples as the release does (module docstring).

    Runs before :class:`~octavius.data.encode_conversation.EncodeConversation`, on
    ``results['turns']`` of samples whose ``task_type`` is in ``task_types``. Randomness comes from
    NumPy's global generator, which mmengine seeds per worker (as the release's ``np.random`` and
    ``torch.randperm``), or from a private generator when ``seed`` is given.

    Args:
        task_types: task types to rewrite.
        templates: sentence templates with ``{P}`` (box) and ``{C}`` (class).
        digits: decimals of the box numbers.
        seed: seed of a private generator; ``None`` uses NumPy's global one.
    """

    def __init__(
        self,
        task_types: Sequence[str] = ("detection",),
        templates: Sequence[str] = DETECTION_ANSWER_TEMPLATES,
        digits: int = 2,
        seed: int | None = None,
    ) -> None:
        if isinstance(task_types, str):
            raise TypeError(
                f"RetemplateDetectionAnswer: task_types must be a list, e.g. ['{task_types}']."
            )
        bad = [t for t in templates if "{P}" not in t or "{C}" not in t]
        if not templates or bad:
            raise ValueError(
                f"RetemplateDetectionAnswer: every template needs {{P}} and {{C}}; got {bad or templates!r}."
            )
        self.task_types = frozenset(task_types)
        self.templates = tuple(templates)
        self.digits = digits
        self.rng = np.random.default_rng(seed) if seed is not None else None

    def _randint(self, high: int) -> int:
        if self.rng is not None:
            return int(self.rng.integers(high))
        return int(np.random.randint(high))

    def _permutation(self, n: int) -> list[int]:
        rng = self.rng if self.rng is not None else np.random
        return [int(i) for i in rng.permutation(n)]

    def render(self, items: list[tuple[str, list[float]]]) -> str:
        """The boxes in a random order, each in a random template, joined by spaces."""
        sentences = []
        for index in self._permutation(len(items)):
            name, box = items[index]
            template = self.templates[self._randint(len(self.templates))]
            box_text = str([round(x, self.digits) for x in box])
            sentences.append(template.format(P=box_text, C=name))
        return " ".join(sentences)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if results.get("task_type") not in self.task_types:
            return results
        turns = list(results["turns"])
        index = next((i for i, (role, _) in enumerate(turns) if role == "assistant"), None)
        if index is None:
            return results
        items = parse_detection_answer(turns[index][1])
        if items is None:
            raise DataError(
                "bad_detection_answer",
                "the detection answer holds no box (LAMM <Item> XML or 'name [x1, y1, x2, y2]'):"
                f" {turns[index][1][:120]!r}",
            )
        turns[index] = (turns[index][0], self.render(items))
        return {**results, "turns": turns}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task_types={sorted(self.task_types)}, templates={len(self.templates)})"
