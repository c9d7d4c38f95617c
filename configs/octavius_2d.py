"""Octavius on images (paper Table 1, "Ours w/ MoE"; Table 4 "Sparse Top-2", rank 32).

CLIP ViT-L/14 → linear projector → Vicuna with LoRA-MoE: 4 rank-32 LoRA experts on q/k/v/o,
top-2 instance gate. Trained on LAMM v2, evaluated zero-shot on the 2D benchmarks of Table 1.
The ablations of Tables 4–5 inherit from this file (``configs/octavius/ablations/``).

    python tools/train.py configs/octavius_2d.py
"""

from mmengine.config import read_base

with read_base():
    from ._base_.datasets.lamm_v2 import *
    from ._base_.default_runtime import *
    from ._base_.models.octavius_2d import *
    from ._base_.schedules.octavius import *

# Where the weights and the data are: edit these; the lines below put them in place.
llm_path = "checkpoints/vicuna-13b-v0"
clip_path = "checkpoints/clip-vit-large-patch14"
data_root = "data/octavius"

model.llm.pretrained = "{{llm_path}}"
model.encoders.image.pretrained = "{{clip_path}}"
for _dataset in (train_dataloader.dataset, *test_dataloader.dataset.datasets):
    _dataset.update(tokenizer="{{llm_path}}", data_root="{{data_root}}")
del _dataset
