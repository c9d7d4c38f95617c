"""Checkpoints: atomic writes, the pickle-free state codec, runner state and RNG state.

A checkpoint is a directory of safetensors files (tensors) and JSON (everything else), written
atomically (:mod:`octavius.checkpoints.atomic`) and read without unpickling
(:mod:`octavius.checkpoints.state_codec`). :mod:`octavius.checkpoints.checkpoint` saves and loads the
trainable weights, optimizer, schedulers and RNG; :mod:`octavius.checkpoints.runner_state`
connects them to an mmengine runner (resume, weights-only loading).
"""

from __future__ import annotations

from octavius.checkpoints.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointFormatError,
    CheckpointIntegrityError,
    CheckpointMismatchError,
    NonFiniteWeightsError,
    is_checkpoint_dir,
    load_checkpoint,
    load_weights,
    read_checkpoint,
    resolve_checkpoint_path,
    save_checkpoint,
    trainable_state_dict,
    unwrap_model,
)
from octavius.checkpoints.runner_state import (
    load_runner_weights,
    read_weights_file,
    resume_runner,
    save_runner_checkpoint,
)

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointIntegrityError",
    "CheckpointMismatchError",
    "NonFiniteWeightsError",
    "is_checkpoint_dir",
    "load_checkpoint",
    "load_runner_weights",
    "load_weights",
    "read_checkpoint",
    "read_weights_file",
    "resolve_checkpoint_path",
    "resume_runner",
    "save_checkpoint",
    "save_runner_checkpoint",
    "trainable_state_dict",
    "unwrap_model",
]
