"""Stage one of LLaVA-v1 (feature alignment), the model MixLoRA fine-tunes (appendix B): only the
linear projector trains, on CC-595K captions; no LoRA. The MixLoRA configs start from its weights
through ``stage1_checkpoint``.

    python tools/train.py configs/mixlora/mixlora_stage1_align.py
"""

from mmengine.config import read_base

with read_base():
    from .._base_.datasets.llava_cc595k import *
    from .._base_.default_runtime import *
    from .._base_.models.mixlora import *
    from .._base_.schedules.llava_v1_align import *

# Where the weights and the data are: edit these; the lines below put them in place.
llm_path = "checkpoints/vicuna-7b-v1.3"
clip_path = "checkpoints/clip-vit-large-patch14"
data_root = "data/llava_cc3m_595k"

model.update(adapters=None, freeze_projectors=False)
model.llm.pretrained = "{{llm_path}}"
model.encoders.image.pretrained = "{{clip_path}}"
train_dataloader.dataset.update(tokenizer="{{llm_path}}", data_root="{{data_root}}")
