"""LLaVA-MoLE[1,2,0] (Table 2, #14): document data sampled twice; 2 LoRA experts per MLP, λ = [1, 2, 0]."""

from mmengine.config import read_base

with read_base():
    from .llava_mole_e3_mix111 import *

model.adapters.rules.mlp.experts.num_experts = 2
train_dataloader.dataset.frequencies = [1, 2, 0]
