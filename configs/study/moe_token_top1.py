"""Interference study, token-level routing (LLaVA-MoLE eq. 3–8): top-1 of 4 experts per token.

Four rank-4 LoRA experts per linear (one active per token: the shared LoRA's rank); one router
per block routes each token for the block's linears (attention q/k/v/o, MLP gate/up/down), with
the Switch-style load-balancing loss at α = 1e-2.
"""

from mmengine.config import read_base

with read_base():
    from .lora import *

model.adapters = dict(
    name="token_moe",
    targets=decoder_linears,
    experts=dict(type="LoRAExperts", num_experts=4, rank=4, alpha=8.0, dropout=0.0),
    router=dict(type="TokenRouter", top_k=1, balance_loss_weight=1e-2),
    sharing="block",
)
