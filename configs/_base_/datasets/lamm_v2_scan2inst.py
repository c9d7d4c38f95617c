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
# Metrics choose their samples by dataset, so ScienceQA (multiple choice) and ScanQA (open
# answers), both "vqa", are scored each by its own protocol.
test_dataloader = dict(
    _test_loader,
    dataset=dict(type="ConcatDataset", datasets=[*_lamm_v2_test, *_scan2inst_test]),
)
test_evaluator = [
    dict(type="DetectionMetric", protocol="lamm", datasets=["voc2012"]),
    dict(
        type="MultipleChoiceAccuracy", protocol="lamm", task_types=["vqa"], datasets=["scienceqa"]
    ),
    dict(type="CaptionMetric", task_types=["caption"]),
    dict(type="ScanQAMetric", datasets=["scanqa"]),
    dict(type="ClassificationAccuracy", match="lamm", datasets=["cifar10", "celeba_hair"]),
    dict(type="ClassificationAccuracy", match="lamm_smile", datasets=["celeba_smile"]),
    dict(type="ClassificationAccuracy", datasets=["scannet_cls", "shapenet"]),
]
