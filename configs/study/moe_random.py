"""Interference study, random routing (MixLoRA Table 2 baseline): 2 of 8 experts drawn per sample.

The bank of ``moe_instance_top2.py`` with the gate replaced by a uniform random draw per sample,
the same for every layer (one global router), weights 1/2.
"""

from mmengine.config import read_base

with read_base():
    from .moe_instance_top2 import *

model.adapters.router = dict(type="RandomRouter", top_k=2, seed=0)
