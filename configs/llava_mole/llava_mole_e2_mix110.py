"""LLaVA-MoLE[1,1,0] (Table 2, #12; Table 4, 2 experts); 2 LoRA experts per MLP, λ = [1, 1, 0]."""

from mmengine.config import read_base

with read_base():
    from .llava_mole_e3_mix111 import *

model.adapters.rules.mlp.experts.num_experts = 2
train_dataloader.dataset.frequencies = [1, 1, 0]
