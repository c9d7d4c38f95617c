"""Table 5, dense MoE: 2 LoRA experts per MLP mixed by their softmax weights on every token
(no top-1 selection), on the general + biomedicine mixture; compare with
``llava_mole_e2_mix101.py``, its sparse counterpart."""

from mmengine.config import read_base

with read_base():
    from .llava_mole_e2_mix101 import *

model.adapters.rules.mlp.router.mode = "dense"
