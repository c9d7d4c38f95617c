"""MixLoRA fine-tuning (appendix B): 3 epochs, total batch 128, LR 4e-5.

The paper takes the rest from LLaVA's LoRA defaults: cosine decay to 0 and a warm-up of 3% of
the steps, about 150 steps for the scaled-down Vision-Flan (our estimate; set it for your data).
"""

from mmengine.config import read_base

with read_base():
    from .warmup_cosine import *

base_lr = 4e-5
min_lr = 0.0
warmup_steps = 150
max_epochs = 3
accumulative_counts = 4  # as the paper: 8 per GPU × 4 accumulation steps × 4 GPUs = 128
optim_wrapper.optimizer.lr = base_lr
optim_wrapper.accumulative_counts = accumulative_counts
param_scheduler[0].end = warmup_steps * accumulative_counts
param_scheduler[1].update(eta_min=min_lr, end=max_epochs)
train_cfg.max_epochs = max_epochs
auto_scale_lr.base_batch_size = 128
