"""ScanQA: BLEU-1..4, ROUGE-L, CIDEr (and METEOR with Java) of open 3D answers (Octavius Table 2)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from typing import Any

from octavius.evaluation.caption import caption_scores
from octavius.evaluation.caption_tokenizer import ptb_tokenize
from octavius.evaluation.task_metric import TaskMetric, get_field, reference_answers
from octavius.evaluation.text_normalization import normalize_vqa_answer
from octavius.registry import METRICS

__all__ = ["ScanQAMetric"]


@METRICS.register_module()
class ScanQAMetric(TaskMetric):
    """ScanQA's answer metrics (Azuma et al. 2022) as LAMM's ``LAMM_3D_Caption`` computes them.

    LAMM scores ScanQA answers with pycocoevalcap: ``Bleu(4)``, ``Meteor()``, ``Rouge()``,
    ``Cider()`` on PTB-tokenised text. Here the tokenisation is
    :func:`~octavius.evaluation.caption_tokenizer.ptb_tokenize` (Python; pycocoevalcap's
    ``PTBTokenizer`` runs Stanford CoreNLP in Java), and BLEU, ROUGE-L and CIDEr are pycocoevalcap's
    pure-Python scorers. METEOR is pycocoevalcap's ``Meteor()``, which runs ``meteor-1.5.jar`` in
    Java: off by default, on with ``meteor=True`` (needs ``java`` on the PATH). Also reported:
    ``EM`` (ScanQA's EM@1), the share of answers equal to a reference after VQA normalisation.
    Keys: ``BLEU-1`` … ``BLEU-4``, ``ROUGE-L``, ``CIDEr``, ``EM`` [, ``METEOR``], all ×100; CIDEr's
    document frequencies come from the group's references. LAMM keys answers by ``scene_id``, so
    two questions about one scene overwrite each other there; here every question counts.

    Sample fields: ``pred_text``, ``gt_text`` (str or list of accepted answers).

    Args:
        meteor: Also compute METEOR (starts a Java process per group).
        task_types: Task types scored (default ``["vqa"]``).
        collect_device: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        prefix: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        datasets: See :class:`~octavius.evaluation.task_metric.TaskMetric` (e.g. ``["scanqa"]``).

    Raises:
        RuntimeError: ``meteor=True`` without ``java`` on the PATH.
    """

    default_task_types = ("vqa",)

    def __init__(
        self,
        meteor: bool = False,
        task_types: Sequence[str] | None = None,
        collect_device: str = "cpu",
        prefix: str | None = None,
        datasets: Sequence[str] | None = None,
    ) -> None:
        super().__init__(
            task_types=task_types, collect_device=collect_device, prefix=prefix, datasets=datasets
        )
        if meteor and shutil.which("java") is None:
            raise RuntimeError(
                "ScanQAMetric: meteor=True runs pycocoevalcap's meteor-1.5.jar and needs `java` on "
                "the PATH; install a JRE or set meteor=False"
            )
        self.meteor = bool(meteor)

    def score_sample(self, sample: Any) -> dict[str, Any]:
        """Tokenised answer and references, and the exact match."""
        refs = reference_answers(sample)
        if not refs:
            raise ValueError("ScanQAMetric: a sample has no reference answer in 'gt_text'")
        pred = str(get_field(sample, "pred_text"))
        norm = normalize_vqa_answer(pred)
        return {
            "pred": ptb_tokenize(pred),
            "refs": [ptb_tokenize(r) for r in refs],
            "em": any(norm == normalize_vqa_answer(r) for r in refs),
        }

    def summarize(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """BLEU-1..4, ROUGE-L, CIDEr, EM (and METEOR) of the group, ×100."""
        from pycocoevalcap.rouge.rouge import Rouge

        preds = [r["pred"] for r in records]
        refs = [r["refs"] for r in records]
        out = caption_scores(preds, refs)
        res = {i: [p] for i, p in enumerate(preds)}
        gts = {i: list(r) for i, r in enumerate(refs)}
        out["ROUGE-L"] = 100.0 * float(Rouge().compute_score(gts, res)[0])
        out["EM"] = 100.0 * sum(bool(r["em"]) for r in records) / len(records)
        if self.meteor:
            from pycocoevalcap.meteor.meteor import Meteor

            out["METEOR"] = 100.0 * float(Meteor().compute_score(gts, res)[0])
        return out
