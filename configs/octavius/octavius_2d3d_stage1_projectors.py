"""Octavius 2D + 3D, two-stage recipe, stage 1: only the projectors and the Object-As-Scene fusion
train (no LoRA-MoE), aligning both modalities with the frozen LLM before the experts are added.

The paper trains in one stage (``configs/octavius_2d3d.py``); this recipe follows LLaVA's
alignment stage, with its LR (2e-3) and one epoch — our choices. Stage 2 is
``octavius_2d3d_stage2.py``.
"""

from mmengine.config import read_base

with read_base():
    from ..octavius_2d3d import *

model.adapters = None
base_lr = 2e-3
max_epochs = 1
optim_wrapper.optimizer.lr = base_lr
param_scheduler[0].end = warmup_ratio * max_epochs
param_scheduler[1].update(begin=warmup_ratio * max_epochs, end=max_epochs)
train_cfg.max_epochs = max_epochs
