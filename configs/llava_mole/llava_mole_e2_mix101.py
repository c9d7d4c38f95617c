"""Table 5, sparse MoE: 2 LoRA experts per MLP, token top-1, on the general + biomedicine
mixture, λ = [1, 0, 1]."""

from mmengine.config import read_base

with read_base():
    from .llava_mole_e3_mix111 import *

model.adapters.rules.mlp.experts.num_experts = 2
train_dataloader.dataset.frequencies = [1, 0, 1]
