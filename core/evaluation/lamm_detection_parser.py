"""Boxes and classes from a detection answer, read sentence by sentence as LAMM reads them.

Follows ``LAMM_Detection.parser`` (OpenGVLab/LAMM ``src/ChEF/metric/detection.py``):

1. the answer is split into sentences at ``". "``;
2. a sentence gives at most one prediction: its first box and its class;
3. the class comes from LAMM's phrasings, before or after the box — ``"The person object is
   located at [...]"``, ``"... is classified as person"``, ``"categorized as"``, ``"belongs to the
   category of"``, ``"belongs to the person category"``, ``"falls under the category of"``,
   ``"falls under the ... category"``, ``"its category is"``; when several phrasings match, the
   last one in that list wins, as in LAMM;
4. a sentence with a box but no class phrasing, or a 2D box whose corners are not ordered
   (``x1 > x2`` or ``y1 > y2``), gives nothing.

2D boxes are ``[x1, y1, x2, y2]`` with unsigned numbers (LAMM's ``[\\d\\.]+``). 3D boxes are LAMM's
``[cx, cy, cz, length, width, height]`` (centre and size, ``lamm_sysmsg.DETECTION3D_INS``); their
numbers may be negative, since ScanNet coordinates are.
"""

from __future__ import annotations

import re

from octavius.evaluation.box_parsing import Box

__all__ = ["CATEGORY_PATTERNS", "parse_lamm_boxes"]

_ANY = r"[\w\W ]"
#: LAMM's class phrasings, in its order (the last matching one gives the class).
CATEGORY_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        rf"The ({_ANY}+?)(?=object)",
        rf"classified as ({_ANY}+?)(?= is| and| within|\.|,)",
        rf"categorized as ({_ANY}+?)(?= can| at|\.|,)",
        rf"belong(?:s|ing) to the category of ({_ANY}+?)(?= at|\.|,)",
        rf"belong(?:s|ing) to the ({_ANY}+) category",
        rf"falls under the category of ({_ANY}+?)(?=\.|,)",
        rf"falls under the ({_ANY}+) category",
        rf"its category is ({_ANY}+?)(?=\.|,)",
    )
)
_UNSIGNED = r"(\d+(?:\.\d*)?|\.\d+)"
_SIGNED = r"([-+]?(?:\d+(?:\.\d*)?|\.\d+))"
_BOX = {
    4: re.compile(r"\[ ?" + r", ?".join([_UNSIGNED] * 4) + r" ?\]"),
    6: re.compile(r"\[ ?" + r", ?".join([_SIGNED] * 6) + r" ?\]"),
}


def _sentences(text: str) -> list[str]:
    parts = text.strip().split(". ")
    out = []
    for i, part in enumerate(parts):
        part = part.strip()
        if not part:
            continue
        if i == len(parts) - 1 and part.endswith("."):
            part = part[:-1]
        out.append(part + ".")
    return out


def _category(sentence: str) -> str | None:
    found = None
    for pattern in CATEGORY_PATTERNS:
        m = pattern.search(sentence)
        if m is not None:
            found = m
    return found.group(1).strip() if found is not None else None


def parse_lamm_boxes(text: str, dims: int = 4) -> list[Box]:
    """One :class:`Box` (coordinates and class phrase) per sentence that has both.

    Args:
        text: The generated answer.
        dims: 4 for 2D corner boxes, 6 for 3D centre/size boxes.
    """
    if dims not in _BOX:
        raise ValueError(f"parse_lamm_boxes: dims must be 4 (2D) or 6 (3D), got {dims}")
    boxes = []
    for sentence in _sentences(text):
        m = _BOX[dims].search(sentence)
        if m is None:
            continue
        label = _category(sentence)
        if label is None:
            continue
        coords = tuple(float(v) for v in m.groups())
        if dims == 4 and (coords[0] > coords[2] or coords[1] > coords[3]):
            continue
        boxes.append(Box(coords, label))
    return boxes
