"""Detection recall and precision at IoU 0.5 from boxes written in generated text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from octavius.evaluation.box_parsing import Box, match_boxes, normalize_label, parse_boxes
from octavius.evaluation.task_metric import TaskMetric, get_field
from octavius.registry import METRICS


@METRICS.register_module()
class DetectionMetric(TaskMetric):
    """Recall and precision of boxes parsed from text (Octavius Table 1 "Det. (IoU=0.5)").

    Boxes are parsed with :func:`octavius.evaluation.box_parsing.parse_boxes` (format documented
    there: 2D ``[x1, y1, x2, y2]``, 3D ``[cx, cy, cz, dx, dy, dz]``, optional class name before
    each box). Predictions are matched one-to-one to references by greedy IoU
    (:func:`~octavius.evaluation.box_parsing.match_boxes`); a match needs IoU ≥ ``iou_thr`` and,
    when the reference has a class name and ``class_aware`` is set, the same class. Over one
    (dataset, task) group::

        recall    = 100 · Σ matched / Σ reference boxes
        precision = 100 · Σ matched / Σ predicted boxes

    Sample fields: ``pred_text``; references either as ``gt_boxes`` (list of 4- or 6-number
    lists) with optional ``gt_labels`` (one name per box), or as ``gt_text`` in the box format.

    Args:
        iou_thr: IoU threshold for a match.
        class_aware: Require the predicted class to equal the reference's class.
        classes: Extra class names to recognise in predictions (the sample's reference names are
            always recognised), e.g. the dataset's full class list.
        task_types: Task types scored (default ``["detection"]``).
        collect_device: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        prefix: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        datasets: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
    """

    default_task_types = ("detection",)

    def __init__(
        self,
        iou_thr: float = 0.5,
        class_aware: bool = True,
        classes: Sequence[str] | None = None,
        task_types: Sequence[str] | None = None,
        collect_device: str = "cpu",
        prefix: str | None = None,
        datasets: Sequence[str] | None = None,
    ) -> None:
        super().__init__(
            task_types=task_types, collect_device=collect_device, prefix=prefix, datasets=datasets
        )
        if not 0.0 < float(iou_thr) <= 1.0:
            raise ValueError(f"DetectionMetric: iou_thr must be in (0, 1], got {iou_thr}")
        self.iou_thr = float(iou_thr)
        self.class_aware = bool(class_aware)
        self.classes = [normalize_label(c) for c in classes or ()]

    def references(self, sample: Any) -> list[Box]:
        """Reference boxes of a sample, from ``gt_boxes``/``gt_labels`` or parsed ``gt_text``."""
        boxes = get_field(sample, "gt_boxes", None)
        if boxes is None:
            return parse_boxes(str(get_field(sample, "gt_text")))
        boxes = [tuple(float(v) for v in box) for box in _as_list(boxes)]
        labels = get_field(sample, "gt_labels", None)
        labels = (
            [None] * len(boxes) if labels is None else [normalize_label(str(n)) for n in labels]
        )
        if len(labels) != len(boxes):
            raise ValueError(
                f"DetectionMetric: sample has {len(boxes)} gt_boxes but {len(labels)} gt_labels"
            )
        bad = [b for b in boxes if len(b) not in (4, 6)]
        if bad:
            raise ValueError(
                f"DetectionMetric: gt_boxes must have 4 (2D) or 6 (3D) numbers, got {list(bad[0])}"
            )
        return [Box(b, label) for b, label in zip(boxes, labels)]

    def score_sample(self, sample: Any) -> dict[str, Any]:
        """Count matched, predicted and reference boxes of one sample."""
        refs = self.references(sample)
        vocabulary = {r.label for r in refs if r.label} | set(self.classes)
        preds = parse_boxes(str(get_field(sample, "pred_text")), vocabulary=vocabulary)
        matches = match_boxes(preds, refs, self.iou_thr, self.class_aware)
        return {"tp": len(matches), "n_pred": len(preds), "n_gt": len(refs)}

    def summarize(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """Micro-averaged recall and precision in percent."""
        tp = sum(r["tp"] for r in records)
        n_gt = sum(r["n_gt"] for r in records)
        n_pred = sum(r["n_pred"] for r in records)
        return {
            "recall": 100.0 * tp / n_gt if n_gt else 0.0,
            "precision": 100.0 * tp / n_pred if n_pred else 0.0,
        }


def _as_list(value: Any) -> list:
    return value.tolist() if hasattr(value, "tolist") else list(value)
