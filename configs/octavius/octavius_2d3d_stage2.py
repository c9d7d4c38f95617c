"""Octavius 2D + 3D, two-stage recipe, stage 2: the paper's model (6 LoRA experts, top-2 instance
gate) starting from the stage-1 projectors and fusion (``octavius_2d3d_stage1_projectors.py``)."""

from mmengine.config import read_base

with read_base():
    from ..octavius_2d3d import *

stage1_checkpoint = "work_dirs/octavius_2d3d_stage1_projectors/epoch_1"
