"""Table 5 "Token": the instance gate replaced by a token-based gate (eq. 1), top-2 of 4 experts.

One router per attention block routes every token on the block input; q/k/v/o reuse its choice.
The paper reports that this fails to converge when only the LoRA modules train.
"""

from mmengine.config import read_base

with read_base():
    from ...octavius_2d import *

model.adapters = dict(
    name="attention",
    targets=r".*\.self_attn\.(q|k|v|o)_proj",
    experts=dict(type="LoRAExperts", num_experts=4, rank=32, alpha=32.0, dropout=0.1),
    router=dict(type="TokenRouter", top_k=2, balance_loss_weight=0.0),
    sharing="block",
)
