"""Table 5: 8 experts, sparse top-2 instance gate."""

from mmengine.config import read_base

with read_base():
    from ...octavius_2d import *

model.adapters.experts.num_experts = 8
