"""LLaVA-Med† (Table 2, #5): the plain-LoRA model trained on the biomedicine data only, the
baseline of the PathVQA scores."""

from mmengine.config import read_base

with read_base():
    from .llava_mix_mix110 import *

train_dataloader.dataset.frequencies = [0, 0, 1]
