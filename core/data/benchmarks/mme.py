"""MME's question files (``MME_Benchmark_release_version/<subtask>/…``) as instruction samples."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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

    def read_samples(self, path: Path) -> Iterable[dict[str, Any]]:
        """Two yes/no samples per image of every present subtask."""
        if not path.is_dir():
            raise DataError(
                "missing_annotation",
                "MMEBenchmark: ann_file must be MME's release folder (with existence/, count/, …)",
                source=str(path),
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
                lines = [ln for ln in txt.read_text(encoding="utf-8").splitlines() if ln.strip()]
                for k, line in enumerate(lines):
                    question, sep, answer = line.strip().partition("\t")
                    if not sep:
                        raise DataError(
                            "malformed_sample",
                            f"line {k + 1}: expected 'question<TAB>answer'",
                            source=str(txt),
                        )
                    if self.strip_yes_no:
                        question = question.replace(" Please answer yes or no.", "")
                    yield {
                        "id": f"{subtask}/{txt.stem}/{k}",
                        "image": str(image.resolve()),
                        "conversations": conversation(f"<image>\n{question}", answer.strip()),
                        "subtask": subtask,
                        "image_id": f"{subtask}/{txt.stem}",
                    }
