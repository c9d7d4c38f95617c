"""Base of the benchmark loaders: a benchmark's own files → checked instruction records."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

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
    """An :class:`InstructionDataset` reading a benchmark's own files.

    A benchmark loader overrides only the record parsing: :meth:`convert_record` turns one of the
    benchmark's records into a LLaVA/LAMM-style raw sample (``conversations`` plus any
    ground-truth fields), and, when the benchmark is not a JSON list / JSONL file,
    :meth:`read_records` yields its records with their file and line. Reading, parsing and
    checking (files, placeholders, length), the ``on_error`` policy, the skip summary and the
    ``file:line`` of every error are :meth:`InstructionDataset.load_data_list`'s, shared by every
    loader; every keyword of :class:`InstructionDataset` applies. Ground-truth fields travel in
    the data sample's ``extra`` dict, where the metrics find them.
    """

    def read_records(self, source: str) -> Iterator[tuple[str, int | str, Any, DataError | None]]:
        """The benchmark file's records (a JSON list or JSONL file unless overridden)."""
        if not Path(source).exists():
            raise DataError(
                "missing_annotation", f"benchmark file not found: {source}", source=source
            )
        yield from super().read_records(source)

    def convert_record(self, raw: Any, index: int) -> dict[str, Any]:
        """The instruction sample of one benchmark record."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement convert_record(raw, index)"
        )
