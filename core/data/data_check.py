"""Checking every dataset of a config without training (``python -m octavius data check``).

Each ``InstructionDataset`` found under ``train_dataloader``, ``val_dataloader`` and
``test_dataloader`` (inside mixtures and concatenations too) is built with ``on_error='skip'``
and full validation, so one run lists every problem instead of stopping at the first: samples
kept per task, every skipped sample with its ``file:line`` and reason, the files that are
missing, and a histogram of the samples' lengths in tokens (text plus modality tokens) against
the context length. The path variables of the config (``llm_path``, ``data_root``, …) must point
at something that exists. The check fails when anything was skipped or could not be built.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from octavius.data.errors import DataError

__all__ = [
    "LENGTH_BINS",
    "CheckReport",
    "DatasetCheck",
    "check_config",
    "check_path_variables",
    "iter_dataset_configs",
    "length_histogram",
]

LOADER_KEYS = ("train_dataloader", "val_dataloader", "test_dataloader")
#: Upper bounds of the length histogram's bins (tokens); the last bin is open.
LENGTH_BINS = (64, 128, 256, 512, 1024, 2048, 4096)


@dataclass
class DatasetCheck:
    """What checking one dataset config found.

    Attributes:
        where: the config key of the dataset, e.g. ``train_dataloader.dataset.datasets[1]``.
        name: the dataset's name; ``ann_file``: its annotation file.
        counts: kept samples per task type.
        skipped: every sample left out, with its location and reason.
        lengths: length in tokens of every kept sample.
        max_length: the dataset's context length.
        defaulted: samples whose task type came from the dataset's default.
        fatal: why the dataset could not be built at all, if it could not.
    """

    where: str
    name: str
    ann_file: str
    counts: Counter = field(default_factory=Counter)
    skipped: list[DataError] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    max_length: int | None = None
    defaulted: int = 0
    fatal: str | None = None

    @property
    def missing_files(self) -> list[str]:
        """Messages of the skipped samples whose problem is a missing file."""
        return [str(e) for e in self.skipped if e.reason.startswith("missing_")]

    @property
    def ok(self) -> bool:
        return self.fatal is None and not self.skipped


@dataclass
class CheckReport:
    """Every dataset's check and the path-variable problems of one config."""

    config: str
    datasets: list[DatasetCheck]
    path_errors: list[str]

    @property
    def ok(self) -> bool:
        return not self.path_errors and all(d.ok for d in self.datasets) and bool(self.datasets)

    def render(self) -> str:
        """The human-readable report ``data check`` prints."""
        lines = [f"data check: {self.config}"]
        for error in self.path_errors:
            lines.append(f"  path error: {error}")
        if not self.datasets:
            lines.append("  error: no InstructionDataset in train/val/test_dataloader")
        for check in self.datasets:
            lines.extend(_render_dataset(check))
        kept = sum(sum(d.counts.values()) for d in self.datasets)
        skipped = sum(len(d.skipped) for d in self.datasets)
        failed = sum(d.fatal is not None for d in self.datasets)
        verdict = "OK" if self.ok else "FAILED"
        lines.append(
            f"{verdict}: {len(self.datasets)} dataset(s), {kept} sample(s) kept, {skipped} skipped, "
            f"{failed} not loadable, {len(self.path_errors)} path error(s)"
        )
        return "\n".join(lines)


def _render_dataset(check: DatasetCheck) -> list[str]:
    lines = [f"{check.where}: {check.name} ({check.ann_file})"]
    if check.fatal is not None:
        return [*lines, f"  error: {check.fatal}"]
    kept = sum(check.counts.values())
    lines.append(f"  kept {kept}, skipped {len(check.skipped)}")
    tasks = ", ".join(f"{task} {n}" for task, n in sorted(check.counts.items()))
    lines.append(f"  tasks: {tasks or '-'}")
    if check.defaulted:
        lines.append(f"  task type from the dataset's default: {check.defaulted} sample(s)")
    if check.lengths:
        mean = sum(check.lengths) / len(check.lengths)
        lines.append(
            f"  tokens: min {min(check.lengths)}, mean {mean:.1f}, max {max(check.lengths)}"
            f" (max_length {check.max_length})"
        )
        width = max(n for _, _, n in length_histogram(check.lengths)) or 1
        for low, high, n in length_histogram(check.lengths):
            label = f"{low}-{high - 1}" if high is not None else f"{low}+"
            lines.append(f"    {label:>10} {n:6d} {'#' * round(30 * n / width)}")
    reasons = Counter(e.reason for e in check.skipped)
    for reason, n in sorted(reasons.items()):
        lines.append(f"  skipped ({reason}): {n}")
    for error in check.skipped:
        lines.append(f"    {error}")
    missing = check.missing_files
    if missing:
        lines.append(f"  missing files: {len(missing)}")
    return lines


