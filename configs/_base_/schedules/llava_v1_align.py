"""LLaVA-v1 feature alignment (stage one, projector only): batch 128, LR 2e-3, 1 epoch.

MixLoRA starts from this stage-one LLaVA-v1; the values are LLaVA-v1's published pre-training
settings (cosine to 0, 3% warm-up — about 140 steps on CC-595K).
"""

from mmengine.config import read_base

with read_base():
    from .warmup_cosine import *

base_lr = 2e-3
min_lr = 0.0
warmup_steps = 140
accumulative_counts = 4  # 8 GPUs × 4 per GPU × 4 = 128
optim_wrapper.optimizer.lr = base_lr
optim_wrapper.accumulative_counts = accumulative_counts
param_scheduler[0].end = warmup_steps * accumulative_counts
param_scheduler[1].eta_min = min_lr
auto_scale_lr.base_batch_size = 128
