"""Interference study, individual experts (Octavius Table 4 "Individual"): task t → expert t.

Eight rank-4 LoRA experts per linear, one per study task, chosen by the sample's task id (an
oracle router: no gate learns anything). The active rank is the shared LoRA's; the total is 32.
"""

from mmengine.config import read_base

with read_base():
    from .lora import *

model.adapters = dict(
    name="individual",
    targets=decoder_linears,
    experts=dict(type="LoRAExperts", num_experts=8, rank=4, alpha=8.0, dropout=0.0),
    router=dict(type="InstanceRouter", mode="individual"),
    sharing="global",
)
