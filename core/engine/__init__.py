"""The engine on mmengine: runner, hooks, optimizer wrapper, schedules and the tools' entry points.

Importing this package imports every module in it, so their components register themselves
(e.g. :class:`SafeCheckpointHook` in HOOKS, :class:`OctaviusRunner` in RUNNERS). Checkpoint I/O
lives in :mod:`octavius.checkpoints`, exports in :mod:`octavius.export`.
"""

from __future__ import annotations

from octavius._autoimport import import_submodules
from octavius.engine.autocast_optim_wrapper import AutocastOptimWrapper
from octavius.engine.expert_load_hook import ExpertLoadHook
from octavius.engine.prediction_writer_hook import PredictionWriterHook
from octavius.engine.progress_hook import ProgressHook
from octavius.engine.runner import OctaviusRunner
from octavius.engine.safe_checkpoint_hook import SafeCheckpointHook
from octavius.engine.schedules import warmup_cosine
from octavius.engine.two_stage_load_hook import TwoStageLoadHook, load_stage1_weights

__all__ = [
    "AutocastOptimWrapper",
    "ExpertLoadHook",
    "OctaviusRunner",
    "PredictionWriterHook",
    "ProgressHook",
    "SafeCheckpointHook",
    "TwoStageLoadHook",
    "load_stage1_weights",
    "warmup_cosine",
]

import_submodules(__name__, __path__)
