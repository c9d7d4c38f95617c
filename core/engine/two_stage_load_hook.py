"""Two-stage recipes: start a stage-2 run from the stage-1 weights.

LLaVA-MoLE (§4.2, Table 1) and Octavius train in two stages: stage 1 trains the projectors (and
the point-cloud fusion) with the LLM frozen and no adapters; stage 2 adds the LoRA-MoE and starts
from the stage-1 weights. A stage-2 config names them with the top-level key::

    stage1_checkpoint = "work_dirs/stage1/iter_5000"    # a checkpoint directory or .safetensors

``tools/train.py`` then adds :class:`TwoStageLoadHook`. The adapters and routers, new in stage 2,
are allowed to be absent from the file; every other trainable parameter (projectors, fusion, …)
must be in it, and nothing in the file may be unknown to the model or mis-shaped — otherwise the
run stops with an error naming the file and the keys.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from mmengine.hooks import Hook
from torch import nn

from octavius.checkpoints.checkpoint import (
    WEIGHTS_FILE,
    CheckpointMismatchError,
    load_weights,
    resolve_checkpoint_path,
    unwrap_model,
)
from octavius.checkpoints.runner_state import read_weights_file
from octavius.registry import HOOKS

_MAX_LISTED = 10


def adapter_parameter_names(model: nn.Module) -> set[str]:
    """Names of the parameters of injected expert banks and routers (new in stage 2)."""
    from octavius.adapters import AdaptedLinear, BaseRouter

    module = unwrap_model(model)
    prefixes = []
    for name, sub in module.named_modules():
        if isinstance(sub, AdaptedLinear):
            prefixes.append(f"{name}.experts." if name else "experts.")
        elif isinstance(sub, BaseRouter):
            prefixes.append(f"{name}." if name else "")
    return {n for n, _ in module.named_parameters() if any(n.startswith(p) for p in prefixes)}


def load_stage1_weights(
    model: nn.Module,
    path: str | os.PathLike,
    allow_missing: Sequence[str] = (),
    weights: Mapping[str, torch.Tensor] | None = None,
) -> list[str]:
    """Load stage-1 weights into a stage-2 model.

    Args:
        model: The stage-2 model (wrappers are unwrapped).
        path: A checkpoint directory, ``.safetensors`` file, or torch state dict file (read with
            ``weights_only=True``).
        allow_missing: Regular expressions (``re.search``) of further trainable parameters that
            may be absent from the file, beyond the adapters and routers.
        weights: The tensors, when already read from ``path`` (``path`` is then only named in
            errors).

    Returns:
        The parameter names loaded from the file.

    Raises:
        CheckpointMismatchError: When a trainable parameter that is not an adapter/router (nor
            allowed by ``allow_missing``) is absent from the file, or when the file has unknown
            or mis-shaped keys; the error names the file. The model is unchanged then.
        octavius.checkpoints.checkpoint.CheckpointFormatError: When the file cannot be read.
    """
    p = resolve_checkpoint_path(path)
    source = p / WEIGHTS_FILE if p.is_dir() else p
    tensors = dict(weights) if weights is not None else read_weights_file(p)
    module = unwrap_model(model)
    patterns = [re.compile(x) for x in allow_missing]
    new_in_stage2 = adapter_parameter_names(module)
    missing = [
        name
        for name, param in module.named_parameters()
        if param.requires_grad
        and name not in tensors
        and name not in new_in_stage2
        and not any(x.search(name) for x in patterns)
    ]
    if missing:
        shown = ", ".join(missing[:_MAX_LISTED])
        more = f", … and {len(missing) - _MAX_LISTED} more" if len(missing) > _MAX_LISTED else ""
        raise CheckpointMismatchError(
            f"stage1_checkpoint {source} lacks {len(missing)} trainable parameter(s) of the "
            f"stage-2 model that are not adapters or routers: {shown}{more}. Point "
            "stage1_checkpoint at the stage-1 run of this model, or list the parameters that "
            "stage 2 starts fresh in TwoStageLoadHook(allow_missing=[...])."
        )
    load_weights(module, tensors, source=f"stage1_checkpoint {source}", strict=False)
    return sorted(tensors)


@HOOKS.register_module()
class TwoStageLoadHook(Hook):
    """Load the stage-1 weights named by ``stage1_checkpoint`` before stage 2 trains.

    Runs at ``before_train``: after mmengine has initialised the model weights (which would
    otherwise overwrite them) and after ``--resume``; a resumed run (iteration > 0) already holds
    its own weights and skips the stage-1 file.

    Args:
        checkpoint: The stage-1 checkpoint directory or weights file.
        allow_missing: Regular expressions of trainable non-adapter parameters that may be absent
            from the file (see :func:`load_stage1_weights`).

    Raises:
        FileNotFoundError: At construction, when ``checkpoint`` does not exist.
    """

    priority = "VERY_HIGH"

    def __init__(self, checkpoint: str, allow_missing: Sequence[str] = ()) -> None:
        if isinstance(allow_missing, str):
            raise TypeError(
                f"TwoStageLoadHook: allow_missing must be a list of patterns, e.g. "
                f"['{allow_missing}']."
            )
        path = resolve_checkpoint_path(checkpoint)
        if not Path(path).exists():
            raise FileNotFoundError(
                f"stage1_checkpoint '{checkpoint}' does not exist; train stage 1 first or fix the "
                "path in the config."
            )
        for pattern in allow_missing:
            re.compile(pattern)
        self.checkpoint = str(checkpoint)
        self.allow_missing = tuple(allow_missing)

    def before_train(self, runner: Any) -> None:
        """Load the stage-1 weights into the model, unless the run was resumed."""
        if runner.iter > 0 or runner.epoch > 0:
            runner.logger.info(
                f"Resumed at iteration {runner.iter}: stage-1 weights {self.checkpoint} not loaded."
            )
            return
        loaded = load_stage1_weights(runner.model, self.checkpoint, self.allow_missing)
        runner.logger.info(f"Loaded {len(loaded)} stage-1 tensors from {self.checkpoint}.")