def length_histogram(
    lengths: Sequence[int], bins: Sequence[int] = LENGTH_BINS
) -> list[tuple[int, int | None, int]]:
    """``(low, high, count)`` per bin: ``low <= length < high``; the last bin has no ``high``."""
    edges = [0, *bins]
    rows = []
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else None
        count = sum(1 for n in lengths if n >= low and (high is None or n < high))
        rows.append((low, high, count))
    return rows


def iter_dataset_configs(cfg: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(config key, dataset config)`` of every ``InstructionDataset`` in the data loaders."""
    from octavius.data.instruction_dataset import InstructionDataset
    from octavius.registry import DATASETS

    def dataset_class(kind: Any) -> Any:
        if not isinstance(kind, str):
            return kind
        try:
            return DATASETS.get(kind)
        except KeyError:  # samplers, collate functions: not datasets
            return None

    def walk(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(node, Mapping):
            cls = dataset_class(node.get("type"))
            if isinstance(cls, type) and issubclass(cls, InstructionDataset):
                yield where, dict(node)
                return
            for key, value in node.items():
                yield from walk(value, f"{where}.{key}")
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                yield from walk(value, f"{where}[{i}]")

    for key in LOADER_KEYS:
        if cfg.get(key) is not None:
            yield from walk(cfg[key], key)


def check_dataset(where: str, dataset_cfg: Mapping[str, Any]) -> DatasetCheck:
    """Build one dataset config with every check on and nothing raised; report what it found."""
    from octavius.registry import DATASETS

    node = copy.deepcopy(dict(dataset_cfg))
    ann_file = str(Path(node.get("data_root") or "") / str(node.get("ann_file", "")))
    name = str(node.get("name") or Path(str(node.get("ann_file", ""))).stem)
    check = DatasetCheck(where=where, name=name, ann_file=ann_file)
    node.update(on_error="skip", validate=True, lazy_init=False, serialize_data=False)
    tokenizer = node.get("tokenizer")
    if isinstance(tokenizer, (str, Path)) and not Path(tokenizer).expanduser().exists():
        # Not looked up on a model hub: the check runs offline and says what is missing.
        check.fatal = f"{where}.tokenizer: tokenizer directory not found: {tokenizer}"
        return check
    try:
        dataset = DATASETS.build(node)
    except DataError as err:
        check.skipped = list(getattr(err, "skipped", []))
        check.fatal = str(err)
        return check
    except (OSError, ValueError, KeyError, TypeError) as err:
        check.fatal = f"{type(err).__name__}: {err}"
        return check
    check.skipped = list(dataset.skip_log.errors)
    check.max_length = dataset.encoder.max_length
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        check.counts[info["task_type"]] += 1
        check.defaulted += bool(info.get("task_defaulted"))
        if info.get("num_tokens") is not None:
            check.lengths.append(int(info["num_tokens"]))
    return check


def check_path_variables(cfg: Mapping[str, Any], names: Sequence[str] | None = None) -> list[str]:
    """A message per path variable of ``cfg`` that points at nothing, naming the fields using it."""
    from octavius.config import PATH_VARIABLES

    problems = []
    for name in names or PATH_VARIABLES:
        value = cfg.get(name)
        if not isinstance(value, str) or Path(value).expanduser().exists():
            continue
        tree = cfg.to_dict() if hasattr(cfg, "to_dict") else cfg
        users = [
            key
            for key, text in _strings(tree, "")
            if key != name and not key.startswith("_") and text.startswith(value)
        ]
        more = f" and {len(users) - 4} more" if len(users) > 4 else ""
        used = f"; used by {', '.join(users[:4])}{more}" if users else ""
        problems.append(f"{name} = {value!r} does not exist{used}")
    return problems


def _strings(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield where, node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _strings(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _strings(value, f"{where}[{i}]")


def check_config(cfg: Mapping[str, Any], prepare: bool = True) -> CheckReport:
    """Check every dataset and path variable of a loaded config.

    Args:
        cfg: a config from :func:`octavius.config.load_config`.
        prepare: first build what the config's ``quickstart`` section declares (tiny models,
            synthetic data), as training would.
    """
    from octavius.registry import import_all_builtins

    import_all_builtins()
    if prepare:
        from octavius.engine.prepare import prepare_assets

        prepare_assets(cfg)
    datasets = [check_dataset(where, node) for where, node in iter_dataset_configs(cfg)]
    source = str(getattr(cfg, "filename", None) or "<config>")
    return CheckReport(config=source, datasets=datasets, path_errors=check_path_variables(cfg))
