"""Running the analyses on a configured model: build it, load a checkpoint, feed it task batches.

The analysis tools read the same config files as ``tools/train.py`` and ``tools/test.py``:

- models come from :func:`octavius.loading.load_model` (one way for every tool);
- :func:`build_split_dataset` builds the dataset of ``cfg.<split>_dataloader``, optionally with
  the responses encoded (a loss needs them; test sets encode generation prompts);
- :func:`task_label`, :func:`group_by_task`, :func:`labelled_batches` and :func:`task_batches`
  label samples with their task (any format of data-sample fields, e.g. ``"{dataset}/{task_type}"``)
  and batch them;
- :func:`recorded_forward` and :func:`lm_loss` are the ``forward`` of
  :func:`~octavius.analysis.routing_capture.capture_routing` and the ``loss_fn`` of
  :func:`~octavius.analysis.task_gradients.task_interference` for a ``MultimodalLLM``.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from octavius.adapters.recording import RoutingRecorder

__all__ = [
    "build_split_dataset",
    "group_by_task",
    "labelled_batches",
    "lm_loss",
    "recorded_forward",
    "recording_into",
    "task_batches",
    "task_label",
]

SPLITS = ("train", "val", "test")


def default_output_dir(cfg: Any, checkpoint: str | os.PathLike | None = None) -> Path:
    """Where an analysis writes when no ``--out`` is given: ``analysis/`` beside the checkpoint
    (or beside the config's work dir, or under ``work_dirs/`` when neither is set)."""
    return Path(checkpoint or cfg.get("work_dir") or "work_dirs").parent / "analysis"


def _with_responses(section: Any) -> Any:
    """A dataset config whose instruction datasets encode responses (``test_mode=False``)."""
    if isinstance(section, Mapping):
        out = {k: _with_responses(v) for k, v in section.items()}
        if "ann_file" in out:
            out["test_mode"] = False
        return out
    if isinstance(section, list | tuple):
        return type(section)(_with_responses(v) for v in section)
    return section


def build_split_dataset(cfg: Any, split: str = "test", with_responses: bool = False) -> Any:
    """The dataset of ``cfg.<split>_dataloader``, built in the ``octavius`` scope.

    Args:
        cfg: a loaded config.
        split: ``"train"``, ``"val"`` or ``"test"``.
        with_responses: encode every instruction dataset with its responses (for a loss).
    """
    from mmengine.registry import DefaultScope

    from octavius.registry import DATASETS

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    loader = cfg.get(f"{split}_dataloader")
    if not loader or "dataset" not in loader:
        raise KeyError(
            f"{cfg.filename or 'the config'} has no '{split}_dataloader.dataset' section."
        )
    section = copy.deepcopy(
        loader["dataset"].to_dict() if hasattr(loader["dataset"], "to_dict") else loader["dataset"]
    )
    if with_responses:
        section = _with_responses(section)
    with DefaultScope.overwrite_default_scope("octavius"):
        return DATASETS.build(section)


def task_label(sample: Mapping[str, Any], task_key: str = "task_type") -> str:
    """The task of a sample: a field (``"task_type"``) or a format of fields (``"{dataset}/{task_type}"``)."""
    try:
        if "{" in task_key:
            return task_key.format(**sample)
        return str(sample[task_key])
    except KeyError as err:
        raise KeyError(
            f"task_key {task_key!r} reads the field {err} that the samples lack; fields: {sorted(sample)}."
        ) from None


def _meta(dataset: Any, idx: int) -> Mapping[str, Any]:
    """A sample's metadata without running its pipeline when the dataset allows it."""
    source_of = getattr(dataset, "source_of", None)
    if callable(source_of):
        m, i = source_of(idx)
        return {**_meta(dataset.datasets[m], i), "dataset": dataset.names[m]}
    info = getattr(dataset, "get_data_info", None)
    if callable(info):
        return info(idx)
    return dataset[idx]["data_sample"]


def group_by_task(
    dataset: Any, task_key: str = "task_type", tasks: Sequence[str] | None = None
) -> dict[str, list[int]]:
    """Dataset indices per task label, in the order tasks first appear (or ``tasks``' order)."""
    groups: dict[str, list[int]] = {t: [] for t in tasks or []}
    for idx in range(len(dataset)):
        label = task_label(_meta(dataset, idx), task_key)
        if tasks is None or label in groups:
            groups.setdefault(label, []).append(idx)
    empty = [t for t, idx in groups.items() if not idx]
    if empty:
        seen = sorted({task_label(_meta(dataset, i), task_key) for i in range(len(dataset))})
        raise ValueError(f"no sample of task(s) {empty} with task_key={task_key!r}; tasks: {seen}.")
    return groups


def _collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    from octavius.data.collate import instruction_collate

    return instruction_collate(items)


def labelled_batches(
    dataset: Any,
    task_key: str = "task_type",
    batch_size: int = 8,
    max_per_task: int | None = None,
    tasks: Sequence[str] | None = None,
) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """``(collated batch, task label per sample)`` over (up to ``max_per_task`` samples of) each task."""
    for task, indices in group_by_task(dataset, task_key, tasks).items():
        chosen = indices[:max_per_task] if max_per_task else indices
        for start in range(0, len(chosen), batch_size):
            part = chosen[start : start + batch_size]
            yield _collate([dataset[i] for i in part]), [task] * len(part)


def task_batches(
    dataset: Any,
    task_key: str = "task_type",
    batch_size: int = 4,
    batches_per_task: int = 4,
    tasks: Sequence[str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """``batches_per_task`` collated batches of each task (fewer when the task has fewer samples)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for task, indices in group_by_task(dataset, task_key, tasks).items():
        chosen = indices[: batch_size * batches_per_task]
        out[task] = [
            _collate([dataset[i] for i in chosen[s : s + batch_size]])
            for s in range(0, len(chosen), batch_size)
        ]
    return out


@contextlib.contextmanager
def recording_into(model: nn.Module, recorder: RoutingRecorder) -> Iterator[None]:
    """Hand ``recorder`` to the model's routing contexts for the ``with`` block.

    ``MultimodalLLM`` builds a fresh routing context per call and puts its ``routing_recorder``
    in each; the previous recorder is restored afterwards.
    """
    if not hasattr(model, "routing_recorder"):
        raise TypeError(
            f"{type(model).__name__} has no routing_recorder; pass your own forward(batch, "
            "recorder) that sets RoutingContext(recorder=recorder) around the LLM call."
        )
    previous = model.routing_recorder
    model.routing_recorder = recorder
    try:
        yield
    finally:
        model.routing_recorder = previous


def recorded_forward(model: nn.Module) -> Callable[[dict[str, Any], RoutingRecorder], None]:
    """``forward(batch, recorder)``: one prompt forward of a ``MultimodalLLM`` with ``recorder``."""
    if not hasattr(model, "routing_recorder"):
        raise TypeError(
            f"{type(model).__name__} has no routing_recorder; pass your own forward(batch, "
            "recorder) that sets RoutingContext(recorder=recorder) around the LLM call."
        )

    def forward(batch: dict[str, Any], recorder: RoutingRecorder) -> None:
        data = model.data_preprocessor(batch, training=False)
        with recording_into(model, recorder):
            model(data["inputs"], data["data_samples"], mode="tensor")

    return forward


def lm_loss(model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
    """The language-modelling loss of a batch (the task loss of MixLoRA eq. 2, no aux losses)."""
    data = model.data_preprocessor(batch, training=True)
    return model.loss(data["inputs"], data["data_samples"])["loss_lm"]
