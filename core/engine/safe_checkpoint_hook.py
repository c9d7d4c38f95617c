"""``SafeCheckpointHook``: mmengine's checkpoint hook, writing crash-safe, pickle-free checkpoints.

It takes :class:`mmengine.hooks.CheckpointHook`'s arguments and schedule (``interval``,
``by_epoch``, ``max_keep_ckpts``, ``save_last``, ``save_best``, ``rule``, ``save_begin``…) and
changes how checkpoints are written:

- each checkpoint is a directory in the :mod:`octavius.checkpoints.checkpoint` format, written
  atomically, so a run killed while saving leaves the previous checkpoint intact;
- the new checkpoint is complete before the oldest one is pruned (mmengine prunes first);
- ``work_dir/last_checkpoint`` (read by ``resume=True``) is replaced atomically, after the
  checkpoint it names is complete;
- at the start of training, temporary ``.tmp-*`` entries a crashed save left behind are removed,
  and ``max_keep_ckpts`` is enforced on the checkpoint directories found on disk (not on a list
  kept in memory), so a run killed between a save and its pruning is pruned at the next start.

Resuming from these checkpoints needs :class:`~octavius.engine.runner.OctaviusRunner`
(``runner_type = 'OctaviusRunner'``), which reads them without unpickling.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from octavius.checkpoints.atomic import TMP_PREFIX, atomic_write_text
from octavius.checkpoints.checkpoint import WEIGHTS_FILE
from octavius.checkpoints.runner_state import save_runner_checkpoint
from octavius.registry import HOOKS

_UNSUPPORTED = {
    "published_keys": "each checkpoint's adapter.safetensors already holds only the trained weights",
    "file_client_args": "checkpoints are written to the local file system",
    "backend_args": "checkpoints are written to the local file system",
}


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """Save checkpoints periodically, atomically, as safetensors + JSON directories.

    Args:
        interval: Saving period in epochs (``by_epoch``) or iterations; -1 saves only the last.
        by_epoch: Count ``interval`` in epochs instead of iterations.
        max_keep_ckpts: Keep at most this many periodic checkpoints (-1: all).
        filename_tmpl: Directory name template; ``'epoch_{}'`` / ``'iter_{}'`` by default.
        **kwargs: The other arguments of :class:`mmengine.hooks.CheckpointHook`
            (``save_optimizer``, ``save_param_scheduler``, ``out_dir``, ``save_last``,
            ``save_best``, ``rule``, ``greater_keys``, ``less_keys``, ``save_begin``).

    Raises:
        ValueError: For ``published_keys``, ``file_client_args`` or ``backend_args``.
    """

    def __init__(
        self,
        interval: int = -1,
        by_epoch: bool = True,
        max_keep_ckpts: int = -1,
        filename_tmpl: str | None = None,
        **kwargs: Any,
    ) -> None:
        for key, why in _UNSUPPORTED.items():
            if kwargs.get(key) is not None:
                raise ValueError(f"SafeCheckpointHook does not take '{key}': {why}. Remove it.")
            kwargs.pop(key, None)
        if filename_tmpl is None:
            filename_tmpl = "epoch_{}" if by_epoch else "iter_{}"
        if filename_tmpl.endswith(".pth"):
            filename_tmpl = filename_tmpl[: -len(".pth")]
        super().__init__(
            interval=interval,
            by_epoch=by_epoch,
            max_keep_ckpts=max_keep_ckpts,
            filename_tmpl=filename_tmpl,
            **kwargs,
        )

    def before_run(self, runner: Any) -> None:
        """Fail early when the runner would resume through mmengine's pickle loader."""
        from octavius.engine.octavius_flexible_runner import OctaviusFlexibleRunner
        from octavius.engine.runner import OctaviusRunner

        wants_load = getattr(runner, "_resume", False) or getattr(runner, "_load_from", None)
        if wants_load and not isinstance(runner, (OctaviusRunner, OctaviusFlexibleRunner)):
            raise ValueError(
                "resume/load_from with SafeCheckpointHook checkpoints needs the OctaviusRunner: "
                "add runner_type = 'OctaviusRunner' to the config (mmengine's Runner would "
                "torch.load them as pickles)."
            )

    def before_train(self, runner: Any) -> None:
        """Set up like mmengine, then clean what a crashed run left (see the module docstring)."""
        super().before_train(runner)
        if not is_main_process():
            return
        for root in {Path(self.out_dir), Path(runner.work_dir)}:
            if not root.is_dir():
                continue
            for orphan in root.glob(f"{TMP_PREFIX}*"):
                runner.logger.info(f"Removing {orphan}, left by an interrupted checkpoint save.")
                if orphan.is_dir():
                    shutil.rmtree(orphan, ignore_errors=True)
                else:
                    orphan.unlink(missing_ok=True)
        self._prune(runner, runner.iter if not self.by_epoch else runner.epoch)

    def _periodic_steps(self) -> list[int]:
        """Steps of the periodic checkpoints on disk (directories named by the template)."""
        pattern = re.compile("^" + re.escape(self.filename_tmpl).replace(r"\{\}", r"(\d+)") + "$")
        steps = []
        root = Path(self.out_dir)
        if root.is_dir():
            for child in root.iterdir():
                match = pattern.match(child.name)
                if match and (child / WEIGHTS_FILE).is_file():
                    steps.append(int(match.group(1)))
        return sorted(steps)

    def _prune(self, runner: Any, step: int) -> None:
        """Keep the newest ``max_keep_ckpts`` periodic checkpoints up to ``step`` on disk.

        Checkpoints with a larger step belong to another run in the same directory and are
        left alone; so is the one ``last_checkpoint`` names.
        """
        if self.max_keep_ckpts <= 0:
            return
        record = Path(runner.work_dir) / "last_checkpoint"
        named = record.read_text(encoding="utf-8").strip() if record.is_file() else ""
        ours = [s for s in self._periodic_steps() if s <= step]
        for old in ours[: max(0, len(ours) - self.max_keep_ckpts)]:
            path = Path(self.out_dir) / self.filename_tmpl.format(old)
            if str(path) != named:
                shutil.rmtree(path, ignore_errors=True)

    def _save_checkpoint_with_step(self, runner: Any, step: int, meta: dict) -> None:
        ckpt_path = str(Path(self.out_dir) / self.filename_tmpl.format(step))
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            self.keep_ckpt_ids.extend([step])  # a bounded deque: the oldest id drops out
            runner.message_hub.update_info("keep_ckpt_ids", list(self.keep_ckpt_ids))
        self.last_ckpt = ckpt_path
        runner.message_hub.update_info("last_ckpt", ckpt_path)
        save_runner_checkpoint(
            runner,
            ckpt_path,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
        )
        if not is_main_process():
            return
        atomic_write_text(Path(runner.work_dir) / "last_checkpoint", ckpt_path)
        self._prune(runner, step)

    def _save_best_checkpoint(self, runner: Any, metrics: dict) -> None:
        if not self.save_best:
            return
        step = runner.epoch if self.by_epoch else runner.iter
        meta = {"epoch": runner.epoch, "iter": runner.iter}
        if "auto" in self.key_indicators:
            self._init_rule(self.rules, [next(iter(metrics))])
        updated = False
        for key, rule in zip(self.key_indicators, self.rules):
            if key not in metrics:
                raise KeyError(
                    f"save_best={key!r} is not among the evaluation results {sorted(metrics)}; "
                    "set save_best to one of them."
                )
            single = len(self.key_indicators) == 1
            score_key = "best_score" if single else f"best_score_{key}"
            path_key = "best_ckpt" if single else f"best_ckpt_{key}"
            best = runner.message_hub.get_info(score_key, self.init_value_map[rule])
            score = metrics[key]
            if score is None or not self.is_better_than[key](score, best):
                continue
            updated = True
            old = runner.message_hub.get_info(path_key)
            name = f"best_{key}_{self.filename_tmpl.format(step)}".replace("/", "_")
            new = str(Path(self.out_dir) / name)
            runner.message_hub.update_info(score_key, score)
            runner.message_hub.update_info(path_key, new)
            if single:
                self.best_ckpt_path = new
            else:
                self.best_ckpt_path_dict[key] = new
            save_runner_checkpoint(
                runner, new, save_optimizer=False, save_param_scheduler=False, meta=meta
            )
            if old and old != new and is_main_process():
                shutil.rmtree(old, ignore_errors=True)
            runner.logger.info(f"Best {key} {score:.4f} at {step}: saved to {new}")
        if updated and self.last_ckpt is not None:
            # Re-save the latest checkpoint so its message hub records the new best.
            self._save_checkpoint_with_step(runner, step, meta)
