"""LAMM v2 (Octavius §4.1): 2D instruction data from MS-COCO and Bamboo, and the 2D zero-shot
benchmarks of Table 1 — detection on PASCAL VOC, multiple-choice VQA on ScienceQA, captioning on
Flickr30K, classification on CIFAR-10 and CelebA (hair colour, smile).

The instruction file is LLaVA/LAMM-style JSON (docs/data_formats.md); the benchmarks are LAMM's
released ``2D_Benchmark`` folder at ``data_root/benchmark_2d_root``.
"""

from mmengine.config import read_base

with read_base():
    from .instruction_data import *

data_root = "data/octavius"
lamm_v2_ann = "lamm_v2/meta_file/lamm_v2_instruct.json"
lamm_v2_images = "lamm_v2/images"
benchmark_2d_root = "benchmarks_2d"

# The release's conversation layout: "### Human: <Img>…</Img> …\n### Assistant: …\n###" with
# LAMM's per-task system messages in training and none at test (LAMMTemplate); detection answers
# are worded anew at every read: boxes shuffled, one of 14 sentences each (reconstruct_gt_input).
_lamm_template = dict(type="LAMMTemplate")
_lamm_v2_train = dict(
    _instruction,
    template=_lamm_template,
    text_transforms=[dict(type="RetemplateDetectionAnswer")],
    data_root="{{data_root}}",
    ann_file=lamm_v2_ann,
    image_root=lamm_v2_images,
    name="lamm_v2",
)
_cifar10_classes = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
# The benchmark files as LAMM releases them (2D_Benchmark/meta_file/*.json), read by LAMM2DBenchmark.
_lamm_v2_test = [
    dict(
        _instruction,
        template=_lamm_template,
        type="LAMM2DBenchmark",
        data_root="{{data_root}}",
        ann_file=f"{benchmark_2d_root}/meta_file/{file}",
        image_root=benchmark_2d_root,
        name=name,
        test_mode=True,
        **extra,
    )
    for name, file, extra in (
        ("voc2012", "Detection_VOC2012.json", {}),
        ("scienceqa", "VQA_ScienceQA.json", {}),
        ("flickr30k", "Caption_flickr30k.json", {}),
        # LAMM's loader lists the classes, shuffled, after the question
        ("cifar10", "Classification_CIFAR10.json", dict(class_names=list(_cifar10_classes))),
        ("celeba_hair", "Facial_Classification_CelebA(Hair).json", {}),
        ("celeba_smile", "Facial_Classification_CelebA(Smile).json", {}),
    )
]

train_dataloader = dict(_train_loader, dataset=_lamm_v2_train)
test_dataloader = dict(_test_loader, dataset=dict(type="ConcatDataset", datasets=_lamm_v2_test))
# Octavius Table 1 with LAMM's protocols (docs/evaluation.md): detection recall/precision from
# sentences, maximum matching, with and without the class, at IoU 0.5 and 0.25; ScienceQA option
# parsing; CIDEr (with BLEU); CIFAR-10 and CelebA hair as LAMM_Classification scores them, CelebA
# smile by LAMM's no/not rule.
test_evaluator = [
    dict(type="DetectionMetric", protocol="lamm", datasets=["voc2012"]),
    dict(
        type="MultipleChoiceAccuracy", protocol="lamm", task_types=["vqa"], datasets=["scienceqa"]
    ),
    dict(type="CaptionMetric", datasets=["flickr30k"]),
    dict(type="ClassificationAccuracy", match="lamm", datasets=["cifar10", "celeba_hair"]),
    dict(type="ClassificationAccuracy", match="lamm_smile", datasets=["celeba_smile"]),
]
