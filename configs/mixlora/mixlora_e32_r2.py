"""MixLoRA with E = 32 factors and rank r = 2 (Table 1)."""

from mmengine.config import read_base

with read_base():
    from .mixlora_e16_r4 import *

model.adapters.experts.update(num_factors=32, rank=2)
