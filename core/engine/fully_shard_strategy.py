"""``FullyShardStrategy``: FSDP2 (``torch.distributed.fsdp.fully_shard``) for mmengine, CPU or GPU.

mmengine 0.10.7's ``FSDPStrategy`` wraps with FSDP1 and calls CUDA unconditionally, and saves
checkpoints with ``torch.save``. This strategy follows mmengine's ``DDPStrategy`` API (it is built
by ``FlexibleRunner`` from ``strategy = dict(type='FullyShardStrategy')``) and:

- shards every module whose class is named in ``shard_modules`` — by default the
  ``_no_split_modules`` that Hugging Face models declare (decoder and encoder layers) — and then
  the whole model, each with ``fully_shard`` on a 1-D device mesh of all ranks; on CPU the mesh is
  ``'cpu'`` and the collectives run on gloo. FSDP2 shards each parameter as its own ``DTensor``,
  so frozen base weights and trainable LoRA factors may share a unit: only parameters with
  ``requires_grad`` get gradients reduce-scattered and optimizer state;
- writes Octavius checkpoints (:meth:`save_octavius_checkpoint`): the trainable weights and
  optimizer moments as shards through ``torch.distributed.checkpoint``
  (:mod:`octavius.checkpoints.sharded_state`, read back without unpickling), plus the usual
  ``adapter.safetensors`` (gathered on rank 0) and ``state.json``;
- resumes from them on the same or another number of ranks (DCP reshards).

Gradients are averaged over ranks as DDP averages them, so with the same global batch the
adapters match a DDP run up to floating-point reduction order.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from mmengine._strategy import DDPStrategy
from torch import nn

from octavius.checkpoints.atomic import TMP_PREFIX
from octavius.checkpoints.checkpoint import (
    Checkpoint,
    CheckpointFormatError,
    load_scheduler_states,
    read_checkpoint,
    save_checkpoint,
)
from octavius.checkpoints.integrity import SHARDED_DIR
from octavius.checkpoints.rng import capture_rng_state
from octavius.checkpoints.runner_state import read_weights_file, revise_keys
from octavius.checkpoints.sharded_state import (
    full_trainable_weights,
    load_sharded_state,
    save_sharded_state,
    sharded_state,
)
from octavius.registry import STRATEGIES


def _device_type() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def default_shard_modules(model: nn.Module) -> set[str]:
    """Class names listed in the ``_no_split_modules`` of the model's submodules (HF models)."""
    names: set[str] = set()
    for module in model.modules():
        names.update(getattr(module, "_no_split_modules", None) or ())
    return names


def _gather_root_for_inference(model: nn.Module) -> None:
    """Gather the root unit's weights around ``val_step``/``test_step``.

    Generation calls the LLM's ``generate`` instead of the model's ``forward``, so the root unit's
    pre-forward gather (embeddings, final norm, LM head, projector) would not run; nested units
    gather themselves when their ``forward`` runs.
    """
    for name in ("val_step", "test_step"):
        step = getattr(model, name, None)
        if step is None:
            continue

        def gathered(*args: Any, _step: Any = step, **kwargs: Any) -> Any:
            model.unshard()
            try:
                return _step(*args, **kwargs)
            finally:
                model.reshard()

        setattr(model, name, gathered)


