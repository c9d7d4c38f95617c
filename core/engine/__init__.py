"""Training and evaluation machinery on mmengine: hooks, loops, checkpoints.

Importing this package imports every module in it, so their components register themselves
(e.g. :class:`SafeCheckpointHook` in HOOKS, :class:`OctaviusRunner` in RUNNERS).
"""

from __future__ import annotations

from octavius._autoimport import import_submodules
from octavius.engine.autocast_optim_wrapper import AutocastOptimWrapper
from octavius.engine.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointFormatError,
    CheckpointMismatchError,
    is_checkpoint_dir,
    load_checkpoint,
    load_weights,
    read_checkpoint,
    save_checkpoint,
    trainable_state_dict,
)
from octavius.engine.prediction_writer_hook import PredictionWriterHook
from octavius.engine.progress_hook import ProgressHook
from octavius.engine.runner import OctaviusRunner
from octavius.engine.runner_state import (
    load_runner_weights,
    read_weights_file,
    resume_runner,
    save_runner_checkpoint,
)
from octavius.engine.safe_checkpoint_hook import SafeCheckpointHook
from octavius.engine.schedules import warmup_cosine
from octavius.engine.two_stage_load_hook import TwoStageLoadHook, load_stage1_weights

__all__ = [
    "AutocastOptimWrapper",
    "Checkpoint",
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointMismatchError",
    "OctaviusRunner",
    "PredictionWriterHook",
    "ProgressHook",
    "SafeCheckpointHook",
    "TwoStageLoadHook",
    "is_checkpoint_dir",
    "load_checkpoint",
    "load_runner_weights",
    "load_stage1_weights",
    "load_weights",
    "read_checkpoint",
    "read_weights_file",
    "resume_runner",
    "save_checkpoint",
    "save_runner_checkpoint",
    "trainable_state_dict",
    "warmup_cosine",
]

import_submodules(__name__, __path__)
