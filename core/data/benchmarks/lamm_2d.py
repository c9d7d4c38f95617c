"""LAMM's 2D benchmark files (``2D_Benchmark/meta_file/*.json``) as instruction samples."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from octavius.data.benchmarks.base import BenchmarkDataset, conversation, letters_options
from octavius.data.errors import DataError
from octavius.registry import DATASETS

__all__ = ["LAMM2DBenchmark", "lamm_task"]

# Which ground-truth key marks which task (LAMM's scenario/LAMM_dataset.py loaders).
_TASK_KEYS = (
    ("object", "detection"),
    ("gt_choice", "vqa"),
    ("sentences", "caption"),
    ("label", "classification"),
    ("attr", "classification"),
)
_CLASS_HINT = "Please choose a label from the following shuffled categories: "


def lamm_task(item: dict[str, Any]) -> str:
    """The task of a LAMM benchmark item, from the ground-truth key it carries."""
    for key, task in _TASK_KEYS:
        if key in item:
            return task
    raise DataError(
        "malformed_sample",
        f"a LAMM benchmark item needs one of {[k for k, _ in _TASK_KEYS]}; got keys {sorted(item)}",
    )


def box_sentence(label: Any, box: Sequence[float]) -> str:
    """A reference box written in LAMM's phrasing: ``The cat object is located at [...].``"""
    coords = ", ".join(f"{float(v):g}" for v in box)
    return f"The {label} object is located at [{coords}]." if label else f"[{coords}]."


@DATASETS.register_module()
class LAMM2DBenchmark(BenchmarkDataset):
    """LAMM's 2D benchmark JSON: VOC2012 detection, ScienceQA, Flickr30k, CIFAR-10, CelebA …

    ``ann_file`` is one ``meta_file/*.json`` (``Detection_VOC2012.json``, ``VQA_ScienceQA.json``,
    ``Caption_flickr30k.json``, ``Classification_CIFAR10.json``,
    ``Facial_Classification_CelebA(Hair).json`` …); ``image_root`` the benchmark folder the items'
    ``image`` paths are relative to. Items hold ``query`` and one ground truth, which also sets the
    task: ``object`` (``[{"label", "bbox": [x1, y1, x2, y2]}]``, detection), ``gt_choice`` +
    ``gt_choices`` (multiple choice, task ``vqa``), ``sentences`` (captions), ``label`` or ``attr``
    (classification). The sample keeps them as ``gt_objects``, ``options``/``gt_index`` and
    ``gt_answers`` for :class:`~octavius.evaluation.DetectionMetric`,
    :class:`~octavius.evaluation.MultipleChoiceAccuracy` and the caption metrics.

    Args:
        class_names: Classification: append LAMM's "Please choose a label from the following
            shuffled categories: …" with these names, shuffled per sample (seeded by ``seed``
            and the item index, where LAMM's loader draws at random).
        seed: Seed of that shuffle.
        **kwargs: :class:`~octavius.data.instruction_dataset.InstructionDataset` arguments.
    """

    modality = "image"

    def __init__(
        self, *args: Any, class_names: Sequence[str] | None = None, seed: int = 0, **kwargs: Any
    ) -> None:
        self.class_names = list(class_names or [])
        self.seed = int(seed)
        super().__init__(*args, **kwargs)

    def item_media(self, item: dict[str, Any]) -> dict[str, Any]:
        """The item's image, and its placeholder."""
        return {"image": item["image"]}

    def convert_record(self, item: Any, index: int) -> dict[str, Any]:
        """The instruction sample of one LAMM item (``index``: its place in the file)."""
        if not isinstance(item, dict):
            raise DataError(
                "malformed_sample", f"a LAMM benchmark item must be an object, got {item!r}"
            )
        token = "<image>" if self.modality == "image" else "<point_cloud>"
        task = lamm_task(item)
        question = str(item.get("query", ""))
        extra: dict[str, Any] = {}
        if task == "detection":
            objects = self.objects(item["object"])
            answer = " ".join(box_sentence(o["label"], o["bbox"]) for o in objects)
            extra["gt_objects"] = objects
        elif task == "vqa":
            options = list(item.get("gt_choices") or item.get("choices") or [])
            gt = int(item["gt_choice"])
            if options and "(A)" not in question:
                question = f"{question} Options: {letters_options(options)}"
            answer = f"({'ABCDEFGHIJ'[gt]}) {options[gt]}" if options else str(gt)
            extra.update(options=options, gt_index=gt)
        elif task == "caption":
            answers = [str(s) for s in item["sentences"]]
            answer = answers[0]
            extra["gt_answers"] = answers
        else:
            answer = str(item.get("label", item.get("attr")))
            if self.class_names:
                names = list(self.class_names)
                random.Random(f"{self.seed}:{index}").shuffle(names)
                question = f"{question} {_CLASS_HINT}{', '.join(names)}."
        return {
            "id": str(item.get("id", index)),
            "task_type": task,
            "conversations": conversation(f"{token}\n{question}", answer),
            **self.item_media(item),
            **extra,
        }

    def objects(self, raw: Any) -> list[dict[str, Any]]:
        """Reference objects as ``[{"label", "bbox"}]`` (2D boxes are used as given)."""
        items = raw if isinstance(raw, list) else [raw]
        return [{"label": o.get("label"), "bbox": [float(v) for v in o["bbox"]]} for o in items]
