"""``OctaviusRunner``: mmengine's Runner with pickle-free checkpoints and an exact resume.

mmengine 0.10.7 saves checkpoints with ``torch.save`` of pickled objects and resumes through
``torch.load`` without ``weights_only``, which torch ≥ 2.6 refuses for those objects. This runner
keeps mmengine's training logic and replaces the checkpoint I/O with
:mod:`octavius.checkpoints.checkpoint` (safetensors + JSON, written atomically):

- ``save_checkpoint`` writes a checkpoint directory (``iter_100.pth`` becomes ``iter_100/``);
- ``resume`` and ``load_checkpoint`` read it back, and refuse pickles;
- the default ``CheckpointHook`` becomes :class:`SafeCheckpointHook` (same arguments);
- data loaders get their own ``torch.Generator``, so starting an epoch does not draw from the global
  generator that a resume restores, and validation runs leave the global generators as they found
  them: a resumed run continues the same random stream as an uninterrupted one.

Select it with ``runner_type = 'OctaviusRunner'`` in a config.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from mmengine.dist import master_only
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from octavius.checkpoints.errors import ResumeError
from octavius.checkpoints.rng import capture_rng_state, restore_rng_state
from octavius.checkpoints.runner_state import (
    find_latest_checkpoint,
    load_runner_weights,
    resume_runner,
    save_runner_checkpoint,
)
from octavius.engine.console import console_info, quiet_console
from octavius.registry import RUNNERS

_MMENGINE_CHECKPOINT_HOOK = ("CheckpointHook", "mmengine.CheckpointHook")


@RUNNERS.register_module()
class OctaviusRunner(Runner):
    """An mmengine ``Runner`` whose checkpoints are safetensors + JSON directories.

    Takes the same arguments as :class:`mmengine.runner.Runner`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._rng_before_val: dict[str, Any] | None = None
        super().__init__(*args, **kwargs)

    @property
    def training_rng_state(self) -> dict[str, Any] | None:
        """The training random stream set aside while validation runs (else ``None``)."""
        return self._rng_before_val

    def register_default_hooks(self, hooks: dict | None = None) -> None:
        """Register mmengine's default hooks (``SafeCheckpointHook`` for checkpoints) and
        :class:`~octavius.engine.non_finite_check_hook.NonFiniteCheckHook`."""
        hooks = dict(hooks or {})
        # Stop at the first non-finite loss or weight (``default_hooks.non_finite=None`` opts out).
        hooks.setdefault("non_finite", {"type": "NonFiniteCheckHook"})
        checkpoint = hooks.get("checkpoint", {"type": "CheckpointHook", "interval": 1})
        if isinstance(checkpoint, dict) and checkpoint.get("type") in _MMENGINE_CHECKPOINT_HOOK:
            hooks["checkpoint"] = {**checkpoint, "type": "SafeCheckpointHook"}
        super().register_default_hooks(hooks)

    @staticmethod
    def build_dataloader(
        dataloader: DataLoader | dict, seed: int | None = None, diff_rank_seed: bool = False
    ) -> DataLoader:
        """Build like mmengine, then give the loader its own generator (see module docstring)."""
        loader = Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
        if isinstance(loader, DataLoader) and loader.generator is None:
            loader.generator = torch.Generator().manual_seed(seed if seed is not None else 0)
        return loader

    def call_hook(self, fn_name: str, **kwargs: Any) -> None:
        """Call hooks; around validation, set the global generators aside and restore them."""
        if fn_name == "before_val" and self._rng_before_val is None:
            self._rng_before_val = capture_rng_state()
        super().call_hook(fn_name, **kwargs)
        if fn_name == "after_val" and self._rng_before_val is not None:
            restore_rng_state(self._rng_before_val)
            self._rng_before_val = None

    @master_only
    def save_checkpoint(
        self,
        out_dir: str,
        filename: str,
        file_client_args: dict | None = None,
        save_optimizer: bool = True,
        save_param_scheduler: bool = True,
        meta: dict | None = None,
        by_epoch: bool = True,
        backend_args: dict | None = None,
    ) -> None:
        """Write checkpoint directory ``out_dir/filename`` (a ``.pth`` suffix is dropped)."""
        if file_client_args is not None or backend_args is not None:
            raise ValueError(
                "OctaviusRunner writes checkpoints to the local file system; remove "
                "file_client_args/backend_args from the checkpoint hook config."
            )
        meta = dict(meta or {})
        if by_epoch:
            # Called from after_train_epoch, before the loop counts the epoch as done.
            meta.setdefault("epoch", self.epoch + 1)
            meta.setdefault("iter", self.iter)
        else:
            meta.setdefault("epoch", self.epoch)
            meta.setdefault("iter", self.iter + 1)
        name = filename[: -len(".pth")] if filename.endswith(".pth") else filename
        save_runner_checkpoint(
            self,
            Path(out_dir) / name,
            save_optimizer=save_optimizer,
            save_param_scheduler=save_param_scheduler,
            meta=meta,
        )

    def build_logger(
        self, log_level: int | str = "INFO", log_file: str | None = None, **kwargs: Any
    ):
        """mmengine's logger, with a quiet terminal (:mod:`octavius.engine.console`).

        The log file in the work directory receives every record; the terminal shows warnings,
        errors, the periodic log lines and what Octavius marks for it, through ``tqdm.write``.
        """
        logger = super().build_logger(log_level=log_level, log_file=log_file, **kwargs)
        return quiet_console(logger)

    def load_or_resume(self) -> None:
        """Load ``load_from``, or resume from the work directory.

        ``resume=True`` (``--resume``) follows ``work_dir/last_checkpoint`` (see
        :func:`~octavius.checkpoints.resume.select_resume_checkpoint`) and is an error when
        there is nothing to resume; ``resume='auto'`` (``--resume auto``) starts a new run then,
        with a warning.

        Raises:
            octavius.checkpoints.errors.ResumeError: with ``resume=True`` and no checkpoint, or
                a dangling or garbage ``last_checkpoint``.
        """
        if self._has_loaded:
            return
        if self._resume and self._load_from is None:
            resume_from_work_dir(self)
            return
        super().load_or_resume()

    def resume(
        self,
        filename: str,
        resume_optimizer: bool = True,
        resume_param_scheduler: bool = True,
        map_location: str | Callable = "default",
    ) -> None:
        """Resume weights, optimizer, schedulers, loop position and RNG from a checkpoint."""
        resume_runner(
            self,
            filename,
            resume_optimizer=resume_optimizer,
            resume_param_scheduler=resume_param_scheduler,
            allow_config_change=bool(self.cfg.get("allow_config_change", False)),
        )

    def load_checkpoint(
        self,
        filename: str,
        map_location: str | Callable = "cpu",
        strict: bool = False,
        revise_keys: list | tuple = ((r"^module\.", ""),),
    ) -> dict:
        """Load weights only (``load_from``); unexpected or mis-shaped keys are errors."""
        checkpoint = load_runner_weights(self, filename, strict=strict, key_rules=revise_keys)
        self._has_loaded = True
        return checkpoint


def resume_from_work_dir(runner: Any) -> None:
    """Resume ``runner`` from the newest checkpoint of its work directory (``--resume``).

    Shared by :class:`OctaviusRunner` and
    :class:`~octavius.engine.octavius_flexible_runner.OctaviusFlexibleRunner`: with
    ``resume='auto'`` and nothing to resume a new run starts with a warning; otherwise that is an
    error.

    Raises:
        octavius.checkpoints.errors.ResumeError: ``resume=True`` and no checkpoint in the work
            directory.
    """
    latest = find_latest_checkpoint(runner.work_dir)
    if latest is None:
        if runner._resume != "auto":
            raise ResumeError(
                f"--resume: nothing to resume in {runner.work_dir} (no last_checkpoint and "
                "no iter_N/epoch_N checkpoint). Drop --resume to start a new run, pass "
                "the checkpoint with --resume PATH, or use --resume auto to start anew "
                "when there is none."
            )
        runner.logger.warning(
            f"No checkpoint in {runner.work_dir} to resume from; starting a new run."
        )
        return
    console_info(runner.logger, f"Resuming from {latest}")
    runner.resume(latest)
    runner._has_loaded = True
