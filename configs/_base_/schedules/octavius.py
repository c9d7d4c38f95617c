"""Octavius instruction tuning: AdamW, warm-up, cosine decay.

The paper leaves its schedule to an appendix not reproduced here, so these are our choices: the
LR of LAMM (5e-4, whose pipeline Octavius extends) decaying to 1% of it, a global batch of 64,
500 warm-up steps as LLaVA-MoLE, and 2 epochs.
"""

from mmengine.config import read_base

with read_base():
    from .warmup_cosine import *

base_lr = 5e-4
min_lr = 5e-6
max_epochs = 2
optim_wrapper.optimizer.lr = base_lr
param_scheduler[1].update(eta_min=min_lr, end=max_epochs)
train_cfg.max_epochs = max_epochs
