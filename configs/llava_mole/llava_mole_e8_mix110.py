"""Table 4: 8 experts on the general + document mixture; 8 LoRA experts per MLP, λ = [1, 1, 0]."""

from mmengine.config import read_base

with read_base():
    from .llava_mole_e3_mix111 import *

model.adapters.rules.mlp.experts.num_experts = 8
train_dataloader.dataset.frequencies = [1, 1, 0]
