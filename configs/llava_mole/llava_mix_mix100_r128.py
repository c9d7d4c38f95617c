"""LLaVA-Mix[1,0]-R128 (Table 3): the plain-LoRA baseline with rank 128 (α = 2r) on λ = [1, 0, 0]."""

from mmengine.config import read_base

with read_base():
    from .llava_15_mix100 import *

model.adapters.experts.update(rank=128, alpha=256.0)
