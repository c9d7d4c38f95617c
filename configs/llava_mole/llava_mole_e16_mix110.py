"""Table 4: 16 experts on the general + document mixture; 16 LoRA experts per MLP, λ = [1, 1, 0]."""

from mmengine.config import read_base

with read_base():
    from .llava_mole_e3_mix111 import *

model.adapters.rules.mlp.experts.num_experts = 16
train_dataloader.dataset.frequencies = [1, 1, 0]
