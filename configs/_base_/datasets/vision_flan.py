"""MixLoRA's instruction data (§5.1, appendix B): the scaled-down Vision-Flan, every sample with
its task's definition (read by task-embedding routing), and held-out evaluation sets scored by
an LLM judge or by exact match.

The evaluation here scores exact-match accuracy; ``LLMJudgeAccuracy`` with a local judge model
reproduces the paper's Vicuna-judged accuracy (appendix C).
"""

from mmengine.config import read_base

with read_base():
    from .instruction_data import *

llm_path = "checkpoints/vicuna-7b-v1.3"
data_root = "data/vision_flan"
vision_flan_ann = "annotation_191-task_1k.json"
image_root = "images_191task_1k"

_flan = dict(
    _instruction,
    tokenizer="{{llm_path}}",
    template=dict(type="VicunaV1", per_task_system=False),
    data_root="{{data_root}}",
    image_root=image_root,
    default_task="vqa",
)
train_dataloader = dict(
    _train_loader, batch_size=8, dataset=dict(_flan, ann_file=vision_flan_ann, name="vision_flan")
)
test_dataloader = dict(
    _test_loader,
    dataset=dict(
        type="ConcatDataset",
        datasets=[
            dict(_flan, ann_file=f"eval/{name}.json", name=name, test_mode=True)
            for name in ("textvqa", "vizwiz", "vsr", "cifar10", "mnist", "snli_ve", "pope")
        ],
    ),
)
test_evaluator = [dict(type="VQAAccuracy", task_types=[])]
