"""Answers cut by the generation limit: counted per dataset and task for the test summary.

A generated answer is *truncated* when it reached its ``max_new_tokens`` without an EOS token or
a stop string (``pred_truncated`` in the predicted sample, set by
:meth:`octavius.models.multimodal_llm.MultimodalLLM.predict`). A truncated detection answer loses
its last boxes and a truncated caption its end, silently lowering recall and CIDEr, so the test
summary reports how many there were.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TruncationCounts", "count_truncated"]


@dataclass
class TruncationCounts:
    """How many answers were truncated, of how many, per ``(dataset, task)``."""

    total: int = 0
    truncated: int = 0
    per_group: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        """One line for the test summary, e.g. ``Truncated answers: 3 of 120 (voc2012/detection: 3)``."""
        line = (
            f"Truncated answers (hit max_new_tokens without EOS): {self.truncated} of {self.total}"
        )
        if self.per_group:
            parts = ", ".join(f"{d}/{t}: {n}" for (d, t), n in sorted(self.per_group.items()))
            line += f" ({parts})"
        return line


def _get(sample: Any, name: str, default: Any = None) -> Any:
    if isinstance(sample, Mapping):
        return sample.get(name, default)
    return getattr(sample, name, default)


def count_truncated(samples: Iterable[Any]) -> TruncationCounts:
    """Count the predicted samples whose ``pred_truncated`` is true."""
    counts = TruncationCounts()
    for sample in samples:
        counts.total += 1
        if _get(sample, "pred_truncated", False):
            counts.truncated += 1
            group = (
                str(_get(sample, "dataset", "unknown")),
                str(_get(sample, "task_type", "unknown")),
            )
            counts.per_group[group] += 1
    return counts
