"""Interference study, MixLoRA (eq. 4–9): r = 4 of E = 16 rank-1 factors per linear and sample.

A factor pool per linear with its conditional factor router (independent selection for A and B,
conditional selection refining B); the active rank equals the shared LoRA's. ``alpha = 8`` keeps
the scale ``alpha / r = 2`` of the other methods (the pool's default would be ``2E``).
"""

from mmengine.config import read_base

with read_base():
    from .lora import *

model.adapters = dict(
    name="mixlora",
    targets=decoder_linears,
    experts=dict(type="LoRAFactorPool", num_factors=16, rank=4, alpha=8.0, dropout=0.0),
    router=dict(type="ConditionalFactorRouter", rank=4, use_cfs=True),
    sharing="module",
)
