"""Table 4: sparse top-2 gate with rank-16 experts."""

from mmengine.config import read_base

with read_base():
    from ...octavius_2d import *

model.adapters.experts.update(rank=16, alpha=16.0)
