"""MixLoRA's instruction data (§5.1, appendix B): the scaled-down Vision-Flan, every sample with
its task's definition (read by task-embedding routing), and held-out evaluation sets scored by
an LLM judge, and MME.

Table 1's protocols (docs/evaluation.md): MME by its official tool's scores (perception +
cognition, MMEScore on MME's release folder, MMEBenchmark); the seven other sets by Vicuna-13B-v1.5
as judge with the prompt of appendix C (LLMJudgeAccuracy; point ``judge_model`` at the local
weights, or use ``judge=dict(type="OpenAIJudge", base_url=..., model=...)`` for a served judge),
with exact match alongside.
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
# Table 1's held-out sets besides MME.
_judged = ("textvqa", "vsr", "snli_ve", "cifar10", "cifar100", "mnist", "pope")
train_dataloader = dict(
    _train_loader, batch_size=8, dataset=dict(_flan, ann_file=vision_flan_ann, name="vision_flan")
)
test_dataloader = dict(
    _test_loader,
    dataset=dict(
        type="ConcatDataset",
        datasets=[
            *(
                dict(_flan, ann_file=f"eval/{name}.json", name=name, test_mode=True)
                for name in _judged
            ),
            dict(
                _flan,
                type="MMEBenchmark",
                ann_file="eval/MME_Benchmark_release_version",
                image_root="",
                name="mme",
                test_mode=True,
            ),
        ],
    ),
)
test_evaluator = [
    dict(type="MMEScore", datasets=["mme"]),
    dict(
        type="LLMJudgeAccuracy",
        judge_model="checkpoints/vicuna-13b-v1.5",
        dtype="float16",
        datasets=list(_judged),
    ),
    dict(type="VQAAccuracy", task_types=[], datasets=list(_judged)),
]
