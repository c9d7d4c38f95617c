"""Table 4 "– (Baseline)", rank 32 (also Table 1 "Ours"): a single LoRA on q/k/v/o, no gate."""

from mmengine.config import read_base

with read_base():
    from ...octavius_2d import *

model.adapters = dict(
    name="attention",
    targets=r".*\.self_attn\.(q|k|v|o)_proj",
    experts=dict(type="LoRAExperts", num_experts=1, rank=32, alpha=32.0, dropout=0.1),
)
