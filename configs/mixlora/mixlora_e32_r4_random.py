"""MixLoRA E = 32, r = 4 with random routing (Table 2, "Random"): each linear draws r factors
uniformly per sample for A and, independently, r for B (as the official release); the baseline
showing that the gains come from routing rather than from the extra parameters."""

from mmengine.config import read_base

with read_base():
    from .mixlora_e32_r4 import *

model.adapters = dict(
    name="mixlora",
    targets=r"(.*\.)?layers\.\d+\..+",
    experts=dict(type="LoRAFactorPool", num_factors=32, rank=4, dropout=0.05),
    router=dict(type="RandomRouter", top_k=4),
)
