"""Interference study, dense mixture (Octavius Table 4 "Weighted Sum"): every expert, gate-weighted.

The bank of ``moe_instance_top2.py`` (eight rank-2 experts per linear, one global instance gate),
with all eight experts active and weighted by the gate's softmax.
"""

from mmengine.config import read_base

with read_base():
    from .moe_instance_top2 import *

model.adapters.router = dict(type="InstanceRouter", mode="dense")
