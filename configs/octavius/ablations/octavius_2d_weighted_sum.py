"""Table 4 "Weighted Sum": the dense gate — every expert, weighted by the gate's softmax."""

from mmengine.config import read_base

with read_base():
    from ...octavius_2d import *

model.adapters.router.mode = "dense"
