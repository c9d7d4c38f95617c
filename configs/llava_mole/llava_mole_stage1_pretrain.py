"""LLaVA-MoLE stage 1, pre-training (§4.2, Table 1 PT): only the two-layer MLP projector trains,
on ShareGPT4V-PT captions; no LoRA, no MoE. Stage 2 (``llava_mole_e3_mix111.py`` and the other
SFT configs) starts from its weights through ``stage1_checkpoint``.

    python tools/train.py configs/llava_mole/llava_mole_stage1_pretrain.py
"""

from mmengine.config import read_base

with read_base():
    from .._base_.datasets.sharegpt4v_pretrain import *
    from .._base_.default_runtime import *
    from .._base_.models.llava_mole import *
    from .._base_.schedules.llava_mole_pretrain import *

# Where the weights and the data are: edit these; the lines below put them in place.
llm_path = "checkpoints/vicuna-7b-v1.5"
clip_path = "checkpoints/clip-vit-large-patch14-336"
data_root = "data/llava_mole"

model.update(adapters=None)
model.llm.pretrained = "{{llm_path}}"
model.encoders.image.pretrained = "{{clip_path}}"
train_dataloader.dataset.update(tokenizer="{{llm_path}}", data_root="{{data_root}}")
