"""LLaVA-Mix ×2 [1,1,1] (Table 2, #11): the plain-LoRA baseline on all three datasets, trained for
two epochs (every sample seen twice)."""

from mmengine.config import read_base

with read_base():
    from .llava_mix_mix111 import *

max_epochs = 2
param_scheduler[1].end = max_epochs
train_cfg.max_epochs = max_epochs
