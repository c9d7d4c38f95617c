"""Saving and restoring an mmengine ``Runner``'s training state in the Octavius checkpoint format.

These functions are what :class:`~octavius.engine.runner.OctaviusRunner` and
:class:`~octavius.engine.safe_checkpoint_hook.SafeCheckpointHook` call: weights, optimizer,
parameter schedulers, message hub, loop position and RNG states go to a checkpoint directory
(:mod:`octavius.checkpoints.checkpoint`) and come back from it without ``torch.load`` of pickles.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mmengine
import torch
from mmengine.dist import is_main_process

import octavius
from octavius.checkpoints.checkpoint import (
    WEIGHTS_FILE,
    CheckpointFormatError,
    check_optimizer_fits,
    load_scheduler_states,
    load_weights,
    read_checkpoint,
    resolve_checkpoint_path,
    save_checkpoint,
    unwrap_model,
)
from octavius.checkpoints.resume import check_same_config, select_resume_checkpoint
from octavius.checkpoints.rng import capture_rng_state, rank_rng_state, restore_rng_state


def find_latest_checkpoint(work_dir: str | os.PathLike) -> str | None:
    """The checkpoint ``--resume`` continues from in ``work_dir``, or ``None``.

    See :func:`octavius.checkpoints.resume.select_resume_checkpoint`: ``last_checkpoint`` is
    followed; a newer checkpoint wins only when it was written after that record (a run killed
    between the two writes).
    """
    return select_resume_checkpoint(work_dir)


def save_runner_checkpoint(
    runner: Any,
    path: str | os.PathLike,
    *,
    save_optimizer: bool = True,
    save_param_scheduler: bool = True,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write the runner's state to checkpoint directory ``path`` (on the main process only).

    ``meta`` must hold ``epoch`` and ``iter`` as the loop should see them when resuming; the
    seed, experiment name, config text and versions are added here. When the runner's strategy
    shards the model (``save_octavius_checkpoint``, e.g. ``FullyShardStrategy``), every rank
    takes part and the strategy writes the directory; otherwise the main process writes it.
    """
    path = Path(path)
    sharded_save = getattr(getattr(runner, "strategy", None), "save_octavius_checkpoint", None)
    if sharded_save is None and not is_main_process():
        return path
    full_meta = dict(meta or {})
    full_meta.setdefault("epoch", runner.epoch)
    full_meta.setdefault("iter", runner.iter)
    full_meta.update(
        seed=runner.seed,
        experiment_name=runner.experiment_name,
        time=time.strftime("%Y%m%d_%H%M%S", time.localtime()),
        mmengine_version=mmengine.__version__,
        octavius_version=octavius.__version__,
        cfg=runner.cfg.pretty_text if runner.cfg is not None else "",
    )
    dataset = getattr(runner.train_dataloader, "dataset", None)
    if getattr(dataset, "metainfo", None) is not None:
        full_meta["dataset_meta"] = dataset.metainfo
    checkpoint = {"meta": full_meta}
    runner.call_hook("before_save_checkpoint", checkpoint=checkpoint)
    # Inside validation the global generators run the evaluation stream; the training stream
    # was set aside by OctaviusRunner and is the one a resumed run must continue.
    rng = getattr(runner, "training_rng_state", None) or capture_rng_state()
    if sharded_save is not None:
        return sharded_save(
            path,
            save_optimizer=save_optimizer,
            save_param_scheduler=save_param_scheduler,
            message_hub=runner.message_hub.state_dict(),
            meta=checkpoint["meta"],
            rng_state=rng,
        )
    return save_checkpoint(
        path,
        runner.model,
        optimizer=runner.optim_wrapper if save_optimizer else None,
        param_schedulers=runner.param_schedulers if save_param_scheduler else None,
        message_hub=runner.message_hub,
        meta=checkpoint["meta"],
        rng_state=rng,
    )


