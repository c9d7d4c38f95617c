"""MixLoRA Table 3's test sets: 300 held-out instances of each of six seen Vision-Flan tasks
(§6, "Analysis of Task Interference"), scored like the other Vision-Flan sets.

Leaves set ``test_dataloader = _seen_test_dataloader`` (the six sets, read with the leaf's
``llm_path`` tokenizer under its ``data_root``) and ``test_evaluator = _seen_test_evaluator``.
"""

from mmengine.config import read_base

with read_base():
    from .vision_flan import *

_seen_tasks = ("scienceqa", "coco", "fairface", "inaturalist", "st_vqa", "pacs")
_seen_test_sets = [
    dict(_flan, ann_file=f"eval_seen/{name}.json", name=name, test_mode=True)
    for name in _seen_tasks
]
_seen_test_dataloader = dict(
    _test_loader,
    dataset=dict(
        type="ConcatDataset",
        datasets=[
            dict(d, tokenizer="{{llm_path}}", data_root="{{data_root}}") for d in _seen_test_sets
        ],
    ),
)
# The held-out Vision-Flan answers are free-form: the judge of appendix C, and exact match.
_seen_test_evaluator = [
    dict(
        type="LLMJudgeAccuracy",
        judge_model="checkpoints/vicuna-13b-v1.5",
        dtype="float16",
        datasets=list(_seen_tasks),
    ),
    dict(type="VQAAccuracy", task_types=[], datasets=list(_seen_tasks)),
]