@STRATEGIES.register_module()
class FullyShardStrategy(DDPStrategy):
    """Shard parameters, gradients and optimizer state over ranks with FSDP2.

    Args:
        shard_modules: Class names of the submodules that become their own FSDP unit (their
            parameters are gathered just before they run and freed after). ``None`` takes the
            ``_no_split_modules`` of the Hugging Face models inside.
        reshard_after_forward: Free gathered parameters after each unit's forward (ZeRO-3-like,
            least memory); ``False`` keeps them until backward (ZeRO-2-like, less traffic).
        mixed_precision: Keyword arguments of ``torch.distributed.fsdp.MixedPrecisionPolicy``
            (e.g. ``dict(param_dtype='bfloat16', reduce_dtype='float32')``).
        **kwargs: The arguments of mmengine's ``BaseStrategy`` (``work_dir``, ``env_kwargs``, …).
    """

    def __init__(
        self,
        *,
        shard_modules: Sequence[str] | None = None,
        reshard_after_forward: bool = True,
        mixed_precision: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("model_wrapper", None)
        kwargs.pop("sync_bn", None)
        super().__init__(**kwargs)
        if shard_modules is not None and (
            isinstance(shard_modules, str) or not all(isinstance(n, str) for n in shard_modules)
        ):
            raise TypeError(
                f"strategy.shard_modules must be a list of class names, got {shard_modules!r}."
            )
        self.shard_modules = None if shard_modules is None else list(shard_modules)
        self.reshard_after_forward = bool(reshard_after_forward)
        self.mixed_precision = dict(mixed_precision or {})

    def _setup_distributed(self, launcher: str = "pytorch", backend: str | None = None, **kwargs):
        """Start the process group (normally already started by ``setup_distributed``)."""
        import torch.distributed as dist

        if dist.is_initialized():
            return
        if torch.cuda.is_available():
            from mmengine.dist import init_dist

            init_dist(launcher, backend or "nccl", **kwargs)
        else:
            dist.init_process_group(backend=backend or "gloo", **kwargs)

    def _mixed_precision_policy(self) -> Any:
        from torch.distributed.fsdp import MixedPrecisionPolicy

        kwargs = {
            k: getattr(torch, v) if isinstance(v, str) else v
            for k, v in self.mixed_precision.items()
        }
        return MixedPrecisionPolicy(**kwargs)

    def _wrap_model(self, model: nn.Module) -> nn.Module:
        """Move the model to this rank's device and ``fully_shard`` it, innermost units first."""
        import torch.distributed as dist
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import FSDPModule, fully_shard

        if isinstance(model, FSDPModule):
            return model
        device = _device_type()
        if device == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        model = model.to(torch.device(device, torch.cuda.current_device()) if device == "cuda"
                         else device)  # fmt: skip
        mesh = init_device_mesh(device, (dist.get_world_size(),))
        names = set(self.shard_modules) if self.shard_modules is not None else None
        if names is None:
            names = default_shard_modules(model)
        options = {
            "mesh": mesh,
            "reshard_after_forward": self.reshard_after_forward,
            "mp_policy": self._mixed_precision_policy(),
        }
        units = [m for m in model.modules() if m is not model and type(m).__name__ in names]
        for module in reversed(units):  # modules() lists parents first; shard children first
            fully_shard(module, **options)
        fully_shard(model, **options)
        _gather_root_for_inference(model)
        self.logger.info(
            f"fully_shard: {len(units)} units ({', '.join(sorted(names)) or 'none'}) + the model, "
            f"over {dist.get_world_size()} {device} ranks"
        )
        return model

    # -- mmengine's state-dict API (whole tensors, for code that expects mmengine's contract) --
    def model_state_dict(self) -> dict:
        """The trainable weights, gathered (rank 0 holds them; collective)."""
        return full_trainable_weights(self.model)

    def load_model_state_dict(
        self,
        state_dict: dict,
        *,
        strict: bool = False,
        revise_keys: list | tuple = ((r"^module\.", ""),),
    ) -> None:
        """Load whole tensors (every rank passes the same dict) into the sharded model."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        from octavius.checkpoints.runner_state import revise_keys as revise

        weights = revise(state_dict, revise_keys)
        set_model_state_dict(
            self.model, weights, options=StateDictOptions(full_state_dict=True, strict=strict)
        )

    # -- checkpoints --------------------------------------------------------------------------
    def save_octavius_checkpoint(
        self,
        path: str | os.PathLike,
        *,
        save_optimizer: bool = True,
        save_param_scheduler: bool = True,
        message_hub: Any = None,
        meta: Mapping[str, Any] | None = None,
        rng_state: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write checkpoint directory ``path`` with the sharded state in ``path/sharded``.

        Collective: every rank calls it. Each rank's random state is kept (``rng.ranks``), so a
        resumed rank continues its own stream.
        """
        import torch.distributed as dist

        path = Path(path)
        optimizer = self.optim_wrapper.optimizer if save_optimizer and self.optim_wrapper else None
        state = sharded_state(self.model, optimizer)
        weights = full_trainable_weights(self.model)
        rngs: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(rngs, dict(rng_state or capture_rng_state()))
        staging = path.parent / f"{TMP_PREFIX}{path.name}.{SHARDED_DIR}"
        if self.rank == 0:
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
        dist.barrier()
        save_sharded_state(staging, state)
        dist.barrier()
        if self.rank == 0:

            def add_sharded(tmp: Path) -> list[str]:
                os.replace(staging, tmp / SHARDED_DIR)
                files = sorted(f.name for f in (tmp / SHARDED_DIR).iterdir() if f.is_file())
                return [f"{SHARDED_DIR}/{name}" for name in files]

            schedulers = self.param_schedulers if save_param_scheduler else None
            save_checkpoint(
                path,
                self.model,
                optimizer={"param_groups": state["param_groups"]} if optimizer else None,
                param_schedulers=schedulers,
                message_hub=message_hub,
                meta=meta,
                rng_state={"ranks": rngs},
                weights=weights,
                add_files=add_sharded,
            )
        dist.barrier()
        return path

    def restore_octavius_checkpoint(
        self,
        ckpt: Checkpoint,
        *,
        resume_optimizer: bool = True,
        resume_param_scheduler: bool = True,
    ) -> None:
        """Load weights, optimizer and schedulers of a checkpoint read with ``read_checkpoint``.

        Raises:
            CheckpointFormatError: When the checkpoint has no sharded state (it was not written
                by this strategy; load its weights with ``load_from`` instead).
        """
        sharded = ckpt.path / SHARDED_DIR
        if not sharded.is_dir():
            raise CheckpointFormatError(
                f"{ckpt.path} holds no {SHARDED_DIR}/ state: it was not written by "
                "FullyShardStrategy, so it cannot be resumed with it. Start from its weights with "
                f"`load_from = '{ckpt.path}'` instead of resuming."
            )
        optimizer = None
        if resume_optimizer and ckpt.optimizer is not None and self.optim_wrapper is not None:
            optimizer = self.optim_wrapper.optimizer
        groups = (ckpt.optimizer or {}).get("param_groups")
        load_sharded_state(sharded, self.model, optimizer, groups)
        if resume_param_scheduler and self.param_schedulers and ckpt.param_schedulers is not None:
            load_scheduler_states(self.param_schedulers, ckpt.param_schedulers, ckpt.path)

    def save_checkpoint(
        self,
        filename: str,
        *,
        save_optimizer: bool = True,
        save_param_scheduler: bool = True,
        extra_ckpt: dict | None = None,
        callback: Any = None,
    ) -> None:
        """mmengine's entry point: an Octavius checkpoint directory (``.pth`` dropped)."""
        extra = dict(extra_ckpt or {})
        if callback is not None:
            callback(extra)
        name = filename[: -len(".pth")] if filename.endswith(".pth") else filename
        self.save_octavius_checkpoint(
            name,
            save_optimizer=save_optimizer,
            save_param_scheduler=save_param_scheduler,
            message_hub=extra.get("message_hub"),
            meta=extra.get("meta"),
        )

    def resume(
        self,
        filename: str,
        *,
        resume_optimizer: bool = True,
        resume_param_scheduler: bool = True,
        map_location: Any = "default",
        callback: Any = None,
    ) -> dict:
        """mmengine's entry point: restore a checkpoint directory; returns its meta and hub."""
        ckpt = read_checkpoint(filename)
        checkpoint = {
            "meta": ckpt.meta,
            "state_dict": ckpt.weights,
            "message_hub": ckpt.message_hub,
        }
        if callback is not None:
            callback(checkpoint)
        self.restore_octavius_checkpoint(
            ckpt, resume_optimizer=resume_optimizer, resume_param_scheduler=resume_param_scheduler
        )
        return checkpoint

    def load_checkpoint(
        self,
        filename: str,
        *,
        map_location: Any = "cpu",
        strict: bool = False,
        revise_keys: list | tuple = ((r"^module\.", ""),),
        callback: Any = None,
    ) -> dict:
        """Load trainable weights (a checkpoint directory or weights file; never unpickles)."""
        weights = revise_keys_of(read_weights_file(filename), revise_keys)
        checkpoint = {"meta": {}, "state_dict": weights}
        if callback is not None:
            callback(checkpoint)
        self.load_model_state_dict(checkpoint["state_dict"], strict=strict, revise_keys=())
        return checkpoint


def revise_keys_of(weights: Mapping[str, torch.Tensor], rules: Any) -> dict[str, torch.Tensor]:
    """``revise_keys`` with mmengine's default rule list accepted as a tuple or list."""
    return revise_keys(weights, [tuple(rule) for rule in rules or ()])


__all__ = ["FullyShardStrategy", "default_shard_modules"]
