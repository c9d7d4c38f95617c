"""Boxes from generated text, IoU of 2D/3D boxes, and one-to-one greedy matching.

Box format (what detection answers and references are expected to contain):

- a 2D box is four numbers ``[x1, y1, x2, y2]`` (corners; any order of the two corners);
- a 3D box is six numbers ``[cx, cy, cz, dx, dy, dz]`` (axis-aligned: centre and size — LAMM's
  ``[x, y, z, length, width, height]``, the format of its 3D system prompt and ``cal_iou_3d``; data
  given as corners is converted once, where it is read, with :func:`corners_to_center_size`);
- brackets ``[ ]`` or parentheses ``( )``; numbers separated by commas and/or spaces; integers,
  decimals (``0.5``, ``.5``, ``3.``), signs and exponents are accepted;
- a class name may precede each box: ``"person [0.1, 0.2, 0.5, 0.9]"``,
  ``"a chair at (1.2 0.4 0.5 0.6 0.6 1.0)"``, ``"dog: [10,20,30,40]"``.

Any words around the boxes are ignored; a bracket holding another count of numbers is not a box.
With a vocabulary of class names (the references' names), a predicted box's class is the name
mentioned closest before it; without one, the words before the box minus filler words
(``the``, ``is``, ``located``, ``at``…) are the name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_SEP = r"(?:\s*[,;]\s*|\s+)"
BOX_PATTERN = re.compile(rf"[\[\(]\s*({_NUM}(?:{_SEP}{_NUM})+)\s*,?\s*[\]\)]")
_NUMBER = re.compile(_NUM)
_BOX_SIZES = (4, 6)
_CLAUSE_BREAK = re.compile(r"[.;,\n]|\band\b|\bthen\b")
_FILLERS = frozenset(
    [
        "a",
        "an",
        "the",
        "there",
        "is",
        "are",
        "was",
        "were",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "of",
        "at",
        "in",
        "on",
        "to",
        "with",
        "for",
        "located",
        "locate",
        "location",
        "position",
        "positioned",
        "placed",
        "found",
        "object",
        "objects",
        "box",
        "boxes",
        "bounding",
        "coordinate",
        "coordinates",
        "detected",
        "detection",
        "class",
        "category",
        "label",
        "here",
        "has",
        "have",
        "one",
        "can",
        "be",
        "see",
        "seen",
        "i",
        "answer",
    ]
)


@dataclass(frozen=True)
class Box:
    """A parsed box: ``coords`` has 4 (2D) or 6 (3D) numbers; ``label`` may be ``None``."""

    coords: tuple[float, ...]
    label: str | None = None


def normalize_label(name: str) -> str:
    """Lower-case, single-spaced class name (how labels are compared)."""
    return " ".join(re.sub(r"[^\w\s-]", " ", name.lower()).split())


def _label_from_vocabulary(segment: str, vocabulary: Sequence[str]) -> str | None:
    best: tuple[int, int, str] | None = None
    text = segment.lower()
    for name in vocabulary:
        words = r"\s+".join(re.escape(w) for w in name.split())
        for m in re.finditer(rf"(?<![\w-]){words}(?:e?s)?(?![\w-])", text):
            key = (m.end(), len(name), name)
            if best is None or key > best:
                best = key
    return best[2] if best else None


def _label_from_words(segment: str) -> str | None:
    clause = _CLAUSE_BREAK.split(segment.lower())[-1]
    words = re.findall(r"[a-z][\w-]*", clause)
    while words and words[-1] in _FILLERS:
        words.pop()
    while words and words[0] in _FILLERS:
        words.pop(0)
    return " ".join(words[-3:]) or None


def parse_boxes(text: str, vocabulary: Iterable[str] | None = None) -> list[Box]:
    """All boxes in ``text``, in order, with the class name before each (see module docs).

    Args:
        text: Generated or reference text.
        vocabulary: Known class names; when given, labels are taken only from it.
    """
    vocab = sorted({normalize_label(v) for v in vocabulary or () if normalize_label(v)})
    boxes: list[Box] = []
    start = 0
    for match in BOX_PATTERN.finditer(text):
        numbers = tuple(float(n) for n in _NUMBER.findall(match.group(1)))
        segment = text[start : match.start()]
        start = match.end()
        if len(numbers) not in _BOX_SIZES:
            continue
        label = _label_from_vocabulary(segment, vocab) if vocab else _label_from_words(segment)
        boxes.append(Box(numbers, label))
    return boxes


def corners_to_center_size(box: Sequence[float]) -> tuple[float, ...]:
    """``[x1, y1, z1, x2, y2, z2]`` (two opposite corners, any order) → ``[cx, cy, cz, dx, dy, dz]``."""
    if len(box) != 6:
        raise ValueError(f"corners_to_center_size: expected 6 numbers, got {list(box)}")
    lo = [min(box[i], box[i + 3]) for i in range(3)]
    hi = [max(box[i], box[i + 3]) for i in range(3)]
    return (*((a + b) / 2 for a, b in zip(lo, hi)), *(b - a for a, b in zip(lo, hi)))


def center_size_to_corners(box: Sequence[float]) -> tuple[float, ...]:
    """``[cx, cy, cz, dx, dy, dz]`` → ``[x1, y1, z1, x2, y2, z2]`` (lower corner, then upper)."""
    if len(box) != 6:
        raise ValueError(f"center_size_to_corners: expected 6 numbers, got {list(box)}")
    half = [abs(box[i + 3]) / 2 for i in range(3)]
    return (*(box[i] - half[i] for i in range(3)), *(box[i] + half[i] for i in range(3)))


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two 2D corner boxes or two axis-aligned 3D centre/size boxes (0 if dims differ)."""
    if len(a) != len(b) or len(a) not in _BOX_SIZES:
        return 0.0
    if len(a) == 4:
        lo_a, hi_a = (min(a[0], a[2]), min(a[1], a[3])), (max(a[0], a[2]), max(a[1], a[3]))
        lo_b, hi_b = (min(b[0], b[2]), min(b[1], b[3])), (max(b[0], b[2]), max(b[1], b[3]))
    else:
        lo_a = tuple(a[i] - abs(a[i + 3]) / 2 for i in range(3))
        hi_a = tuple(a[i] + abs(a[i + 3]) / 2 for i in range(3))
        lo_b = tuple(b[i] - abs(b[i + 3]) / 2 for i in range(3))
        hi_b = tuple(b[i] + abs(b[i + 3]) / 2 for i in range(3))
    inter = vol_a = vol_b = 1.0
    for la, ha, lb, hb in zip(lo_a, hi_a, lo_b, hi_b):
        inter *= max(0.0, min(ha, hb) - max(la, lb))
        vol_a *= ha - la
        vol_b *= hb - lb
    union = vol_a + vol_b - inter
    return inter / union if union > 0 else 0.0


def match_boxes(
    predictions: Sequence[Box],
    references: Sequence[Box],
    iou_thr: float = 0.5,
    class_aware: bool = True,
) -> list[tuple[int, int, float]]:
    """One-to-one greedy matching: pairs by decreasing IoU, each box used at most once.

    A pair qualifies when IoU ≥ ``iou_thr`` and, if ``class_aware`` and the reference has a
    label, the prediction has the same label. A duplicate prediction of an already matched
    reference stays unmatched, so duplicates cannot inflate recall.

    Returns:
        ``(prediction index, reference index, iou)`` for each match.
    """
    candidates = []
    for i, pred in enumerate(predictions):
        for j, ref in enumerate(references):
            if class_aware and ref.label is not None and pred.label != ref.label:
                continue
            iou = box_iou(pred.coords, ref.coords)
            if iou >= iou_thr:
                candidates.append((-iou, i, j))
    candidates.sort()
    used_pred: set[int] = set()
    used_ref: set[int] = set()
    matches = []
    for neg_iou, i, j in candidates:
        if i not in used_pred and j not in used_ref:
            used_pred.add(i)
            used_ref.add(j)
            matches.append((i, j, -neg_iou))
    return matches
