"""Octavius on point clouds (paper Table 2, "Ours w/ MoE").

Object-As-Scene (FCAF3D RoIs precomputed with ``tools/data/extract_rois.py``; ground-truth boxes
for captioning and classification of a given instance) → linear projector → Vicuna with
LoRA-MoE: 3 rank-32 LoRA experts on q/k/v/o, top-2 instance gate. Trained on Scan2Inst,
evaluated on the 3D tasks of Table 2.

    python tools/train.py configs/octavius_3d.py
"""

from mmengine.config import read_base

with read_base():
    from ._base_.datasets.scan2inst import *
    from ._base_.default_runtime import *
    from ._base_.models.octavius_3d import *
    from ._base_.schedules.octavius import *

# Where the weights and the data are: edit these; the lines below put them in place.
llm_path = "checkpoints/vicuna-13b-v0"
point_bert_path = "checkpoints/point_bert_ulip2.pt"
roi_root = "data/octavius/scan2inst/fcaf3d_rois"
data_root = "data/octavius"

model.llm.pretrained = "{{llm_path}}"
model.encoders.point_cloud.point_encoder.checkpoint = "{{point_bert_path}}"
model.encoders.point_cloud.roi_source.root = "{{roi_root}}"
for _dataset in (train_dataloader.dataset, *test_dataloader.dataset.datasets):
    _dataset.update(tokenizer="{{llm_path}}", data_root="{{data_root}}")
del _dataset

# The release trains the 3D model for 3 epochs (octavius_3d_e3_bs64.yaml), 2D and 2D + 3D for 2.
max_epochs = 3
param_scheduler[0].end = warmup_ratio * max_epochs
param_scheduler[1].update(begin=warmup_ratio * max_epochs, end=max_epochs)
train_cfg.max_epochs = max_epochs
