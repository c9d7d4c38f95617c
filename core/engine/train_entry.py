"""What ``tools/train.py`` does: apply the command line to a config, build the runner, train.

:func:`apply_train_options` merges the command-line choices into the loaded config (work
directory, ``--resume``, ``--amp``, launcher, TensorBoard, progress display, two-stage loading);
:func:`run_training` prepares the quickstart assets, builds the runner and trains, then evaluates
when asked. The default runner is :class:`~octavius.engine.runner.OctaviusRunner` (safetensors
checkpoints, exact resume); a config with a ``strategy`` runs on mmengine's ``FlexibleRunner``
(FSDP, DeepSpeed; see docs/training.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from mmengine.config import Config

from octavius.engine.launch import (
    apply_launcher,
    check_strategy,
    runner_class,
    setup_distributed,
    uses_flexible_runner,
)
from octavius.engine.prepare import prepare_assets, wants_test_after_train
from octavius.features.build_cache import apply_feature_cache


@dataclass
class TrainOptions:
    """Command-line choices of ``tools/train.py`` (``None`` keeps the config's value).

    Attributes:
        work_dir: Where logs and checkpoints go; default ``work_dirs/<config name>``.
        resume: ``True`` resumes from ``work_dir/last_checkpoint`` (an error when there is
            nothing to resume); ``"auto"`` does the same but starts afresh, with a warning, when
            there is nothing; a path resumes from that checkpoint; ``False``/``None`` starts
            afresh.
        allow_config_change: Resume even when the checkpoint's recorded model or optimizer
            config differs from the current one.
        amp: Mixed precision: bfloat16 autocast on CPU (``AutocastOptimWrapper``), mmengine's
            ``AmpOptimWrapper`` on GPUs.
        launcher: ``none``, ``pytorch`` (torchrun), ``slurm`` or ``mpi``.
        tensorboard: Add the TensorBoard backend to the visualizer.
        progress: Show progress bars with ETA and log tokens/s (``ProgressHook``).
        test_after_train: Evaluate on the test set once training ends.
    """

    work_dir: str | None = None
    resume: bool | str | None = None
    allow_config_change: bool = False
    amp: bool = False
    launcher: str = "none"
    tensorboard: bool = False
    progress: bool = True
    test_after_train: bool = False


def _hook_types(hooks: Any) -> set[str]:
    return {str(h.get("type")) for h in hooks or [] if isinstance(h, dict)}


def add_custom_hook(cfg: Config, hook: dict[str, Any]) -> None:
    """Append ``hook`` to ``cfg.custom_hooks`` unless a hook of that type is configured."""
    hooks = list(cfg.get("custom_hooks") or [])
    if hook["type"] not in _hook_types(hooks):
        hooks.append(hook)
    cfg.custom_hooks = hooks


def remove_custom_hook(cfg: Config, hook_type: str) -> None:
    """Drop the hooks of type ``hook_type`` from ``cfg.custom_hooks`` (e.g. ``--no-progress``)."""
    hooks = list(cfg.get("custom_hooks") or [])
    cfg.custom_hooks = [
        h for h in hooks if not (isinstance(h, dict) and h.get("type") == hook_type)
    ]


def _apply_amp(cfg: Config) -> None:
    optim = cfg.get("optim_wrapper")
    if optim is None:
        raise KeyError("--amp needs an 'optim_wrapper' in the config.")
    kind = optim.get("type", "OptimWrapper")
    if kind in ("AmpOptimWrapper", "AutocastOptimWrapper"):
        return
    if kind != "OptimWrapper":
        raise ValueError(
            f"--amp replaces optim_wrapper.type 'OptimWrapper' by a mixed-precision wrapper; the "
            f"config uses '{kind}'. Configure precision in that wrapper instead."
        )
    if torch.cuda.is_available():
        optim["type"] = "AmpOptimWrapper"
        optim.setdefault("dtype", "bfloat16" if torch.cuda.is_bf16_supported() else "float16")
    else:
        optim["type"] = "AutocastOptimWrapper"
        optim["dtype"] = "bfloat16"


def _apply_tensorboard(cfg: Config) -> None:
    visualizer = cfg.get("visualizer") or {"type": "Visualizer"}
    backends = list(visualizer.get("vis_backends") or [{"type": "LocalVisBackend"}])
    if "TensorboardVisBackend" not in _hook_types(backends):
        backends.append({"type": "TensorboardVisBackend"})
    visualizer["vis_backends"] = backends
    cfg.visualizer = visualizer


def check_train_length(cfg: Config) -> None:
    """``train_cfg.max_iters`` / ``max_epochs`` must be positive integers.

    Raises:
        ValueError: naming the config file, the key and its value.
    """
    train_cfg = cfg.get("train_cfg") or {}
    source = cfg.filename or "<config>"
    for key in ("max_iters", "max_epochs"):
        if key not in train_cfg:
            continue
        value = train_cfg[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(
                f"{source}: train_cfg.{key} = {value!r}; it must be a positive integer (the "
                f"number of training {key.removeprefix('max_')} to run). Nothing would be trained."
            )


def default_work_dir(config_path: str | os.PathLike | None) -> str:
    """``work_dirs/<config file stem>``, as OpenMMLab tools name it."""
    stem = Path(config_path).stem if config_path else "run"
    return str(Path("work_dirs") / stem)


def apply_train_options(cfg: Config, options: TrainOptions) -> Config:
    """Merge command-line choices into ``cfg`` (in place) and return it.

    Raises:
        ValueError: When ``load_from`` and ``stage1_checkpoint`` are both set (they would load
            weights twice), or on an unknown launcher or incompatible ``--amp``.
    """
    if options.work_dir is not None:
        cfg.work_dir = options.work_dir
    elif cfg.get("work_dir") is None:
        cfg.work_dir = default_work_dir(cfg.filename)
    if options.resume:
        cfg.resume = "auto" if options.resume == "auto" else True
        if isinstance(options.resume, str) and options.resume != "auto":
            cfg.load_from = options.resume
    if options.allow_config_change:
        cfg.allow_config_change = True
    check_train_length(cfg)
    if options.amp:
        _apply_amp(cfg)
    apply_launcher(cfg, options.launcher)
    if options.tensorboard:
        _apply_tensorboard(cfg)
    if not uses_flexible_runner(cfg):
        cfg.setdefault("runner_type", "OctaviusRunner")
    elif cfg.get("env_cfg") is None:
        cfg.env_cfg = {}  # FlexibleRunner, unlike Runner, has no default for it
    if options.progress:
        add_custom_hook(cfg, {"type": "ProgressHook"})
    else:
        remove_custom_hook(cfg, "ProgressHook")
    stage1 = cfg.get("stage1_checkpoint")
    if stage1:
        if cfg.get("load_from") and not cfg.get("resume"):
            raise ValueError(
                "the config sets both 'load_from' and 'stage1_checkpoint'; a stage-2 run starts "
                "from stage1_checkpoint — remove load_from."
            )
        add_custom_hook(cfg, {"type": "TwoStageLoadHook", "checkpoint": str(stage1)})
    if options.test_after_train:
        cfg.quickstart = {**dict(cfg.get("quickstart") or {}), "test_after_train": True}
    if wants_test_after_train(cfg):
        add_custom_hook(cfg, {"type": "PredictionWriterHook"})
    return cfg


def _prepare_assets(cfg: Config) -> None:
    """Prepare quickstart assets on rank 0 first, so other ranks find them cached."""
    import torch.distributed as dist

    distributed = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if distributed else 0
    if rank == 0:
        prepare_assets(cfg)
    if distributed:
        dist.barrier()
        if rank != 0:
            prepare_assets(cfg)


def _quiet_transformers() -> None:
    """No per-file "Loading weights" bars from ``from_pretrained`` (the run has its own bar)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def build_runner(cfg: Config) -> Any:
    """Start the process group if needed, prepare assets, and build the runner of ``cfg``."""
    check_strategy(cfg)
    _quiet_transformers()
    setup_distributed(cfg)
    _prepare_assets(cfg)
    apply_feature_cache(cfg)
    return runner_class(cfg).from_cfg(cfg)


def run_training(cfg: Config) -> Any:
    """Train as ``cfg`` says; evaluate afterwards when ``quickstart.test_after_train`` is set.

    Returns:
        The runner (its model holds the trained weights).

    Raises:
        KeyError: Before training, when evaluation is asked for but the config lacks
            ``test_dataloader``, ``test_evaluator`` or ``test_cfg``.
    """
    evaluate = wants_test_after_train(cfg)
    if evaluate:
        missing = [k for k in ("test_dataloader", "test_evaluator", "test_cfg") if not cfg.get(k)]
        if missing:
            raise KeyError(f"evaluating after training needs {missing} in the config.")
    runner = build_runner(cfg)
    if hasattr(runner, "logger"):
        from octavius.engine.console import console_info, describe_run

        console_info(runner.logger, describe_run(runner))
    runner.train()
    if evaluate:
        from octavius.engine.test_entry import report_test_results

        report_test_results(runner, runner.test())
    return runner


__all__ = [
    "TrainOptions",
    "add_custom_hook",
    "apply_train_options",
    "build_runner",
    "default_work_dir",
    "remove_custom_hook",
    "run_training",
]
