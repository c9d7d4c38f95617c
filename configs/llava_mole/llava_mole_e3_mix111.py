"""LLaVA-MoLE[1,1,1] (Table 2, #13): 3 LoRA experts per MLP, token top-1 routing, trained on the
general + document + biomedicine mixture with λ = [1, 1, 1].

Stage 2 of the two-stage recipe: starts from the stage-1 projector
(``llava_mole_stage1_pretrain.py``) and adds the mixture of LoRA experts. The other LLaVA-MoLE
and LLaVA-Mix configs inherit from this file.

    python tools/train.py configs/llava_mole/llava_mole_e3_mix111.py
"""

from mmengine.config import read_base

with read_base():
    from .._base_.datasets.llava_mole_mixture import *
    from .._base_.default_runtime import *
    from .._base_.models.llava_mole import *
    from .._base_.schedules.llava_mole_sft import *

# Where the weights and the data are: edit these; the lines below put them in place.
llm_path = "checkpoints/vicuna-7b-v1.5"
clip_path = "checkpoints/clip-vit-large-patch14-336"
data_root = "data/llava_mole"
stage1_checkpoint = "work_dirs/llava_mole_stage1_pretrain/epoch_1"

model.llm.pretrained = "{{llm_path}}"
model.encoders.image.pretrained = "{{clip_path}}"
for _dataset in (*train_dataloader.dataset.datasets, *test_dataloader.dataset.datasets):
    _dataset.update(tokenizer="{{llm_path}}", data_root="{{data_root}}")
del _dataset

model.adapters.rules.mlp.experts.num_experts = 3
train_dataloader.dataset.frequencies = [1, 1, 1]
