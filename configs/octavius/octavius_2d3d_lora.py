"""Octavius 2D + 3D without MoE (Table 3, "LAMM v2 + Scan2Inst" without MoE): one rank-32 LoRA
on q/k/v/o, no gate."""

from mmengine.config import read_base

with read_base():
    from ..octavius_2d3d import *

model.adapters = dict(
    name="attention",
    targets=r".*\.self_attn\.(q|k|v|o)_proj",
    experts=dict(type="LoRAExperts", num_experts=1, rank=32, alpha=32.0, dropout=0.1),
)