def read_weights_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a weights file or checkpoint directory, read without unpickling code.

    Accepts an Octavius checkpoint directory, a ``.safetensors`` file, or a torch ``.pth``/``.bin``
    state dict (read with ``weights_only=True``; a ``state_dict`` entry is used when present).
    """
    p = resolve_checkpoint_path(path)
    if p.is_dir():
        return read_checkpoint(p).weights
    if not p.is_file():
        raise CheckpointFormatError(f"{p}: no such checkpoint directory or weights file")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(p)
    try:
        loaded = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, … for foreign pickles
        raise CheckpointFormatError(
            f"{p}: cannot be read with torch.load(weights_only=True) ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}). Octavius does not unpickle code: "
            "convert it to safetensors or an Octavius checkpoint directory."
        ) from err
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        raise CheckpointFormatError(f"{p}: expected a mapping of parameter names to tensors")
    return dict(loaded)


def revise_keys(
    weights: Mapping[str, torch.Tensor], rules: Sequence[tuple[str, str]]
) -> dict[str, torch.Tensor]:
    """Rename keys with ``(pattern, replacement)`` regex pairs (mmengine's ``revise_keys``)."""
    out = dict(weights)
    for pattern, replacement in rules:
        out = {re.sub(pattern, replacement, k): v for k, v in out.items()}
    return out


def load_runner_weights(
    runner: Any,
    path: str | os.PathLike,
    *,
    strict: bool = False,
    key_rules: Sequence[tuple[str, str]] = ((r"^module\.", ""),),
) -> dict[str, Any]:
    """Load weights into ``runner.model`` (``load_from``); see :func:`load_weights` for ``strict``.

    Returns:
        The checkpoint as a dict (``state_dict``, ``meta``), as mmengine's hooks expect it.
    """
    p = resolve_checkpoint_path(path)
    meta = read_checkpoint(p).meta if p.is_dir() else {}
    checkpoint = {"meta": meta, "state_dict": revise_keys(read_weights_file(p), key_rules)}
    runner.call_hook("after_load_checkpoint", checkpoint=checkpoint)
    source = p / WEIGHTS_FILE if p.is_dir() else p
    load_weights(runner.model, checkpoint["state_dict"], source=source, strict=strict)
    runner.logger.info(f"Loaded weights from {source}")
    return checkpoint


def resume_runner(
    runner: Any,
    path: str | os.PathLike,
    *,
    resume_optimizer: bool = True,
    resume_param_scheduler: bool = True,
    allow_config_change: bool = False,
) -> dict[str, Any]:
    """Restore everything :func:`save_runner_checkpoint` wrote, so training continues exactly.

    Weights must match the model's trainable parameters exactly (strict). The optimizer wrapper
    and schedulers are built first if the runner has not built them yet. The config recorded in
    the checkpoint must equal the current one in ``model`` and ``optim_wrapper`` unless
    ``allow_config_change`` (``--allow-config-change``).

    Raises:
        octavius.checkpoints.checkpoint.CheckpointError: When the checkpoint is unreadable or belongs
            to a different model or optimizer.
        octavius.checkpoints.errors.ResumeError: When the recorded config differs (naming the keys).
    """
    ckpt = read_checkpoint(path)
    if not allow_config_change and getattr(runner, "cfg", None) is not None:
        check_same_config(ckpt.meta, runner.cfg, ckpt.path)
    checkpoint = {"meta": ckpt.meta, "state_dict": ckpt.weights, "message_hub": ckpt.message_hub}
    runner.call_hook("after_load_checkpoint", checkpoint=checkpoint)
    restore_sharded = getattr(
        getattr(runner, "strategy", None), "restore_octavius_checkpoint", None
    )
    if restore_sharded is not None:
        # The strategy loads weights, optimizer and schedulers into its sharded model.
        restore_sharded(
            ckpt, resume_optimizer=resume_optimizer, resume_param_scheduler=resume_param_scheduler
        )
        resume_optimizer = resume_param_scheduler = False
    else:
        load_weights(
            unwrap_model(runner.model), checkpoint["state_dict"], source=ckpt.path / WEIGHTS_FILE
        )
    meta = ckpt.meta
    saved_seed = meta.get("seed")
    if saved_seed is not None and saved_seed != runner.seed:
        runner.logger.warning(
            f"{ckpt.path} was trained with seed {saved_seed}, this run uses {runner.seed}: the data "
            f"order will differ. Set randomness=dict(seed={saved_seed}) to continue exactly."
        )
    if ckpt.message_hub is not None:
        runner.message_hub.load_state_dict(ckpt.message_hub)
    if resume_optimizer and ckpt.optimizer is not None:
        if hasattr(runner, "build_optim_wrapper"):  # FlexibleRunner's strategy built it already
            runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
        check_optimizer_fits(runner.optim_wrapper, ckpt.optimizer, ckpt.path)
        runner.optim_wrapper.load_state_dict(ckpt.optimizer)
    if resume_param_scheduler and runner.param_schedulers and ckpt.param_schedulers is not None:
        if hasattr(runner, "build_param_scheduler"):
            runner.param_schedulers = runner.build_param_scheduler(runner.param_schedulers)
        load_scheduler_states(runner.param_schedulers, ckpt.param_schedulers, ckpt.path)
    runner.train_loop._epoch = int(meta.get("epoch", 0))
    runner.train_loop._iter = int(meta.get("iter", 0))
    if ckpt.rng is not None:
        restore_rng_state(rank_rng_state(ckpt.rng, ckpt.path))
    runner._has_loaded = True
    runner.logger.info(f"Resumed from {ckpt.path}: epoch {runner.epoch}, iter {runner.iter}")
    return checkpoint
