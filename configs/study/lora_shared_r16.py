"""Interference study, shared LoRA at equal total parameters: one rank-16 LoRA per linear.

The rank of the expert banks' total (8 × rank 2, 4 × rank 4, 16 rank-1 factors), so a gap between
the experts and ``lora.py`` can be told apart from a gap in capacity.
"""

from mmengine.config import read_base

with read_base():
    from .lora import *

model.adapters.experts.update(rank=16, alpha=32.0)
