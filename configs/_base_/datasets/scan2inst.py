"""Scan2Inst (Octavius §4.1): 3D instruction data on ScanNet (VQA, captioning, classification),
and the 3D evaluations of Table 2 — fine-tuned: captioning on Scan2Cap, VQA on ScanQA,
classification on ScanNet; zero-shot: classification on ShapeNet (55 classes), captioning on Nr3D.

Scenes are ``<scene_id>.npy`` (N × 6, xyz + rgb) with ``<scene_id>_boxes.npy`` instance boxes
under ``scan2inst_points``; annotation files are LAMM-style JSON relative to ``data_root``.
"""

from mmengine.config import read_base

with read_base():
    from .instruction_data import *

data_root = "data/octavius"
scan2inst_ann = "scan2inst/meta_file/scan2inst_train.json"
scan2inst_points = "scan2inst/points"
benchmark_3d_root = "benchmarks_3d"

# The release's conversation layout with LAMM's 3D system messages (see lamm_v2.py).
_scan = dict(
    _instruction,
    template=dict(type="LAMMTemplate"),
    data_root="{{data_root}}",
    point_root=scan2inst_points,
)
_scan2inst_train = dict(
    _scan, ann_file=scan2inst_ann, add_missing_placeholder=True, name="scan2inst"
)
_scan2inst_test = [
    dict(
        _scan,
        ann_file=f"{benchmark_3d_root}/{name}.json",
        point_root=points,
        add_missing_placeholder=True,
        default_task=task,
        name=name,
        test_mode=True,
    )
    for name, task, points in (
        ("scan2cap", "caption", scan2inst_points),
        ("scanqa", "vqa", scan2inst_points),
        ("scannet_cls", "classification", scan2inst_points),
        ("shapenet", "classification", f"{benchmark_3d_root}/shapenet_points"),
        ("nr3d", "caption", scan2inst_points),
    )
]

train_dataloader = dict(_train_loader, dataset=_scan2inst_train)
test_dataloader = dict(_test_loader, dataset=dict(type="ConcatDataset", datasets=_scan2inst_test))
# Octavius Table 2: BLEU-1 and CIDEr for captioning; ScanQA's answers with ScanQAMetric (BLEU-1..4,
# ROUGE-L, CIDEr, EM; METEOR with meteor=True and Java); Acc@1.
test_evaluator = [
    dict(type="CaptionMetric", task_types=["caption"]),
    dict(type="ScanQAMetric", datasets=["scanqa"]),
    dict(type="ClassificationAccuracy"),
]
