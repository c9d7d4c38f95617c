"""Base of the benchmark loaders: a benchmark's own files → checked instruction records."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from octavius.data.annotation_records import Turn
from octavius.data.errors import DataError
from octavius.data.instruction_dataset import InstructionDataset

__all__ = ["BenchmarkDataset", "conversation", "letters_options"]

_LETTERS = "ABCDEFGHIJ"


def conversation(question: str, answer: str) -> list[dict[str, str]]:
    """A one-turn LLaVA-style conversation."""
    return [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]


def letters_options(options: Iterable[Any]) -> str:
    """``(A) first (B) second …`` — the option format the metrics and templates read."""
    return " ".join(f"({_LETTERS[i]}) {o}" for i, o in enumerate(options))


class BenchmarkDataset(InstructionDataset):
    """An :class:`InstructionDataset` whose samples come from :meth:`read_samples`.

    Subclasses turn the benchmark's files (``ann_file``, under ``data_root``) into LLaVA/LAMM-style
    raw samples (``conversations`` plus any ground-truth fields); every sample is then parsed and
    checked like an annotation-file sample (files, placeholders, length), and every keyword of
    :class:`InstructionDataset` applies. Ground-truth fields travel in the data sample's ``extra``
    dict, where the metrics find them.
    """

    def read_samples(self, path: Path) -> Iterable[dict[str, Any]]:
        """Raw samples of the benchmark file or directory ``path``."""
        raise NotImplementedError(f"{type(self).__name__} must implement read_samples(path)")

    def load_data_list(self) -> list[dict[str, Any]]:
        """Read, convert, parse and check every sample (see :class:`InstructionDataset`)."""
        source = str(self.ann_file)
        if not Path(source).exists():
            raise DataError(
                "missing_annotation", f"benchmark file not found: {source}", source=source
            )
        records: list[dict[str, Any]] = []
        for index, raw in enumerate(self.read_samples(Path(source))):
            line = f"#{index}"
            try:
                record = self.parser.parse(raw, source, line)
                if self.validate:
                    try:
                        self.encoder.encode(
                            [Turn(r, t) for r, t in record["turns"]], record["task_type"]
                        )
                    except DataError as err:
                        raise err.at(source, line, record["sample_id"]) from None
            except DataError as err:
                if self.on_error == "raise":
                    raise
                self.skip_log.add(err)
                continue
            record["dataset"] = self.name
            records.append(record)
        self.skip_log.report(kept=len(records))
        if not records:
            raise DataError(
                "empty_dataset",
                f"no usable sample (skipped {self.skip_log.total}); see the errors above.",
                source=source,
            )
        return records
