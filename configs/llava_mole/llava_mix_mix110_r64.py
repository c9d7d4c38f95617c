"""LLaVA-Mix[1,1]-R64 (Table 3): the plain-LoRA baseline with rank 64 (α = 2r) on λ = [1, 1, 0]."""

from mmengine.config import read_base

with read_base():
    from .llava_mix_mix110 import *

model.adapters.experts.update(rank=64, alpha=128.0)
