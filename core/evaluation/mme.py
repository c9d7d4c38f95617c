"""MME scores: per-question accuracy and per-image accuracy+ of yes/no answers, summed by ability."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from octavius.evaluation.task_metric import TaskMetric, as_text_list, get_field
from octavius.registry import METRICS

__all__ = ["MME_COGNITION", "MME_PERCEPTION", "MMEScore", "parse_yes_no"]

#: MME's perception subtasks (eval_tool/calculation.py ``eval_type_dict``).
MME_PERCEPTION: tuple[str, ...] = (
    "existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark",
    "artwork", "OCR",
)  # fmt: skip
#: MME's cognition subtasks.
MME_COGNITION: tuple[str, ...] = (
    "commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning",
)  # fmt: skip


def parse_yes_no(answer: str) -> str:
    """MME's ``parse_pred_ans``: ``"yes"``/``"no"`` if the lower-cased answer is one, else the one
    found in its first four characters (yes first), else ``"other"``."""
    text = answer.lower()
    if text in ("yes", "no"):
        return text
    head = text[:4]
    if "yes" in head:
        return "yes"
    if "no" in head:
        return "no"
    return "other"


@METRICS.register_module()
class MMEScore(TaskMetric):
    """MME (Fu et al. 2023) as its official ``eval_tool/calculation.py`` scores it (MixLoRA Tables 1–2).

    Every image has two yes/no questions. Per subtask: ``acc`` = correct questions / questions,
    ``acc+`` = images with both questions correct / images, ``score = 100·acc + 100·acc+`` (0–200).
    ``perception`` sums the scores of the 10 perception subtasks present, ``cognition`` of the 4
    cognition subtasks, ``total`` both. Answers are read with :func:`parse_yes_no`; anything else
    counts as wrong. Keys per (dataset, task) group: ``{subtask}_acc``, ``{subtask}_acc_plus``,
    ``{subtask}``, ``perception``, ``cognition``, ``total``.

    Sample fields: ``pred_text``; ``gt_text`` (``"Yes"``/``"No"``); ``subtask`` (MME's category
    folder, e.g. ``"existence"``); the image as ``image_id`` or the first of ``image_paths``.

    Args:
        task_types: Task types scored (default ``["vqa"]``).
        datasets: See :class:`~octavius.evaluation.task_metric.TaskMetric` (e.g. ``["mme"]``).
        collect_device: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
        prefix: See :class:`~octavius.evaluation.task_metric.TaskMetric`.
    """

    default_task_types = ("vqa",)

    def score_sample(self, sample: Any) -> dict[str, Any]:
        """Whether the yes/no answer is right, with the sample's subtask and image."""
        subtask = get_field(sample, "subtask", None)
        if subtask is None:
            raise ValueError(
                "MMEScore: data samples need a 'subtask' field (MME's category, e.g. 'existence'); "
                "the MMEBenchmark dataset sets it"
            )
        image = get_field(sample, "image_id", None)
        if image is None:
            paths = get_field(sample, "image_paths", None) or []
            image = paths[0] if paths else get_field(sample, "sample_id")
        refs = [r.strip().lower() for r in as_text_list(get_field(sample, "gt_text"))]
        answer = parse_yes_no(str(get_field(sample, "pred_text")))
        return {"subtask": str(subtask), "image": str(image), "correct": answer in refs}

    def summarize(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """Per-subtask acc, acc+ and score; perception, cognition and total sums."""
        by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in records:
            by_task[r["subtask"]].append(r)
        out: dict[str, float] = {}
        sums = {"perception": 0.0, "cognition": 0.0}
        for subtask, rows in sorted(by_task.items()):
            images: dict[str, list[bool]] = defaultdict(list)
            for r in rows:
                images[r["image"]].append(bool(r["correct"]))
            acc = sum(r["correct"] for r in rows) / len(rows)
            acc_plus = sum(all(v) and len(v) == 2 for v in images.values()) / len(images)
            score = 100.0 * acc + 100.0 * acc_plus
            out[f"{subtask}_acc"] = 100.0 * acc
            out[f"{subtask}_acc_plus"] = 100.0 * acc_plus
            out[subtask] = score
            if subtask in MME_PERCEPTION:
                sums["perception"] += score
            elif subtask in MME_COGNITION:
                sums["cognition"] += score
        out.update(sums)
        out["total"] = sums["perception"] + sums["cognition"]
        return out
