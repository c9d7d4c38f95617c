"""LLaVA-Doc† (Table 2, #4): the plain-LoRA model trained on the document data only, the
baseline of the UReader scores."""

from mmengine.config import read_base

with read_base():
    from .llava_mix_mix110 import *

train_dataloader.dataset.frequencies = [0, 1, 0]
