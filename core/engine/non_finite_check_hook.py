"""``NonFiniteCheckHook``: stop training at the first non-finite loss or weight.

A NaN or Inf loss (or a non-finite gradient, which the optimizer step turns into non-finite
weights) makes every later iteration and checkpoint worthless, and mmengine trains on. This hook
runs after each training iteration, before the checkpoint hook (``ABOVE_NORMAL`` priority), checks
the loss and each of its parts and the trainable parameters, and raises
:class:`NonFiniteTrainingError` naming the iteration, the loss parts and the first bad parameters.
Training stops there, so no checkpoint of the broken state is written and the last good one
(``work_dir/last_checkpoint``) stays what ``--resume`` continues from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from mmengine.hooks import Hook

from octavius.registry import HOOKS

_MAX_LISTED = 5


class NonFiniteTrainingError(FloatingPointError):
    """Training produced a non-finite loss or weight."""


def _value(value: Any) -> float | None:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach().float())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _last_checkpoint(runner: Any) -> str | None:
    record = Path(runner.work_dir) / "last_checkpoint"
    if record.is_file():
        return record.read_text(encoding="utf-8").strip() or None
    return None


@HOOKS.register_module()
class NonFiniteCheckHook(Hook):
    """Raise :class:`NonFiniteTrainingError` at the first non-finite loss or trainable weight.

    Args:
        check_weights: Also check the trainable parameters after the optimizer step (a
            non-finite gradient shows there even when the loss is finite).
    """

    priority = "ABOVE_NORMAL"

    def __init__(self, check_weights: bool = True) -> None:
        self.check_weights = check_weights

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        """Check the loss parts of this iteration and, optionally, the trainable weights."""
        parts = {}
        if isinstance(outputs, Mapping):
            for key, value in outputs.items():
                number = _value(value)
                if number is not None and "loss" in key:
                    parts[key] = number
        bad_parts = [k for k, v in parts.items() if not math.isfinite(v)]
        bad_weights: list[str] = []
        if not bad_parts and self.check_weights:
            from octavius.checkpoints.checkpoint import unwrap_model

            for name, param in unwrap_model(runner.model).named_parameters():
                if param.requires_grad and not bool(torch.isfinite(param.detach()).all()):
                    bad_weights.append(name)
        if not bad_parts and not bad_weights:
            return
        iteration = runner.iter + 1
        shown = ", ".join(f"{k}={v:.4g}" for k, v in parts.items()) or "no loss reported"
        if bad_parts:
            what = f"the loss is not finite ({shown})"
        else:
            listed = ", ".join(bad_weights[:_MAX_LISTED])
            more = len(bad_weights) - _MAX_LISTED
            listed += f" and {more} more" if more > 0 else ""
            what = (
                f"the loss was finite ({shown}) but the optimizer step made {len(bad_weights)} "
                f"trainable parameter(s) non-finite (a non-finite gradient): {listed}"
            )
        last = _last_checkpoint(runner)
        keep = (
            f"The last good checkpoint, {last}, is kept; `--resume` continues from it."
            if last
            else "No checkpoint was written before it."
        )
        raise NonFiniteTrainingError(
            f"training stopped at iteration {iteration}: {what}. {keep} Lower the learning rate "
            "(optim_wrapper.optimizer.lr), clip gradients (optim_wrapper.clip_grad="
            "dict(max_norm=1.0)), or check the samples of this iteration."
        )
