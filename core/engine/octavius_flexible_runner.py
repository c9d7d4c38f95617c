"""``OctaviusFlexibleRunner``: mmengine's ``FlexibleRunner`` with Octavius checkpoints and resume.

A config with a top-level ``strategy`` (``FullyShardStrategy``, ``DeepSpeedStrategy``, …) runs on
``FlexibleRunner``, which hands model building, wrapping and checkpoint I/O to the strategy. This
subclass adds what :class:`~octavius.engine.runner.OctaviusRunner` adds to mmengine's ``Runner``:

- data loaders with their own generators, and validation that leaves the global generators as it
  found them, so a resumed run continues the random stream of an uninterrupted one;
- ``--resume`` follows ``work_dir/last_checkpoint`` (refusing to start afresh unless
  ``--resume auto``), and checkpoints are Octavius directories read without unpickling: written by
  the main process for plain and DDP models, by all ranks for ``FullyShardStrategy`` (each saves
  its shards through ``torch.distributed.checkpoint``);
- the quiet console and the non-finite check.

Strategies that keep their own format (:data:`OWN_FORMAT_STRATEGIES`: DeepSpeed's engine
checkpoints, mmengine's FSDP1) are left to mmengine's ``CheckpointHook`` and their own
``save_checkpoint``/``resume``, which ``torch.save``/``torch.load`` pickles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from mmengine.runner import FlexibleRunner
from torch.utils.data import DataLoader

from octavius.checkpoints.rng import capture_rng_state, restore_rng_state
from octavius.checkpoints.runner_state import resume_runner, save_runner_checkpoint
from octavius.engine.console import quiet_console
from octavius.engine.runner import resume_from_work_dir
from octavius.registry import RUNNERS

_MMENGINE_CHECKPOINT_HOOK = ("CheckpointHook", "mmengine.CheckpointHook")
#: Strategies whose parameters live partitioned inside their engine and that save in their own
#: format; every other strategy's model is plain or ``save_octavius_checkpoint`` saves it.
OWN_FORMAT_STRATEGIES = ("DeepSpeedStrategy", "ColossalAIStrategy", "FSDPStrategy")


@RUNNERS.register_module()
class OctaviusFlexibleRunner(FlexibleRunner):
    """An mmengine ``FlexibleRunner`` with Octavius checkpoints (same arguments)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._rng_before_val: dict[str, Any] | None = None
        super().__init__(*args, **kwargs)
        quiet_console(self.strategy.logger)

    def build_strategy(self, strategy: Any = None, *args: Any, **kwargs: Any) -> Any:
        """Build the strategy, finding Octavius strategies (``FullyShardStrategy``) by name.

        ``FlexibleRunner`` builds through mmengine's root registry, which does not see the
        ``octavius`` scope at that point; the class is looked up here instead.
        """
        if isinstance(strategy, dict) and isinstance(strategy.get("type"), str):
            from octavius.registry import STRATEGIES

            found = STRATEGIES.get(strategy["type"])
            if found is not None:
                strategy = {**strategy, "type": found}
        return super().build_strategy(strategy, *args, **kwargs)

    @property
    def writes_octavius_checkpoints(self) -> bool:
        """Whether the strategy saves Octavius checkpoint directories (else its own format)."""
        return type(self.strategy).__name__ not in OWN_FORMAT_STRATEGIES

    @property
    def training_rng_state(self) -> dict[str, Any] | None:
        """The training random stream set aside while validation runs (else ``None``)."""
        return self._rng_before_val

    def register_default_hooks(self, hooks: dict | None = None) -> None:
        """mmengine's defaults with ``SafeCheckpointHook`` (when the strategy writes Octavius
        checkpoints) and :class:`~octavius.engine.non_finite_check_hook.NonFiniteCheckHook`."""
        hooks = dict(hooks or {})
        hooks.setdefault("non_finite", {"type": "NonFiniteCheckHook"})
        checkpoint = hooks.get("checkpoint", {"type": "CheckpointHook", "interval": 1})
        if isinstance(checkpoint, dict):
            kind = checkpoint.get("type")
            if self.writes_octavius_checkpoints and kind in _MMENGINE_CHECKPOINT_HOOK:
                hooks["checkpoint"] = {**checkpoint, "type": "SafeCheckpointHook"}
            elif not self.writes_octavius_checkpoints and kind == "SafeCheckpointHook":
                # The strategy saves in its own format through mmengine's hook.
                hooks["checkpoint"] = {**checkpoint, "type": "CheckpointHook"}
        super().register_default_hooks(hooks)

    @staticmethod
    def build_dataloader(
        dataloader: DataLoader | dict, seed: int | None = None, diff_rank_seed: bool = False
    ) -> DataLoader:
        """Build like mmengine, then give the loader its own generator."""
        loader = FlexibleRunner.build_dataloader(
            dataloader, seed=seed, diff_rank_seed=diff_rank_seed
        )
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
        """Octavius checkpoint ``out_dir/filename`` (collective), or the strategy's own format."""
        if not self.writes_octavius_checkpoints:
            super().save_checkpoint(
                out_dir, filename, file_client_args, save_optimizer, save_param_scheduler,
                meta, by_epoch, backend_args,
            )  # fmt: skip
            return
        from pathlib import Path

        if file_client_args is not None or backend_args is not None:
            raise ValueError(
                "OctaviusFlexibleRunner writes checkpoints to the local file system; remove "
                "file_client_args/backend_args from the checkpoint hook config."
            )
        meta = dict(meta or {})
        meta.setdefault("epoch", self.epoch + 1 if by_epoch else self.epoch)
        meta.setdefault("iter", self.iter if by_epoch else self.iter + 1)
        name = filename[: -len(".pth")] if filename.endswith(".pth") else filename
        save_runner_checkpoint(
            self,
            Path(out_dir) / name,
            save_optimizer=save_optimizer,
            save_param_scheduler=save_param_scheduler,
            meta=meta,
        )

    def load_or_resume(self) -> None:
        """Resume from the work directory (see ``OctaviusRunner.load_or_resume``), or load."""
        if self._has_loaded:
            return
        if self._resume and self._load_from is None and self.writes_octavius_checkpoints:
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
        """Resume weights, optimizer, schedulers, loop position and each rank's RNG."""
        if not self.writes_octavius_checkpoints:
            super().resume(filename, resume_optimizer, resume_param_scheduler, map_location)
            return
        resume_runner(
            self,
            filename,
            resume_optimizer=resume_optimizer,
            resume_param_scheduler=resume_param_scheduler,
            allow_config_change=bool(self.cfg.get("allow_config_change", False)),
        )


__all__ = ["OctaviusFlexibleRunner"]
