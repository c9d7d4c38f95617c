"""The LoRA baseline of MixLoRA's Table 1, rank 32: one LoRA in every decoder linear, α = 2r
(appendix B)."""

from mmengine.config import read_base

with read_base():
    from .mixlora_e16_r4 import *

model.adapters = dict(
    name="lora",
    targets=r"(.*\.)?layers\.\d+\..+",
    experts=dict(type="LoRAExperts", num_experts=1, rank=32, alpha=64.0, dropout=0.05),
)
