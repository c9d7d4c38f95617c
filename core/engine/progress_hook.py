"""``ProgressHook``: progress bars with ETA for training and evaluation, and tokens/s.

mmengine's ``LoggerHook`` prints a log line every few iterations; this hook adds a live progress
bar (tqdm) with the remaining time, the current loss, LR and throughput, and records the
throughput as the scalar ``train/tokens_per_s`` so ``LoggerHook`` and every visualizer backend
(TensorBoard included) log it next to the loss, each auxiliary loss and the LR.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from tqdm.auto import tqdm

from octavius.registry import HOOKS

TOKENS_SCALAR = "train/tokens_per_s"


def count_text_tokens(data_batch: Any) -> int | None:
    """Text tokens (prompt + response, no padding) in a collated batch, or ``None`` if unknown.

    Reads ``data_batch["inputs"]["input_ids"]``: a list of 1-D sequences (before padding, as
    ``instruction_collate`` produces) or a padded ``(b, n)`` tensor with an ``attention_mask``.
    """
    if not isinstance(data_batch, Mapping):
        return None
    inputs = data_batch.get("inputs")
    if not isinstance(inputs, Mapping) or "input_ids" not in inputs:
        return None
    ids = inputs["input_ids"]
    if isinstance(ids, torch.Tensor):
        mask = inputs.get("attention_mask")
        return int(mask.sum()) if isinstance(mask, torch.Tensor) else ids.numel()
    if isinstance(ids, Sequence):
        return sum(len(x) for x in ids)
    return None


def _scalar(value: Any) -> float | None:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach())
    if isinstance(value, (int, float)):
        return float(value)
    return None


@HOOKS.register_module()
class ProgressHook(Hook):
    """Show progress with ETA (training, validation, test) and log text tokens per second.

    Args:
        show: Draw bars; ``None`` draws them on the main process only (other ranks stay quiet).
        log_tokens: Record ``train/tokens_per_s``, text tokens of the batch (without padding)
            divided by the wall time since the previous iteration, per process.
        postfix_keys: Keys of the training outputs shown on the bar (the loss dict of the
            model after mmengine's parsing: ``loss`` and each ``loss_*`` / auxiliary term).
        mininterval: Minimum seconds between bar redraws.
    """

    priority = "NORMAL"  # before LoggerHook (BELOW_NORMAL), so the throughput is in its line

    def __init__(
        self,
        show: bool | None = None,
        log_tokens: bool = True,
        postfix_keys: Sequence[str] = ("loss",),
        mininterval: float = 0.5,
    ) -> None:
        if isinstance(postfix_keys, str):
            raise TypeError(f"ProgressHook: postfix_keys must be a list, e.g. ['{postfix_keys}'].")
        if mininterval < 0:
            raise ValueError(f"ProgressHook: mininterval must be >= 0, got {mininterval}.")
        self.show = show
        self.log_tokens = log_tokens
        self.postfix_keys = tuple(postfix_keys)
        self.mininterval = mininterval
        self._bar: tqdm | None = None
        self._eval_bar: tqdm | None = None
        self._last_time: float | None = None

    def _enabled(self) -> bool:
        return is_main_process() if self.show is None else bool(self.show)

    def _open(self, total: int | None, initial: int, desc: str) -> None:
        self._close()
        self._bar = tqdm(
            total=total,
            initial=initial,
            desc=desc,
            unit="it",
            dynamic_ncols=True,
            mininterval=self.mininterval,
            disable=not self._enabled(),
            leave=True,
        )

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    @staticmethod
    def _train_total(runner: Any) -> int | None:
        loop = runner.train_loop
        if hasattr(loop, "max_iters"):
            return int(loop.max_iters)
        try:
            return int(loop.max_epochs) * len(runner.train_dataloader)
        except TypeError:  # an iterable loader has no length
            return None

    def before_train(self, runner: Any) -> None:
        """Open the training bar at the current iteration (a resumed run starts part-way)."""
        self._open(self._train_total(runner), runner.iter, "train")
        self._last_time = None

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        """Start the clock at the first iteration (later ones chain from the previous end)."""
        if self._last_time is None:
            self._last_time = time.perf_counter()

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        """Advance the bar; record tokens/s; show loss, LR and throughput."""
        now = time.perf_counter()
        elapsed = now - (self._last_time or now)
        self._last_time = now
        postfix: dict[str, str] = {}
        tokens = count_text_tokens(data_batch) if self.log_tokens else None
        if tokens is not None and elapsed > 0:
            rate = tokens / elapsed
            runner.message_hub.update_scalar(TOKENS_SCALAR, rate)
            postfix["tok/s"] = f"{rate:.0f}"
        if isinstance(outputs, Mapping):
            for key in self.postfix_keys:
                value = _scalar(outputs.get(key))
                if value is not None:
                    postfix[key] = f"{value:.4f}"
        lrs = runner.optim_wrapper.get_lr() if hasattr(runner.optim_wrapper, "get_lr") else {}
        if isinstance(lrs, Mapping) and lrs.get("lr"):
            postfix["lr"] = f"{lrs['lr'][0]:.2e}"
        if self._bar is not None:
            self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(1)

    def after_train(self, runner: Any) -> None:
        """Close the training bar."""
        self._close()

    def _eval_open(self, loader: Any, desc: str) -> None:
        self._eval_close()
        try:
            total = len(loader)
        except TypeError:
            total = None
        self._eval_bar = tqdm(
            total=total,
            desc=desc,
            unit="batch",
            dynamic_ncols=True,
            mininterval=self.mininterval,
            disable=not self._enabled(),
            leave=False,
        )

    def _eval_step(self) -> None:
        if self._eval_bar is not None:
            self._eval_bar.update(1)

    def _eval_close(self) -> None:
        if self._eval_bar is not None:
            self._eval_bar.close()
            self._eval_bar = None

    def before_val_epoch(self, runner: Any) -> None:
        """Open the validation bar."""
        self._eval_open(runner.val_dataloader, "val")

    def after_val_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        """Advance the validation bar."""
        self._eval_step()

    def after_val_epoch(self, runner: Any, metrics: dict | None = None) -> None:
        """Close the validation bar."""
        self._eval_close()

    def before_test_epoch(self, runner: Any) -> None:
        """Open the test (generation) bar."""
        self._eval_open(runner.test_dataloader, "test")

    def after_test_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        """Advance the test bar."""
        self._eval_step()

    def after_test_epoch(self, runner: Any, metrics: dict | None = None) -> None:
        """Close the test bar."""
        self._eval_close()
