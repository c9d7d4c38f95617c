"""Multiple-choice accuracy: the chosen option from a letter or from the option's text."""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Any

from octavius.evaluation.lamm_choice import lamm_choice_correct
from octavius.evaluation.task_metric import AccuracyMetric, get_field
from octavius.evaluation.text_normalization import normalize_vqa_answer
from octavius.registry import METRICS

LETTERS = string.ascii_uppercase
_PROTOCOLS = ("default", "lamm")
_TAIL = r"(?=\s*$|\s*[.,;:!?)\]]|\s+\()"
# In priority order: a bare letter, "answer is X", then "(X)" anywhere, then "X." at the start.
_LETTER_PATTERNS = (
    re.compile(r"^\s*[\(\[]?([A-Za-z])[\)\]]?\s*[.:)]?\s*$"),
    re.compile(r"(?i:answer|option|choice)\s*(?i:is|would be|:)?\s*:?\s*\(?([A-Z])\b"),
    re.compile(rf"(?i:answer|option|choice)\s*(?i:is|would be|:)?\s*:?\s*\(?([a-z]){_TAIL}"),
    re.compile(r"\(([A-Z])\)"),
    re.compile(r"^\s*([A-Z])\s*[.:)]\s"),
)
_OPTIONS_IN_QUESTION = re.compile(r"\(([A-Z])\)\s*(.+?)(?=\s*\([A-Z]\)|\s*$|\n)")


def parse_options(question: str) -> list[str]:
    """Options written in a question as ``(A) text (B) text …``, in letter order."""
    found = {m.group(1): m.group(2).strip() for m in _OPTIONS_IN_QUESTION.finditer(question)}
    options = []
    for letter in LETTERS:
        if letter not in found:
            break
        options.append(found[letter])
    return options


def parse_choice(text: str, options: Sequence[str] | None = None) -> int | None:
    """The index of the option a text chooses, or ``None`` if it chooses none unambiguously.

    Letters are read first ("B", "(B)", "B.", "The answer is B", "Answer: (c)", "option B");
    the article "a" in "The answer is a dog" is not a letter. Otherwise the option whose
    normalised text occurs in the normalised answer is chosen; an option occurring only inside a
    longer one that occurs ("red" in "dark red") does not count, and two options → ``None``.
    """
    n = len(options) if options else len(LETTERS)
    for pattern in _LETTER_PATTERNS:
        m = pattern.search(text)
        if m:
            index = LETTERS.index(m.group(1).upper())
            if index < n:
                return index
    if not options:
        return None
    answer = f" {normalize_vqa_answer(text)} "
    hits = {}
    for i, option in enumerate(options):
        norm = normalize_vqa_answer(option)
        if norm and f" {norm} " in answer:
            hits[i] = f" {norm} "
    # An option found only as part of a longer found option ("dog" in "hot dog") is not chosen.
    kept = [i for i, h in hits.items() if not any(h != o and h in o for o in hits.values())]
    return kept[0] if len(kept) == 1 else None


@METRICS.register_module()
class MultipleChoiceAccuracy(AccuracyMetric):
    """Accuracy of multiple-choice answers (Octavius Table 1 "VQA Acc@1" on ScienceQA).

    Sample fields: ``pred_text``; ``options`` (list of option texts, letter A first) — when
    absent they are read from ``question`` written as ``(A) … (B) …``; the reference as
    ``gt_index`` (int) or ``gt_text`` (a letter such as ``"(B)"`` or the option's text). The
    choice is read with :func:`parse_choice`; an answer choosing nothing counts as wrong.

    With ``protocol="lamm"`` the answer is judged by LAMM's ScienceQA rule instead
    (:func:`~octavius.evaluation.lamm_choice.lamm_choice_correct`: "The answer is (B).",
    "ANSWER: B", "(B)", then the option text), the protocol of Octavius Table 1; with
    ``cot_field`` set (LAMM's ``CoT_answer``), that field's text is put before the answer.

    Args:
        protocol: ``"default"`` (:func:`parse_choice`) or ``"lamm"``.
        cot_field: LAMM protocol: sample field holding a chain-of-thought answer, if any.
        task_types: Task types scored (default ``["multiple_choice"]``).
        collect_device: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        prefix: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        datasets: See :class:`~octavius.evaluation.task_metric.TaskMetric`.

    Raises:
        ValueError: When a sample's reference names no option.
    """

    default_task_types = ("multiple_choice",)

    def __init__(
        self,
        protocol: str = "default",
        cot_field: str | None = None,
        task_types: Sequence[str] | None = None,
        collect_device: str = "cpu",
        prefix: str | None = None,
        datasets: Sequence[str] | None = None,
    ) -> None:
        super().__init__(
            task_types=task_types, collect_device=collect_device, prefix=prefix, datasets=datasets
        )
        if protocol not in _PROTOCOLS:
            raise ValueError(
                f"MultipleChoiceAccuracy: protocol must be one of {_PROTOCOLS}, got {protocol!r}"
            )
        self.protocol = protocol
        self.cot_field = cot_field

    def score_sample(self, sample: Any) -> dict[str, Any]:
        """Whether the chosen option is the reference option."""
        options = get_field(sample, "options", None)
        if options is None:
            options = parse_options(str(get_field(sample, "question", "")))
        options = [str(o) for o in options] or None
        gt_index = get_field(sample, "gt_index", None)
        if gt_index is None:
            gt_text = str(get_field(sample, "gt_text"))
            gt_index = parse_choice(gt_text, options)
            if gt_index is None:
                raise ValueError(
                    f"MultipleChoiceAccuracy: reference {gt_text!r} names no option of {options}; "
                    "give gt_text as a letter like '(B)', or gt_index"
                )
        pred = str(get_field(sample, "pred_text"))
        if self.protocol == "lamm":
            if not options:
                raise ValueError(
                    "MultipleChoiceAccuracy(protocol='lamm'): a sample has no 'options' (LAMM's "
                    "gt_choices) and none are written as (A) ... in its question"
                )
            cot = get_field(sample, self.cot_field, "") if self.cot_field else ""
            return {"correct": lamm_choice_correct(f"{cot or ''}{pred}", options, int(gt_index))}
        choice = parse_choice(pred, options)
        return {"correct": choice is not None and choice == int(gt_index), "choice": choice}
