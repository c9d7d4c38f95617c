"""LLaVA-MoLE[1,1]-R128 (Table 3, #10): 2 LoRA experts of rank 128 (α = 2r) per MLP, λ = [1, 1, 0]."""

from mmengine.config import read_base

with read_base():
    from .llava_mole_e2_mix110 import *

model.adapters.rules.mlp.experts.update(rank=128, alpha=256.0)
model.adapters.rules.attention.experts.update(rank=128, alpha=256.0)
