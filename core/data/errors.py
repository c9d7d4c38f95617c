"""Errors and skip accounting for instruction data.

Every problem found in the data raises :class:`DataError`, whose message names the file, the line
(JSONL) or record index (JSON list) and the sample id, and says what was expected. A dataset built
with ``on_error='skip'`` instead records the problem in a :class:`SkipLog` and drops the sample;
the log prints a summary (counts per reason, first few locations) when loading ends, so skipped
samples are always counted and reported, never silently lost.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["DataError", "SkipLog", "data_logger"]


def data_logger() -> logging.Logger:
    """mmengine's current logger when one exists (inside a Runner), else ``octavius.data``."""
    from mmengine.logging import MMLogger

    if MMLogger._instance_dict:  # a Runner (or the user) created one: log where it logs
        return MMLogger.get_current_instance()
    return logging.getLogger("octavius.data")


class DataError(ValueError):
    """A sample that cannot be used as it is.

    Args:
        reason: short machine-readable kind, e.g. ``missing_image`` (used in skip summaries).
        message: what is wrong and what was expected.
        source: the annotation file (or data file) concerned.
        line: 1-based line of a JSONL file, or the 0-based index ``#i`` of a JSON list record.
        sample_id: the sample's ``id`` when known.

    Attributes:
        skipped: for ``empty_dataset``, the errors of the samples that were skipped.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        source: str | None = None,
        line: int | str | None = None,
        sample_id: str | None = None,
    ) -> None:
        self.reason = reason
        self.detail = message
        self.source = source
        self.line = line
        self.sample_id = sample_id
        self.skipped: list[DataError] = []
        super().__init__(self._format())

    @property
    def location(self) -> str:
        """``file:line (sample id)`` as far as known."""
        parts = []
        if self.source is not None:
            parts.append(str(self.source) if self.line is None else f"{self.source}:{self.line}")
        if self.sample_id is not None:
            parts.append(f"sample '{self.sample_id}'")
        return ", ".join(parts) or "unknown location"

    def _format(self) -> str:
        return f"{self.location}: {self.detail}"

    def at(self, source: str | None, line: int | str | None, sample_id: str | None) -> DataError:
        """The same error with missing location fields filled in."""
        return DataError(
            self.reason,
            self.detail,
            self.source if self.source is not None else source,
            self.line if self.line is not None else line,
            self.sample_id if self.sample_id is not None else sample_id,
        )


@dataclass
class SkipLog:
    """Counts of samples skipped under ``on_error='skip'``, by reason, with example locations.

    Attributes:
        name: what the log is about (the annotation file), used in the summary.
        counts: number of skipped samples per reason.
        examples: up to ``max_examples`` error messages per reason.
        errors: every skipped sample's error, in order (``data check`` lists them all).
    """

    name: str
    max_examples: int = 3
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    errors: list[DataError] = field(default_factory=list)

    def add(self, error: DataError) -> None:
        """Record one skipped sample."""
        self.counts[error.reason] += 1
        self.errors.append(error)
        shown = self.examples.setdefault(error.reason, [])
        if len(shown) < self.max_examples:
            shown.append(str(error))

    @property
    def total(self) -> int:
        """Number of skipped samples."""
        return sum(self.counts.values())

    def summary(self, kept: int | None = None) -> str:
        """A printable summary: totals, counts per reason, example locations."""
        if not self.total:
            return f"{self.name}: no sample skipped."
        kept_text = f", {kept} kept" if kept is not None else ""
        lines = [f"{self.name}: skipped {self.total} sample(s){kept_text} (on_error='skip'):"]
        for reason, count in sorted(self.counts.items()):
            lines.append(f"  {reason}: {count}")
            lines.extend(f"    e.g. {example}" for example in self.examples.get(reason, []))
        return "\n".join(lines)

    def report(self, kept: int | None = None) -> None:
        """Log :meth:`summary` as a warning when something was skipped."""
        if self.total:
            data_logger().warning(self.summary(kept))
