"""Octavius on images and point clouds (paper Table 3, "LAMM v2 + Scan2Inst" with MoE).

CLIP ViT-L/14 and Object-As-Scene (FCAF3D RoIs precomputed with ``tools/data/extract_rois.py``;
ground-truth boxes for captioning and classification of a given instance) → linear projectors →
Vicuna with LoRA-MoE: 6 rank-32 LoRA experts on q/k/v/o, top-2 instance gate. Trained on LAMM v2
+ Scan2Inst, evaluated on the 2D and 3D benchmarks of Table 3.

    python tools/train.py configs/octavius_2d3d.py
    python tools/test.py configs/octavius_2d3d.py work_dirs/octavius_2d3d/epoch_2
"""

from mmengine.config import read_base

with read_base():
    from ._base_.datasets.lamm_v2_scan2inst import *
    from ._base_.default_runtime import *
    from ._base_.models.octavius_2d3d import *
    from ._base_.schedules.octavius import *

# Where the weights and the data are: edit these; the lines below put them in place.
llm_path = "checkpoints/vicuna-13b-v0"
clip_path = "checkpoints/clip-vit-large-patch14"
point_bert_path = "checkpoints/point_bert_ulip2.pt"
roi_root = "data/octavius/scan2inst/fcaf3d_rois"
data_root = "data/octavius"

model.llm.pretrained = "{{llm_path}}"
model.encoders.image.pretrained = "{{clip_path}}"
model.encoders.point_cloud.point_encoder.checkpoint = "{{point_bert_path}}"
model.encoders.point_cloud.roi_source.root = "{{roi_root}}"
for _dataset in (*train_dataloader.dataset.datasets, *test_dataloader.dataset.datasets):
    _dataset.update(tokenizer="{{llm_path}}", data_root="{{data_root}}")
del _dataset
