"""Captioning metrics: BLEU-1..4 and CIDEr with pycocoevalcap's scorers, without Java."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from octavius.evaluation.caption_tokenizer import ptb_tokenize
from octavius.evaluation.task_metric import TaskMetric, get_field, reference_answers
from octavius.registry import METRICS

_SCORES = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr")


def caption_scores(
    predictions: Sequence[str], references: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Corpus BLEU-1..4 (``Bleu(4)``) and CIDEr (``Cider()``, COCO's CIDEr-D) on tokenised text.

    Args:
        predictions: One tokenised caption per item (tokens joined by spaces).
        references: One or more tokenised references per item.

    Returns:
        Scores ×100, as the papers' tables print them.
    """
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    res = {i: [p] for i, p in enumerate(predictions)}
    gts = {i: list(r) for i, r in enumerate(references)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    return {name: 100.0 * float(v) for name, v in zip(_SCORES, [*bleu, cider])}


@METRICS.register_module()
class CaptionMetric(TaskMetric):
    """BLEU-1..4 and CIDEr of generated captions (Octavius Tables 1–2 "Cap.").

    Text is tokenised with :func:`~octavius.evaluation.caption_tokenizer.ptb_tokenize` (the COCO
    evaluation's PTB tokenisation, in Python) and scored with pycocoevalcap's ``Bleu(4)`` and
    ``Cider()`` over each (dataset, task) group — CIDEr's document frequencies come from that
    group's references. Sample fields: ``pred_text``, ``gt_text`` (str or list of references).

    Args:
        task_types: Task types scored (default ``["caption"]``).
        collect_device: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        prefix: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
    """

    default_task_types = ("caption",)

    def score_sample(self, sample: Any) -> dict[str, Any]:
        """The tokenised prediction and references (scores need the whole group)."""
        refs = reference_answers(sample)
        if not refs:
            raise ValueError("CaptionMetric: a sample has no reference caption in 'gt_text'")
        return {
            "pred": ptb_tokenize(str(get_field(sample, "pred_text"))),
            "refs": [ptb_tokenize(r) for r in refs],
        }

    def summarize(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """BLEU-1..4 and CIDEr of the group, ×100."""
        return caption_scores([r["pred"] for r in records], [r["refs"] for r in records])
