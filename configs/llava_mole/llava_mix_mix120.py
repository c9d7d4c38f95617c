"""LLaVA-Mix[1,2,0] (Table 2, #9): the plain-LoRA baseline on λ = [1, 2, 0]."""

from mmengine.config import read_base

with read_base():
    from .llava_mix_mix110 import *

train_dataloader.dataset.frequencies = [1, 2, 0]
