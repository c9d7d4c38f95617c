"""Shared base of the paper metrics: sample fields, task filtering, per-dataset/task results.

The model's ``val_step``/``test_step`` returns one data sample per input (a dict, an mmengine
``BaseDataElement`` or any object with attributes) carrying:

============  ===============================================================================
``pred_text``  the generated answer (str)
``gt_text``    the reference answer; a list of str where several are valid (captions, VQA)
``task_type``  e.g. ``detection``, ``vqa``, ``multiple_choice``, ``classification``, ``caption``
``dataset``    the evaluation set's name, e.g. ``scan2inst``
============  ===============================================================================

plus the task-specific fields each metric documents (``gt_boxes``, ``options``, ``question``…).
Each metric scores only the samples whose ``task_type`` is in its ``task_types`` and reports every
(dataset, task) pair separately under ``"{dataset}/{task_type}/{name}"``, e.g.
``"scan2inst/detection/recall"``. Values are percentages (0–100), as in the papers' tables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from mmengine.evaluator import BaseMetric

_MISSING = object()


class SampleFieldError(KeyError):
    """A data sample lacks a field a metric needs."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _lookup(sample: Any, name: str) -> Any:
    if isinstance(sample, Mapping):
        return sample.get(name, _MISSING)
    return getattr(sample, name, _MISSING)


def get_field(sample: Any, name: str, default: Any = _MISSING) -> Any:
    """Read ``name`` from a dict, a ``BaseDataElement`` or an object; ``default`` if absent.

    A field the annotation file carried beyond the standard ones is found too: the datasets keep
    such fields in the sample's ``extra`` dict (and the synthetic data nests ground truth in
    ``extra["meta"]``), so ``gt_objects``, ``options`` or ``subtask`` reach the metrics.

    Raises:
        SampleFieldError: When the field is absent and no default is given.
    """
    value = _lookup(sample, name)
    if value is _MISSING and name != "extra":
        extra = _lookup(sample, "extra")
        if isinstance(extra, Mapping):
            value = extra.get(name, _MISSING)
            meta = extra.get("meta")
            if value is _MISSING and isinstance(meta, Mapping):
                value = meta.get(name, _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            kind = type(sample).__name__
            raise SampleFieldError(
                f"data sample ({kind}) has no '{name}' field; the model's test_step must return it"
            )
        return default
    return value


def as_text_list(value: Any) -> list[str]:
    """A reference answer as a list of strings (one or several valid answers)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def reference_answers(sample: Any) -> list[str]:
    """The accepted answers: ``gt_answers`` when the sample has them (all of a benchmark's
    references, e.g. five Flickr30k captions), else ``gt_text``."""
    answers = get_field(sample, "gt_answers", None)
    return as_text_list(answers) if answers else as_text_list(get_field(sample, "gt_text"))


class TaskMetric(BaseMetric):
    """Base for metrics computed per (dataset, task type) from generated text.

    Subclasses set ``default_task_types`` and implement :meth:`score_sample` (one record per
    scored sample) and :meth:`summarize` (records of one group → named values).

    Args:
        task_types: Task types this metric scores (case-insensitive); others are skipped.
            ``None`` uses the metric's default; an empty list scores every task.
        datasets: Dataset names this metric scores; ``None`` scores every dataset. Two datasets
            can share a task type and need different metrics (ScienceQA's multiple-choice and
            ScanQA's open answers are both ``vqa``).
        collect_device: mmengine's device for gathering results across processes.
        prefix: Optional prefix for every key (``"{prefix}/{dataset}/{task}/{name}"``).
    """

    default_task_types: tuple[str, ...] = ()

    def __init__(
        self,
        task_types: Sequence[str] | None = None,
        collect_device: str = "cpu",
        prefix: str | None = None,
        datasets: Sequence[str] | None = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        chosen = self.default_task_types if task_types is None else task_types
        if isinstance(chosen, str):
            raise TypeError(
                f"{type(self).__name__}: task_types must be a list of names, e.g. ['{chosen}']"
            )
        self.task_types = frozenset(t.lower() for t in chosen)
        if isinstance(datasets, str):
            raise TypeError(
                f"{type(self).__name__}: datasets must be a list of names, e.g. ['{datasets}']"
            )
        self.datasets = None if datasets is None else frozenset(datasets)

    def applies_to(self, task_type: str, dataset: str | None = None) -> bool:
        """Whether samples of ``task_type`` (from ``dataset``) are scored by this metric."""
        if self.datasets is not None and dataset not in self.datasets:
            return False
        return not self.task_types or task_type.lower() in self.task_types

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Score each sample; one result per sample keeps distributed gathering aligned."""
        for sample in data_samples:
            task = str(get_field(sample, "task_type", "unknown"))
            dataset = str(get_field(sample, "dataset", "unknown"))
            if not self.applies_to(task, dataset):
                self.results.append(None)
                continue
            record = self.score_sample(sample)
            record["_group"] = (dataset, task)
            self.results.append(record)

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Group records by (dataset, task) and summarize each group."""
        groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for record in results:
            if record is not None:
                groups[tuple(record["_group"])].append(record)
        metrics: dict[str, float] = {}
        for (dataset, task), records in sorted(groups.items()):
            for name, value in self.summarize(records).items():
                metrics[f"{dataset}/{task}/{name}"] = float(value)
        return metrics

    def score_sample(self, sample: Any) -> dict[str, Any]:
        """Score one sample (picklable values only: results are gathered across processes)."""
        raise NotImplementedError

    def summarize(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """Reduce the records of one (dataset, task) group to named values."""
        raise NotImplementedError


class AccuracyMetric(TaskMetric):
    """A :class:`TaskMetric` whose records hold ``correct`` (bool); reports ``accuracy`` in %."""

    metric_name = "accuracy"

    def summarize(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """Percentage of correct samples."""
        correct = sum(bool(r["correct"]) for r in records)
        return {self.metric_name: 100.0 * correct / len(records)}
