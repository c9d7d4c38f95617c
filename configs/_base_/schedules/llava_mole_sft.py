"""LLaVA-MoLE instruction fine-tuning (Table 1, SFT): batch 64, LR 2e-5 → 2e-6, 500 warm-up steps."""

from mmengine.config import read_base

with read_base():
    from .warmup_cosine import *
