"""Relaxed accuracy: numbers within 5 % of the answer count as right (ChartQA; LLaVA-MoLE Table 2)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from octavius.evaluation.task_metric import (
    AccuracyMetric,
    get_field,
    reference_answers,
)
from octavius.registry import METRICS

__all__ = ["RelaxedAccuracy", "relaxed_correct"]


def _to_float(text: str) -> float | None:
    try:
        if text.endswith("%"):
            return float(text.rstrip("%")) / 100.0
        return float(text)
    except ValueError:
        return None


def relaxed_correct(prediction: str, target: str, max_relative_change: float = 0.05) -> bool:
    """ChartQA's relaxed correctness (Masry et al. 2022, §5; pix2struct's ``relaxed_correctness``).

    When the target is a non-zero number (``"12.5"``, ``"40%"`` = 0.4) and the prediction a
    number, right iff ``|pred − target| / |target| ≤ max_relative_change``; otherwise the two
    strings must be equal ignoring case. Both sides are stripped.
    """
    pred, gt = prediction.strip(), target.strip()
    pred_f, gt_f = _to_float(pred), _to_float(gt)
    if pred_f is not None and gt_f:
        return abs(pred_f - gt_f) / abs(gt_f) <= max_relative_change
    return pred.lower() == gt.lower()


@METRICS.register_module()
class RelaxedAccuracy(AccuracyMetric):
    """ChartQA's relaxed accuracy in percent: :func:`relaxed_correct` against any reference.

    Reported as ``relaxed_accuracy``. Sample fields: ``pred_text``, ``gt_text`` (str or list).

    Args:
        max_relative_change: The numeric tolerance (ChartQA: 0.05).
        task_types: Task types scored (default ``["vqa"]``).
        collect_device: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        prefix: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        datasets: See :class:`~octavius.evaluation.task_metric.TaskMetric` (e.g. ``["chartqa"]``).
    """

    default_task_types = ("vqa",)
    metric_name = "relaxed_accuracy"

    def __init__(
        self,
        max_relative_change: float = 0.05,
        task_types: Sequence[str] | None = None,
        collect_device: str = "cpu",
        prefix: str | None = None,
        datasets: Sequence[str] | None = None,
    ) -> None:
        super().__init__(
            task_types=task_types, collect_device=collect_device, prefix=prefix, datasets=datasets
        )
        if float(max_relative_change) < 0:
            raise ValueError("RelaxedAccuracy: max_relative_change must be ≥ 0")
        self.max_relative_change = float(max_relative_change)

    def score_sample(self, sample: Any) -> dict[str, Any]:
        """Whether the answer is relaxed-correct for a reference."""
        pred = str(get_field(sample, "pred_text"))
        refs = reference_answers(sample)
        return {"correct": any(relaxed_correct(pred, r, self.max_relative_change) for r in refs)}
