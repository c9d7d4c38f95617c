"""LAMM v2 + Scan2Inst (Octavius §4.1, 2D & 3D setup): both instruction sets merged, and the 2D
and 3D evaluations of Table 3."""

from mmengine.config import read_base

with read_base():
    from .lamm_v2 import *
    from .scan2inst import *

# "We merge the image and point cloud instruction dataset"; the release's OctaviusDataset repeats
# Scan2Inst (loop_2d: 1, loop_3d: 2 in octavius_2d+3d_e6_bs64.yaml).
train_dataloader = dict(
    _train_loader,
    dataset=dict(
        type="MixtureDataset",
        datasets=[_lamm_v2_train, _scan2inst_train],
        frequencies=[1, 2],
        names=["lamm_v2", "scan2inst"],
    ),
)
# Metrics choose samples by task type, and ScienceQA (multiple choice) and ScanQA (open answers,
# scored like captions) are both "vqa": ScanQA is evaluated by the 3D config (octavius_3d.py).
test_dataloader = dict(
    _test_loader,
    dataset=dict(
        type="ConcatDataset",
        datasets=[*_lamm_v2_test, *(d for d in _scan2inst_test if d["name"] != "scanqa")],
    ),
)
test_evaluator = [
    dict(type="DetectionMetric", iou_thr=0.5),
    dict(type="MultipleChoiceAccuracy", task_types=["vqa"]),
    dict(type="CaptionMetric"),
    dict(type="ClassificationAccuracy"),
]
