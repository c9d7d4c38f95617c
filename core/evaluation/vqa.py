"""VQA exact-match accuracy after the official VQA answer normalisation."""

from __future__ import annotations

from typing import Any

from octavius.evaluation.task_metric import (
    AccuracyMetric,
    get_field,
    reference_answers,
)
from octavius.evaluation.text_normalization import normalize_vqa_answer
from octavius.registry import METRICS


@METRICS.register_module()
class VQAAccuracy(AccuracyMetric):
    """Exact-match accuracy of open answers (Octavius Table 1 "VQA Acc@1" for open questions).

    Prediction and references are normalised with
    :func:`~octavius.evaluation.text_normalization.normalize_vqa_answer` (lower case, punctuation,
    articles, number words → digits, as in the VQA evaluation); a prediction is correct when it
    equals any reference. Sample fields: ``pred_text``, ``gt_text`` (str or list of str).

    Args:
        task_types: Task types scored (default ``["vqa"]``).
        collect_device: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        prefix: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
    """

    default_task_types = ("vqa",)

    def score_sample(self, sample: Any) -> dict[str, Any]:
        """Whether the normalised prediction equals a normalised reference."""
        pred = normalize_vqa_answer(str(get_field(sample, "pred_text")))
        refs = {normalize_vqa_answer(r) for r in reference_answers(sample)}
        return {"correct": pred in refs}
