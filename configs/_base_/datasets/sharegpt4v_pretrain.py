"""LLaVA-MoLE pre-training data (§4.2): ShareGPT4V-PT, 1.3M detailed captions, in LLaVA's plain
template (image tokens, then the caption)."""

from mmengine.config import read_base

with read_base():
    from .instruction_data import *

llm_path = "checkpoints/vicuna-7b-v1.5"
data_root = "data/llava_mole"
pretrain_ann = "pretrain/sharegpt4v_pt_1246k.json"
image_root = "images"

train_dataloader = dict(
    _train_loader,
    batch_size=8,
    dataset=dict(
        _instruction,
        tokenizer="{{llm_path}}",
        template=dict(type="Plain"),
        data_root="{{data_root}}",
        ann_file=pretrain_ann,
        image_root=image_root,
        default_task="caption",
        max_length=4096,
        modality_tokens=dict(image=576),
        name="sharegpt4v_pt",
    ),
)
