"""Interference study, LoRA-MoE with the instance gate (Octavius eq. 3): top-2 of 8 experts.

Eight rank-2 LoRA experts per linear, so the two active ones match the shared LoRA's rank 4 (equal
active parameters) and the bank's total rank is 16; one global gate reads the question
(``z^qu``) and routes every layer.
"""

from mmengine.config import read_base

with read_base():
    from .lora import *

model.adapters = dict(
    name="moe",
    targets=decoder_linears,
    experts=dict(type="LoRAExperts", num_experts=8, rank=2, alpha=4.0, dropout=0.0),
    router=dict(type="InstanceRouter", top_k=2),
    sharing="global",
)
