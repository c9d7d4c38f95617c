"""ANLS: average normalised Levenshtein similarity (DocVQA; LLaVA-MoLE Table 2 "DocQA")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from octavius.evaluation.task_metric import TaskMetric, get_field, reference_answers
from octavius.registry import METRICS

__all__ = ["ANLS", "anls_score", "levenshtein"]


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions of one character each)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _clean(text: str) -> str:
    return " ".join(text.strip().lower().split())


def anls_score(prediction: str, references: Sequence[str], threshold: float = 0.5) -> float:
    """One question's score: ``max_j s(a_j, o)`` with ``s = 1 − NL`` if ``NL < τ`` else 0.

    ``NL = lev(a, o) / max(|a|, |o|)`` on lower-cased, whitespace-collapsed strings (Biten et al.
    2019, ST-VQA eq. 1; the DocVQA evaluation with τ = 0.5).
    """
    pred = _clean(prediction)
    best = 0.0
    for ref in references:
        gt = _clean(ref)
        longest = max(len(gt), len(pred))
        nl = levenshtein(gt, pred) / longest if longest else 0.0
        best = max(best, 1.0 - nl if nl < threshold else 0.0)
    return best


@METRICS.register_module()
class ANLS(TaskMetric):
    """Average Normalised Levenshtein Similarity of open answers, ×100 (DocVQA's metric).

    ``ANLS = 100 · mean over questions of`` :func:`anls_score` (the best over the question's
    references). Reported as ``anls``. Sample fields: ``pred_text``, ``gt_text`` (str or list).

    Args:
        threshold: τ; a normalised distance at or above it scores 0 (DocVQA: 0.5).
        task_types: Task types scored (default ``["vqa"]``).
        collect_device: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        prefix: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        datasets: See :class:`~octavius.evaluation.task_metric.TaskMetric` (e.g. ``["docvqa"]``).
    """

    default_task_types = ("vqa",)

    def __init__(
        self,
        threshold: float = 0.5,
        task_types: Sequence[str] | None = None,
        collect_device: str = "cpu",
        prefix: str | None = None,
        datasets: Sequence[str] | None = None,
    ) -> None:
        super().__init__(
            task_types=task_types, collect_device=collect_device, prefix=prefix, datasets=datasets
        )
        if not 0.0 < float(threshold) <= 1.0:
            raise ValueError(f"ANLS: threshold must be in (0, 1], got {threshold}")
        self.threshold = float(threshold)

    def score_sample(self, sample: Any) -> dict[str, Any]:
        """The question's ANLS in [0, 1]."""
        refs = reference_answers(sample)
        return {"score": anls_score(str(get_field(sample, "pred_text")), refs, self.threshold)}

    def summarize(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """Mean score ×100."""
        return {"anls": 100.0 * sum(r["score"] for r in records) / len(records)}
