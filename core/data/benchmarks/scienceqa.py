"""ScienceQA's official ``problems.json`` + ``pid_splits.json`` as instruction samples."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from octavius.data.benchmarks.base import BenchmarkDataset, conversation, letters_options
from octavius.data.errors import DataError
from octavius.registry import DATASETS

__all__ = ["ScienceQABenchmark", "format_scienceqa_question"]


def format_scienceqa_question(problem: Mapping[str, Any]) -> str:
    """``Context: …\\n<question>\\nOptions: (A) … (B) …`` (LLaVA's ScienceQA prompt, without CoT)."""
    context = str(problem.get("hint") or "").strip() or "N/A"
    options = letters_options(problem["choices"])
    return f"Context: {context}\n{problem['question']}\nOptions: {options}"


@DATASETS.register_module()
class ScienceQABenchmark(BenchmarkDataset):
    """ScienceQA (Lu et al. 2022) from its release files; ScienceQA-IMG by default.

    ``ann_file`` is ``problems.json`` (``{pid: {question, choices, answer, hint, image, split,
    …}}``); the split's problem ids come from ``pid_splits.json`` next to it when present, else
    from each problem's ``split``. Images are ``<image_root>/<split>/<pid>/image.png``, the release
    layout. With ``image_only`` (ScienceQA-IMG, the subset Octavius and LAMM report) problems
    without an image are left out. Samples are multiple-choice (task ``vqa``) with ``options`` and
    ``gt_index`` for :class:`~octavius.evaluation.MultipleChoiceAccuracy` (``protocol="lamm"``).

    Args:
        split: ``"test"``, ``"val"``, ``"train"``, ``"minival"``…
        image_only: Only problems with an image.
        **kwargs: :class:`~octavius.data.instruction_dataset.InstructionDataset` arguments.
    """

    def __init__(
        self, *args: Any, split: str = "test", image_only: bool = True, **kwargs: Any
    ) -> None:
        self.split = split
        self.image_only = bool(image_only)
        kwargs.setdefault("default_task", "vqa")
        super().__init__(*args, **kwargs)

    def read_records(self, source: str) -> Iterator[tuple[str, int | str, Any, DataError | None]]:
        """One record per problem of the split, located as ``problems.json:problem <pid>``."""
        path = Path(source)
        if not path.is_file():
            raise DataError(
                "missing_annotation", f"benchmark file not found: {source}", source=source
            )
        problems = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(problems, Mapping):
            raise DataError(
                "malformed_json", "problems.json must map problem ids to problems", source=source
            )
        splits_file = path.with_name("pid_splits.json")
        if splits_file.is_file():
            pids = json.loads(splits_file.read_text(encoding="utf-8"))[self.split]
        else:
            pids = [pid for pid, p in problems.items() if p.get("split") == self.split]
        for pid in pids:
            problem = problems.get(str(pid))
            where = f"problem {pid}"
            if problem is None:
                error = DataError(
                    "malformed_sample", "listed in pid_splits.json but not in problems.json"
                )
                yield source, where, None, error.at(source, where, str(pid))
                continue
            if self.image_only and not problem.get("image"):
                continue
            yield source, where, {**problem, "pid": str(pid)}, None

    def convert_record(self, problem: dict[str, Any], index: int) -> dict[str, Any]:
        """The multiple-choice sample of one problem."""
        pid = problem["pid"]
        gt = int(problem["answer"])
        question = format_scienceqa_question(problem)
        sample: dict[str, Any] = {
            "id": pid,
            "conversations": conversation(
                f"<image>\n{question}" if problem.get("image") else question,
                f"({'ABCDEFGHIJ'[gt]}) {problem['choices'][gt]}",
            ),
            "options": list(problem["choices"]),
            "gt_index": gt,
        }
        if problem.get("image"):
            sample["image"] = f"{problem.get('split', self.split)}/{pid}/{problem['image']}"
        return sample
