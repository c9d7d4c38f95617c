"""MME's question files (``MME_Benchmark_release_version/<subtask>/…``) as instruction samples."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from octavius.data.benchmarks.base import BenchmarkDataset, conversation
from octavius.data.errors import DataError
from octavius.evaluation.mme import MME_COGNITION, MME_PERCEPTION
from octavius.registry import DATASETS

__all__ = ["MMEBenchmark"]

_IMAGE_EXTENSIONS = (".jpg", ".png", ".jpeg")


def _question_files(folder: Path) -> tuple[list[Path], Path]:
    """The ``.txt`` files of a subtask and the folder of its images (MME's two layouts)."""
    nested = folder / "questions_answers_YN"
    if nested.is_dir():
        return sorted(nested.glob("*.txt")), folder / "images"
    return sorted(folder.glob("*.txt")), folder


@DATASETS.register_module()
class MMEBenchmark(BenchmarkDataset):
    """MME (Fu et al. 2023) from its release folder, for :class:`~octavius.evaluation.MMEScore`.

    ``ann_file`` is the release folder (``MME_Benchmark_release_version``). Each subtask folder
    holds, per image, a ``.txt`` file of two lines ``question<TAB>Yes|No`` — either next to the
    images (``artwork/``, ``celebrity/``, …) or in ``questions_answers_YN/`` with the images in
    ``images/`` — as LAMM's ``MMEDataset`` and MME's ``eval_tool`` read it. A question file without
    its image is skipped, as there. Samples carry ``subtask`` and ``image_id`` (the subtask and
    file stem) for the per-image accuracy+; the task type is ``vqa``.

    Args:
        subtasks: Subtasks to read (default: MME's 14, those present).
        strip_yes_no: Remove " Please answer yes or no." from the questions (LAMM's
            ``generative`` option).
        **kwargs: :class:`~octavius.data.instruction_dataset.InstructionDataset` arguments.
    """

    def __init__(
        self,
        *args: Any,
        subtasks: Sequence[str] | None = None,
        strip_yes_no: bool = False,
        **kwargs: Any,
    ) -> None:
        self.subtasks = list(subtasks or (*MME_PERCEPTION, *MME_COGNITION))
        self.strip_yes_no = bool(strip_yes_no)
        kwargs.setdefault("default_task", "vqa")
        super().__init__(*args, **kwargs)

    def read_records(self, source: str) -> Iterator[tuple[str, int | str, Any, DataError | None]]:
        """One record per question line: ``(txt file, line number, line and its image, None)``."""
        path = Path(source)
        if not path.is_dir():
            raise DataError(
                "missing_annotation",
                "MMEBenchmark: ann_file must be MME's release folder (with existence/, count/, …)",
                source=source,
            )
        for subtask in self.subtasks:
            folder = path / subtask
            if not folder.is_dir():
                continue
            files, image_dir = _question_files(folder)
            for txt in files:
                image = next(
                    (
                        image_dir / (txt.stem + e)
                        for e in _IMAGE_EXTENSIONS
                        if (image_dir / (txt.stem + e)).is_file()
                    ),
                    None,
                )
                if image is None:
                    continue
                lines = txt.read_text(encoding="utf-8").splitlines()
                asked = [(n, text) for n, text in enumerate(lines, start=1) if text.strip()]
                for k, (number, text) in enumerate(asked):
                    raw = {"text": text, "subtask": subtask, "stem": txt.stem, "k": k}
                    yield str(txt), number, {**raw, "image": str(image.resolve())}, None

    def convert_record(self, raw: dict[str, Any], index: int) -> dict[str, Any]:
        """The yes/no sample of one ``question<TAB>answer`` line."""
        question, sep, answer = raw["text"].strip().partition("\t")
        if not sep:
            raise DataError("malformed_sample", "expected 'question<TAB>answer'")
        if self.strip_yes_no:
            question = question.replace(" Please answer yes or no.", "")
        subtask, stem = raw["subtask"], raw["stem"]
        return {
            "id": f"{subtask}/{stem}/{raw['k']}",
            "image": raw["image"],
            "conversations": conversation(f"<image>\n{question}", answer.strip()),
            "subtask": subtask,
            "image_id": f"{subtask}/{stem}",
        }
