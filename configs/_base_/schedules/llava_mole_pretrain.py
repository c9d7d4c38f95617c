"""LLaVA-MoLE pre-training (Table 1, PT): batch 256, LR 5e-2 → 2e-5, 500 warm-up steps.

Table 1 prints 5e-2 for the PT learning rate — high next to LLaVA-1.5's 1e-3 for the same
projector, but kept as published.
"""

from mmengine.config import read_base

with read_base():
    from .warmup_cosine import *

base_lr = 5e-2
min_lr = 2e-5
accumulative_counts = 4  # 8 GPUs × 8 per GPU × 4 = 256
optim_wrapper.optimizer.lr = base_lr
optim_wrapper.accumulative_counts = accumulative_counts
param_scheduler[0].end = warmup_steps * accumulative_counts
param_scheduler[1].eta_min = min_lr
auto_scale_lr.base_batch_size = 256
