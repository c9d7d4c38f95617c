"""The LoRA baseline of MixLoRA's Table 1, rank 4: one LoRA in every decoder linear, α = 2r."""

from mmengine.config import read_base

with read_base():
    from .lora_r16 import *

model.adapters.experts.update(rank=4, alpha=8.0)
