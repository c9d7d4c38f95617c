"""LLaVA-MoLE instruction data (§4.2): a mixture of three domains with sampling frequencies
λ = [λ_G, λ_D, λ_M] (§3.2, Table 2) — general multi-task (M3IT + ShareGPT4V Instruct), documents
(UReader) and biomedicine (PathVQA) — and the benchmarks: Tiny LVLM-eHub, UReader's ChartQA and
DocVQA, PathVQA open and closed.

Leaves set ``train_dataloader.dataset.frequencies`` (e.g. ``[1, 1, 0]``); a frequency of 0 drops
the dataset. Benchmarks are scored by their papers' protocols (docs/evaluation.md): ChartQA by
relaxed accuracy, DocVQA by ANLS, PathVQA by LLaVA-Med's open recall and closed accuracy; Tiny
LVLM-eHub by exact match of the normalised answer.
"""

from mmengine.config import read_base

with read_base():
    from .instruction_data import *

llm_path = "checkpoints/vicuna-7b-v1.5"
data_root = "data/llava_mole"
general_ann = "general/m3it_sharegpt4v_instruct.json"
document_ann = "document/ureader_train.json"
biomedicine_ann = "biomedicine/pathvqa_train.json"
image_root = "images"

# LLaVA-1.5: one system prompt for every task; Vicuna-7B-v1.5 reads 4096 tokens, 576 of them
# image patches (ViT-L/14 at 336 px).
_llava = dict(
    _instruction,
    tokenizer="{{llm_path}}",
    template=dict(type="VicunaV1", per_task_system=False),
    data_root="{{data_root}}",
    image_root=image_root,
    max_length=4096,
    modality_tokens=dict(image=576),
)
train_dataloader = dict(
    _train_loader,
    dataset=dict(
        type="MixtureDataset",
        datasets=[
            dict(_llava, ann_file=general_ann, name="general"),
            dict(_llava, ann_file=document_ann, name="document"),
            dict(_llava, ann_file=biomedicine_ann, name="biomedicine"),
        ],
        frequencies=[1, 1, 1],
        names=["general", "document", "biomedicine"],
    ),
)
test_dataloader = dict(
    _test_loader,
    dataset=dict(
        type="ConcatDataset",
        datasets=[
            dict(
                _llava,
                ann_file=f"benchmarks/{name}.json",
                default_task="vqa",
                name=name,
                test_mode=True,
            )
            for name in ("tiny_lvlm_ehub", "chartqa", "docvqa", "pathvqa_open", "pathvqa_closed")
        ],
    ),
)
test_evaluator = [
    dict(type="VQAAccuracy", task_types=[], datasets=["tiny_lvlm_ehub"]),
    dict(type="RelaxedAccuracy", task_types=[], datasets=["chartqa"]),
    dict(type="ANLS", task_types=[], datasets=["docvqa"]),
    dict(type="PathVQAMetric", task_types=[], datasets=["pathvqa_open", "pathvqa_closed"]),
]
