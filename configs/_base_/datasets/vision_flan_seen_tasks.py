"""MixLoRA Table 3's test sets: 300 held-out instances of each of six seen Vision-Flan tasks
(§6, "Analysis of Task Interference"), scored like the other Vision-Flan sets.

Leaves build ``test_dataloader`` from ``_seen_test_sets`` with their own tokenizer and data root.
"""

from mmengine.config import read_base

with read_base():
    from .vision_flan import *

_seen_test_sets = [
    dict(_flan, ann_file=f"eval_seen/{name}.json", name=name, test_mode=True)
    for name in ("scienceqa", "coco", "fairface", "inaturalist", "st_vqa", "pacs")
]
