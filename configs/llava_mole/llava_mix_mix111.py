"""LLaVA-Mix[1,1,1] (Table 2, #8): the plain-LoRA baseline on all three domains."""

from mmengine.config import read_base

with read_base():
    from .llava_mix_mix110 import *

train_dataloader.dataset.frequencies = [1, 1, 1]
