"""Detection recall and precision from boxes written in generated text (greedy or LAMM protocol)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from octavius.evaluation.bipartite import max_bipartite_matching
from octavius.evaluation.box_parsing import Box, box_iou, match_boxes, normalize_label, parse_boxes
from octavius.evaluation.class_synonyms import ClassSynonyms
from octavius.evaluation.lamm_detection_parser import parse_lamm_boxes
from octavius.evaluation.task_metric import TaskMetric, get_field
from octavius.registry import METRICS

_PROTOCOLS = ("greedy", "lamm")
_LAMM_THRESHOLDS = (0.5, 0.25)


@METRICS.register_module()
class DetectionMetric(TaskMetric):
    """Recall and precision of boxes parsed from text (Octavius Table 1 "Det. (IoU=0.5)").

    Two protocols:

    ``protocol="lamm"`` — the evaluation of the paper's numbers, LAMM's ``LAMM_Detection``
    (OpenGVLab/LAMM ``src/ChEF/metric/detection.py``): the answer is read sentence by sentence with
    :func:`~octavius.evaluation.lamm_detection_parser.parse_lamm_boxes` (one box and one class per
    sentence, class before or after the box in LAMM's phrasings); predictions and references are
    matched by a maximum bipartite matching
    (:func:`~octavius.evaluation.bipartite.max_bipartite_matching`) on IoU ≥ threshold, once
    ignoring classes and once requiring :class:`~octavius.evaluation.class_synonyms.ClassSynonyms`
    to accept the predicted class for the reference's. For every threshold ``t`` (default 0.5 and
    0.25) it reports, over a (dataset, task) group, ``recall@t`` and ``prec@t`` with the class and
    ``recall_wocat@t`` / ``prec_wocat@t`` without it (LAMM's keys), plus ``recall`` and
    ``precision`` at the first threshold (with the class when ``class_aware``)::

        recall = 100 · Σ matched / Σ reference boxes      prec = 100 · Σ matched / Σ predicted boxes

    ``protocol="greedy"`` — the default, kept for free-form answers such as the synthetic data's
    ``"red square [x1, y1, x2, y2]; ..."``: every box in the text is a prediction
    (:func:`~octavius.evaluation.box_parsing.parse_boxes`, class = the name written before it),
    matched one-to-one by decreasing IoU (:func:`~octavius.evaluation.box_parsing.match_boxes`),
    the class compared by name; it reports ``recall`` and ``precision`` at ``iou_thr``.

    Boxes: 2D ``[x1, y1, x2, y2]``; 3D ``[cx, cy, cz, dx, dy, dz]`` (centre and size, LAMM's
    format). References come from ``gt_boxes`` (+ optional ``gt_labels``), from ``gt_objects``
    (LAMM's ``object`` list: ``[{"label": ..., "bbox": [...]}]``), or from ``gt_text``.

    Args:
        protocol: ``"greedy"`` or ``"lamm"``.
        iou_thr: IoU threshold; for ``"lamm"`` also a list (default ``[0.5, 0.25]``).
        class_aware: Greedy: require the same class; LAMM: which variant ``recall``/``precision``
            report.
        classes: Greedy: extra class names to recognise in predictions.
        synonyms: LAMM: more ``name → class`` entries over
            :data:`~octavius.evaluation.class_synonyms.LAMM_DETECTION_SYNONYMS`.
        task_types: Task types scored (default ``["detection"]``).
        collect_device: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        prefix: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        datasets: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
    """

    default_task_types = ("detection",)

    def __init__(
        self,
        iou_thr: float | Sequence[float] | None = None,
        class_aware: bool = True,
        classes: Sequence[str] | None = None,
        protocol: str = "greedy",
        synonyms: Mapping[str, str] | None = None,
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
                f"DetectionMetric: protocol must be one of {_PROTOCOLS}, got {protocol!r}"
            )
        self.protocol = protocol
        if iou_thr is None:
            iou_thr = list(_LAMM_THRESHOLDS) if protocol == "lamm" else 0.5
        thresholds = [iou_thr] if isinstance(iou_thr, (int, float)) else list(iou_thr)
        if protocol == "greedy" and len(thresholds) != 1:
            raise ValueError("DetectionMetric: protocol='greedy' takes one iou_thr, e.g. 0.5")
        for t in thresholds:
            if not 0.0 < float(t) <= 1.0:
                raise ValueError(f"DetectionMetric: iou_thr must be in (0, 1], got {t}")
        self.iou_thrs = [float(t) for t in thresholds]
        self.iou_thr = self.iou_thrs[0]
        self.class_aware = bool(class_aware)
        self.classes = [normalize_label(c) for c in classes or ()]
        self.synonyms = ClassSynonyms(synonyms)

    def references(self, sample: Any) -> list[Box]:
        """Reference boxes from ``gt_boxes``/``gt_labels``, ``gt_objects`` or parsed ``gt_text``."""
        boxes = get_field(sample, "gt_boxes", None)
        labels = get_field(sample, "gt_labels", None)
        objects = get_field(sample, "gt_objects", None)
        if boxes is None and objects is not None:
            boxes = [_object_box(o) for o in objects]
            labels = [o.get("label") for o in objects]
        if boxes is None:
            return parse_boxes(str(get_field(sample, "gt_text")))
        boxes = [tuple(float(v) for v in box) for box in _as_list(boxes)]
        labels = (
            [None] * len(boxes)
            if labels is None
            else [None if n is None else normalize_label(str(n)) for n in labels]
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
        pred_text = str(get_field(sample, "pred_text"))
        if self.protocol == "lamm":
            return self._score_lamm(pred_text, refs)
        vocabulary = {r.label for r in refs if r.label} | set(self.classes)
        preds = parse_boxes(pred_text, vocabulary=vocabulary)
        matches = match_boxes(preds, refs, self.iou_thr, self.class_aware)
        return {"tp": len(matches), "n_pred": len(preds), "n_gt": len(refs)}

    def _score_lamm(self, pred_text: str, refs: list[Box]) -> dict[str, Any]:
        dims = len(refs[0].coords) if refs else 4
        preds = parse_lamm_boxes(pred_text, dims=dims)
        ious = [[box_iou(p.coords, r.coords) for r in refs] for p in preds]
        same = [
            [r.label is None or self.synonyms.same_class(r.label, p.label or "") for r in refs]
            for p in preds
        ]
        tp, tp_cls = [], []
        for t in self.iou_thrs:
            hit = [[iou >= t for iou in row] for row in ious]
            tp.append(len(max_bipartite_matching(hit)))
            hit_cls = [[h and s for h, s in zip(hr, sr)] for hr, sr in zip(hit, same)]
            tp_cls.append(len(max_bipartite_matching(hit_cls)))
        return {"tp": tp, "tp_cls": tp_cls, "n_pred": len(preds), "n_gt": len(refs)}

    def summarize(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """Micro-averaged recall and precision in percent."""
        n_gt = sum(r["n_gt"] for r in records)
        n_pred = sum(r["n_pred"] for r in records)

        def pct(count: int, total: int) -> float:
            return 100.0 * count / total if total else 0.0

        if self.protocol == "greedy":
            tp = sum(r["tp"] for r in records)
            return {"recall": pct(tp, n_gt), "precision": pct(tp, n_pred)}
        out: dict[str, float] = {}
        for k, t in enumerate(self.iou_thrs):
            tp = sum(r["tp"][k] for r in records)
            tp_cls = sum(r["tp_cls"][k] for r in records)
            out[f"recall@{t:.2f}"] = pct(tp_cls, n_gt)
            out[f"prec@{t:.2f}"] = pct(tp_cls, n_pred)
            out[f"recall_wocat@{t:.2f}"] = pct(tp, n_gt)
            out[f"prec_wocat@{t:.2f}"] = pct(tp, n_pred)
        first = f"{self.iou_thrs[0]:.2f}"
        suffix = "" if self.class_aware else "_wocat"
        out["recall"] = out[f"recall{suffix}@{first}"]
        out["precision"] = out[f"prec{suffix}@{first}"]
        return out


def _object_box(obj: Mapping[str, Any]) -> list[float]:
    box = obj.get("bbox", obj.get("box"))
    if box is None:
        raise ValueError(
            f"DetectionMetric: each gt_objects entry needs 'bbox' (or 'box'), got keys {sorted(obj)}"
        )
    return list(box)


def _as_list(value: Any) -> list:
    return value.tolist() if hasattr(value, "tolist") else list(value)
