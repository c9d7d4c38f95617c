"""MixLoRA with E = 16 factors and rank r = 4 (Table 1), instance-based routing with Conditional
Factor Selection, in every linear of the decoder layers; trained on the scaled-down Vision-Flan
from the stage-one LLaVA-v1 (``mixlora_stage1_align.py``). The other MixLoRA configs inherit
from this file.

    python tools/train.py configs/mixlora/mixlora_e16_r4.py
"""

from mmengine.config import read_base

with read_base():
    from .._base_.datasets.vision_flan import *
    from .._base_.default_runtime import *
    from .._base_.models.mixlora import *
    from .._base_.schedules.mixlora import *

# Where the weights and the data are: edit these; the lines below put them in place.
llm_path = "checkpoints/vicuna-7b-v1.3"
clip_path = "checkpoints/clip-vit-large-patch14"
data_root = "data/vision_flan"
stage1_checkpoint = "work_dirs/mixlora_stage1_align/epoch_1"

model.llm.pretrained = "{{llm_path}}"
model.encoders.image.pretrained = "{{clip_path}}"
for _dataset in (train_dataloader.dataset, *test_dataloader.dataset.datasets):
    _dataset.update(tokenizer="{{llm_path}}", data_root="{{data_root}}")
del _dataset
