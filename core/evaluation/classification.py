"""Classification accuracy from generated text."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from octavius.evaluation.class_synonyms import LAMM_CLASSIFICATION_SYNONYMS, ClassSynonyms
from octavius.evaluation.lamm_choice import lamm_class_correct, lamm_smile_label
from octavius.evaluation.task_metric import AccuracyMetric, as_text_list, get_field
from octavius.evaluation.text_normalization import normalize_vqa_answer
from octavius.registry import METRICS

_MATCH_MODES = ("contains", "exact", "lamm", "lamm_smile")


def _mentions(text: str, name: str) -> int | None:
    """Position of ``name`` as whole words in ``text`` (both normalised), else ``None``."""
    m = re.search(rf"(?<![\w']){re.escape(name)}(?![\w'])", text)
    return m.start() if m else None


@METRICS.register_module()
class ClassificationAccuracy(AccuracyMetric):
    """Top-1 classification accuracy (Octavius Tables 1–2 "Cls. Acc@1").

    Prediction and class names are normalised like VQA answers. With ``match='contains'`` (the
    default, since models answer in sentences: "It is a cat.") the prediction is correct when
    the reference class appears in it as whole words; if ``classes`` is given, the predicted class
    is instead the class mentioned first (longest on ties) and must equal the reference. With
    ``match='exact'`` the whole normalised prediction must equal the reference. With
    ``match='lamm'`` the answer is judged as LAMM's ``LAMM_Classification`` judges CIFAR-10
    (:func:`~octavius.evaluation.lamm_choice.lamm_class_correct`: a word of the answer is the label
    or one of its WordNet lemma names, from
    :data:`~octavius.evaluation.class_synonyms.LAMM_CLASSIFICATION_SYNONYMS` plus ``synonyms``),
    the protocol of Octavius Table 1 "Cls. Acc@1" and "Facial Attr Hair". ``match='lamm_smile'``
    is LAMM's CelebA smile rule (:func:`~octavius.evaluation.lamm_choice.lamm_smile_label`: "no" or
    "not" means ``-1``, else ``1``, compared with the reference ``attr``). Sample fields: ``pred_text``, ``gt_text`` (the
    class name, or a list of accepted names).

    Args:
        match: ``"contains"``, ``"exact"``, ``"lamm"`` or ``"lamm_smile"``.
        classes: All class names of the dataset, to tell which class a sentence names.
        synonyms: ``match='lamm'``: more ``name → class`` entries (e.g. CIFAR-100's lemma names).
        task_types: Task types scored (default ``["classification"]``).
        collect_device: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        prefix: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        datasets: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
    """

    default_task_types = ("classification",)

    def __init__(
        self,
        match: str = "contains",
        classes: Sequence[str] | None = None,
        synonyms: Mapping[str, str] | None = None,
        task_types: Sequence[str] | None = None,
        collect_device: str = "cpu",
        prefix: str | None = None,
        datasets: Sequence[str] | None = None,
    ) -> None:
        super().__init__(
            task_types=task_types, collect_device=collect_device, prefix=prefix, datasets=datasets
        )
        if match not in _MATCH_MODES:
            raise ValueError(
                f"ClassificationAccuracy: match must be one of {_MATCH_MODES}, got {match!r}"
            )
        self.match = match
        self.classes = [normalize_vqa_answer(c) for c in classes or ()]
        self.synonyms = ClassSynonyms(synonyms, base=LAMM_CLASSIFICATION_SYNONYMS)

    def predicted_class(self, pred: str) -> str | None:
        """The class of ``self.classes`` mentioned first in a normalised prediction."""
        found = [(pos, -len(c), c) for c in self.classes if (pos := _mentions(pred, c)) is not None]
        return min(found)[2] if found else None

    def score_sample(self, sample: Any) -> dict[str, Any]:
        """Whether the prediction names the reference class."""
        if self.match == "lamm_smile":
            label = lamm_smile_label(str(get_field(sample, "pred_text")))
            return {
                "correct": label in {r.strip() for r in as_text_list(get_field(sample, "gt_text"))}
            }
        if self.match == "lamm":
            raw = str(get_field(sample, "pred_text"))
            labels = as_text_list(get_field(sample, "gt_text"))
            return {"correct": any(lamm_class_correct(raw, g, self.synonyms) for g in labels)}
        pred = normalize_vqa_answer(str(get_field(sample, "pred_text")))
        refs = {normalize_vqa_answer(r) for r in as_text_list(get_field(sample, "gt_text"))}
        if self.match == "exact":
            return {"correct": pred in refs}
        if self.classes:
            return {"correct": self.predicted_class(pred) in refs}
        return {"correct": any(r and _mentions(pred, r) is not None for r in refs)}
