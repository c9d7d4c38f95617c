"""PathVQA's open-ended recall and closed-ended accuracy (LLaVA-Med protocol; LLaVA-MoLE Table 2)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from octavius.evaluation.task_metric import TaskMetric, get_field, reference_answers
from octavius.evaluation.text_normalization import normalize_vqa_answer
from octavius.registry import METRICS

__all__ = ["PathVQAMetric", "token_recall"]

_CLOSED_ANSWERS = frozenset({"yes", "no"})


def _words(text: str) -> Counter[str]:
    return Counter(normalize_vqa_answer(text).replace(",", "").split())


def token_recall(prediction: str, reference: str) -> float:
    """LLaVA-Med's open-question recall (``calculate_f1score`` in its ``eval_metrics``).

    After VQA normalisation, ``recall = tp / (tp + fn)`` where ``tp`` counts the prediction's
    occurrences of words the reference has and ``fn`` the reference's occurrences of words the
    prediction lacks. 0 when either side is empty or nothing is shared.
    """
    pred, ref = _words(prediction), _words(reference)
    if not pred or not ref:
        return 0.0
    tp = sum(n for w, n in pred.items() if w in ref)
    fn = sum(n for w, n in ref.items() if w not in pred)
    return tp / (tp + fn) if tp else 0.0


@METRICS.register_module()
class PathVQAMetric(TaskMetric):
    """PathVQA (He et al. 2020) scored as LLaVA-Med does, the numbers LLaVA-MoLE reports.

    Open-ended questions: ``open_recall`` = 100 · mean :func:`token_recall` (the share of the
    reference's words the answer contains). Closed-ended (yes/no) questions: ``closed_accuracy`` =
    100 · share of answers whose normalised words contain the reference and not the opposite answer.
    A question is closed when its ``answer_type`` is ``"CLOSED"`` (PathVQA's field) or, without
    that field, when its reference is yes or no. Sample fields: ``pred_text``, ``gt_text``,
    optional ``answer_type``.

    Args:
        task_types: Task types scored (default ``["vqa"]``).
        collect_device: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        prefix: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        datasets: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
    """

    default_task_types = ("vqa",)

    def score_sample(self, sample: Any) -> dict[str, Any]:
        """Recall (open) or correctness (closed) of one answer."""
        refs = reference_answers(sample)
        pred = str(get_field(sample, "pred_text"))
        kind = get_field(sample, "answer_type", None)
        norm_refs = [normalize_vqa_answer(r) for r in refs]
        closed = (
            str(kind).upper() == "CLOSED"
            if kind is not None
            else bool(norm_refs) and all(r in _CLOSED_ANSWERS for r in norm_refs)
        )
        if closed:
            words = set(_words(pred))
            said = words & _CLOSED_ANSWERS
            correct = any(r in words for r in norm_refs) and len(said) <= 1
            return {"closed": True, "value": float(correct)}
        return {"closed": False, "value": max((token_recall(pred, r) for r in refs), default=0.0)}

    def summarize(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """``open_recall`` and ``closed_accuracy`` over the group's questions of each kind."""
        out = {}
        for closed, name in ((False, "open_recall"), (True, "closed_accuracy")):
            values = [r["value"] for r in records if r["closed"] == closed]
            if values:
                out[name] = 100.0 * sum(values) / len(values)
        return out
