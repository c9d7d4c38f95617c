"""LLaVA-Mix[1,0,1] (Table 2, #7): the plain-LoRA baseline on λ = [1, 0, 1]."""

from mmengine.config import read_base

with read_base():
    from .llava_mix_mix110 import *

train_dataloader.dataset.frequencies = [1, 0, 1]
