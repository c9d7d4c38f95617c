"""LLaVA-MoLE[1,2,1] (Table 2, #15): document data sampled twice; 3 LoRA experts per MLP, λ = [1, 2, 1]."""

from mmengine.config import read_base

with read_base():
    from .llava_mole_e3_mix111 import *

model.adapters.rules.mlp.experts.num_experts = 3
train_dataloader.dataset.frequencies = [1, 2, 1]
