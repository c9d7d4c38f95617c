"""``PredictionWriterHook``: write every generated answer of a test run as JSON lines.

The model's ``test_step`` returns one data sample per input (``pred_text``, ``gt_text``,
``task_type``, ``dataset`` and task fields, see :mod:`octavius.evaluation.task_metric`). The
metrics reduce them to numbers; this hook keeps the samples themselves, gathered from every
process in dataset order, in ``predictions.jsonl`` (one JSON object per line) for inspection and
for scoring with other tools.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmengine.dist import collect_results, get_world_size, is_main_process
from mmengine.hooks import Hook

from octavius.evaluation.metric_tables import sample_to_dict, write_predictions_jsonl
from octavius.evaluation.truncation import TruncationCounts, count_truncated
from octavius.registry import HOOKS


@HOOKS.register_module()
class PredictionWriterHook(Hook):
    """Collect the test step's data samples and write them to a JSONL file.

    It also counts the answers cut by the generation limit (:attr:`truncation`), which the test
    summary reports.

    Args:
        out_file: The file to write; relative paths are under the runner's ``work_dir``.
        on_val: Also write the validation predictions (``val_predictions.jsonl`` next to
            ``out_file``), overwritten at each validation.
    """

    priority = "LOW"

    def __init__(self, out_file: str = "predictions.jsonl", on_val: bool = False) -> None:
        if not out_file:
            raise ValueError("PredictionWriterHook: out_file must be a file name.")
        self.out_file = out_file
        self.on_val = on_val
        self._samples: list[dict[str, Any]] = []
        self.written: Path | None = None
        self.truncation: TruncationCounts | None = None

    def _path(self, runner: Any, name: str | None = None) -> Path:
        path = Path(self.out_file)
        if name is not None:
            path = path.with_name(name)
        return path if path.is_absolute() else Path(runner.work_dir) / path

    def _collect(self, outputs: Any) -> None:
        for sample in outputs or []:
            self._samples.append(sample_to_dict(sample))

    def _write(self, runner: Any, path: Path, loader: Any) -> None:
        samples = self._samples
        self._samples = []
        if get_world_size() > 1:
            # The distributed sampler interleaves samples over ranks; collect_results puts them
            # back in dataset order and drops the padding of the last round.
            samples = collect_results(samples, len(loader.dataset), device="cpu") or []
        if is_main_process():
            self.truncation = count_truncated(samples)
            self.written = write_predictions_jsonl(samples, path)
            runner.logger.info(f"Wrote {len(samples)} predictions to {self.written}")

    def before_test_epoch(self, runner: Any) -> None:
        """Forget samples of an earlier run."""
        self._samples = []

    def after_test_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        """Keep the batch's predicted samples."""
        self._collect(outputs)

    def after_test_epoch(self, runner: Any, metrics: dict | None = None) -> None:
        """Write the predictions of the whole test set."""
        self._write(runner, self._path(runner), runner.test_dataloader)

    def before_val_epoch(self, runner: Any) -> None:
        """Forget samples of an earlier validation."""
        self._samples = []

    def after_val_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        """Keep the batch's predicted samples when validation predictions are wanted."""
        if self.on_val:
            self._collect(outputs)

    def after_val_epoch(self, runner: Any, metrics: dict | None = None) -> None:
        """Write the validation predictions when wanted."""
        if self.on_val:
            name = "val_" + Path(self.out_file).name
            self._write(runner, self._path(runner, name), runner.val_dataloader)
