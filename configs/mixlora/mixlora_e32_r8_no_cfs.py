"""MixLoRA E = 32, r = 8 without Conditional Factor Selection (Fig. 4): B's factors chosen by
their Independent Factor Selection router alone."""

from mmengine.config import read_base

with read_base():
    from .mixlora_e32_r8 import *

model.adapters.router.use_cfs = False
