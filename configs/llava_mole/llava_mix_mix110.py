"""LLaVA-Mix[1,1,0] (Table 2, #6): the plain-LoRA baseline — one rank-32 LoRA on every attention
and MLP projection, no experts — on the general + document mixture."""

from mmengine.config import read_base

with read_base():
    from .llava_mole_e3_mix111 import *

model.adapters = dict(
    name="lora",
    targets=r".*\.(self_attn\.(q|k|v|o)|mlp\.(gate|up|down))_proj",
    experts=dict(type="LoRAExperts", num_experts=1, rank=32, alpha=64.0, dropout=0.05),
)
train_dataloader.dataset.frequencies = [1, 1, 0]
