"""LLaVA-v1 feature-alignment data (stage one of the model MixLoRA starts from): CC-595K caption
pairs in the plain template."""

from mmengine.config import read_base

with read_base():
    from .instruction_data import *

llm_path = "checkpoints/vicuna-7b-v1.3"
data_root = "data/llava_cc3m_595k"
pretrain_ann = "chat.json"
image_root = "images"

train_dataloader = dict(
    _train_loader,
    dataset=dict(
        _instruction,
        tokenizer="{{llm_path}}",
        template=dict(type="Plain"),
        data_root="{{data_root}}",
        ann_file=pretrain_ann,
        image_root=image_root,
        default_task="caption",
        name="llava_pretrain",
    ),
)
