"""Table 5, #5, dense MoE with 3 experts on all three datasets: every token through the softmax
mixture of the 3 LoRA experts per MLP (the paper's run ran out of GPU memory); compare with
``llava_mole_e3_mix111.py``, its sparse counterpart."""

from mmengine.config import read_base

with read_base():
    from .llava_mole_e3_mix111 import *

model.adapters.rules.mlp.router.mode = "dense"
