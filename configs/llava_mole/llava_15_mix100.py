"""LLaVA-1.5† (Table 2, #3): the plain-LoRA model trained on the general multi-task data only,
the baseline of the Tiny LVLM-eHub scores."""

from mmengine.config import read_base

with read_base():
    from .llava_mix_mix110 import *

train_dataloader.dataset.frequencies = [1, 0, 0]
