"""LAMM v2 (Octavius §4.1): 2D instruction data from MS-COCO and Bamboo, and the 2D zero-shot
benchmarks of Table 1 — detection on PASCAL VOC, multiple-choice VQA on ScienceQA, captioning on
Flickr30K, classification on CIFAR-10 and CelebA (hair colour, smile).

Annotation files are LLaVA/LAMM-style JSON (docs/data_formats.md); paths are relative to
``data_root``.
"""

from mmengine.config import read_base

with read_base():
    from .instruction_data import *

data_root = "data/octavius"
lamm_v2_ann = "lamm_v2/meta_file/lamm_v2_instruct.json"
lamm_v2_images = "lamm_v2/images"
benchmark_2d_root = "benchmarks_2d"

_lamm_v2_train = dict(
    _instruction,
    data_root="{{data_root}}",
    ann_file=lamm_v2_ann,
    image_root=lamm_v2_images,
    name="lamm_v2",
)
_lamm_v2_test = [
    dict(
        _instruction,
        data_root="{{data_root}}",
        ann_file=f"{benchmark_2d_root}/{name}.json",
        image_root=f"{benchmark_2d_root}/{name}_images",
        default_task=task,
        name=name,
        test_mode=True,
    )
    for name, task in (
        ("voc2012", "detection"),
        ("scienceqa", "vqa"),
        ("flickr30k", "caption"),
        ("cifar10", "classification"),
        ("celeba_hair", "classification"),
        ("celeba_smile", "classification"),
    )
]

train_dataloader = dict(_train_loader, dataset=_lamm_v2_train)
test_dataloader = dict(_test_loader, dataset=dict(type="ConcatDataset", datasets=_lamm_v2_test))
# Octavius Table 1: Rec/Prec@0.5 of boxes parsed from text, Acc@1, CIDEr (with BLEU).
test_evaluator = [
    dict(type="DetectionMetric", iou_thr=0.5),
    dict(type="MultipleChoiceAccuracy", task_types=["vqa"]),
    dict(type="CaptionMetric"),
    dict(type="ClassificationAccuracy"),
]
