"""Interference study, shared LoRA: one rank-4 LoRA in every linear of the decoder layers.

The base of the study's configs (docs/interference_study.md): the quickstart pipeline (CLIP
tower and Object-As-Scene over a tiny Point-BERT, linear projectors) around a frozen LLaMA — the
study replaces ``model.llm`` by its stage-0 pretrained base and the data by its conflict and
control tasks, and trains with its own epoch budgets. Every method adapts the same linears with
the same scale ``alpha / rank = 2``.

``tools/analysis/interference_study.py`` runs this config on the mixture (shared LoRA) and on
each task alone (the LoRA specialists), with per-task datasets it writes; run alone, it trains on
the whole synthetic mixture:

    python tools/train.py configs/study/lora.py
"""

from mmengine.config import read_base

with read_base():
    from ..quickstart.octavius_2d3d_tiny import *

study_data_root = ".cache/interference_study/data"
decoder_linears = r"(.*\.)?layers\.\d+\.(self_attn|mlp)\.[a-z_]+_proj"
config_variables = [*config_variables, "study_data_root", "decoder_linears"]

# Only the tiny models and this study's data are prepared (no RoI files: the scenes' instance
# boxes serve as RoIs directly, below).
quickstart = dict(
    tiny_assets=quickstart.tiny_assets,
    synthetic=dict(
        out_dir=study_data_root,
        num_images=1000,
        num_scenes=500,
        difficulty="easy",
        image_size=32,
        seed=0,
        tasks=["vqa", "vqa_open", "classification"],
    ),
    test_after_train=True,
)
# The model is pinned here rather than inherited, so the study's numbers do not move when the
# quickstart changes: linear projectors (trainable), Object-As-Scene on the instance boxes, and a
# frozen LLM whose output layer stays frozen too (only adapters, routers and projectors train).
model.projector = "LinearProjector"
model.encoders.point_cloud = dict(
    type="ObjectAsSceneEncoder",
    point_encoder=dict(type="PointBERT", checkpoint="{{point_bert_path}}", **_tiny_point_bert),
    roi_source=dict(type="GTBoxRoISource"),
    num_rois=4,
    points_per_roi=32,
    train_resampling=False,  # the RoI points of a scene are fixed, as in the feature cache
    num_queries=4,
    num_layers=2,
    num_heads=2,
)
model.adapters = dict(
    name="lora",
    targets=decoder_linears,
    experts=dict(type="LoRAExperts", num_experts=1, rank=4, alpha=8.0, dropout=0.0),
    router=None,
)
model.generation = dict(max_new_tokens=24)  # object lists: about 15 tokens for two objects

# One short system prompt for every task — the one the stage-0 base was pretrained with — so a
# sample is about 35 text tokens and the task is told only by its tag.
study_system_prompt = "A chat between a curious human and an artificial intelligence assistant."
config_variables = [*config_variables, "study_system_prompt"]
_template = dict(
    type="VicunaV1", system_prompts=dict(default=study_system_prompt), per_task_system=False
)
for _dataset in (train_dataloader.dataset.datasets[0], test_dataloader.dataset.datasets[0]):
    _dataset.update(data_root=study_data_root, name="synthetic_2d", template=_template)
for _dataset in (train_dataloader.dataset.datasets[1], test_dataloader.dataset.datasets[1]):
    _dataset.update(data_root=study_data_root, name="synthetic_3d", template=_template)
del _dataset
# Counting and multiple-choice answers are both task "vqa": exact match scores either.
test_evaluator = [dict(type="VQAAccuracy"), dict(type="ClassificationAccuracy")]

max_iters = 1500
warmup_steps = 50
base_lr = 3e-3
min_lr = 3e-5
optim_wrapper.optimizer.lr = base_lr
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-2, by_epoch=False, begin=0, end=warmup_steps),
    dict(
        type="CosineAnnealingLR", eta_min=min_lr, by_epoch=False, begin=warmup_steps, end=max_iters
    ),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters)
default_hooks.checkpoint.update(interval=max_iters, by_epoch=False, max_keep_ckpts=1)
default_hooks.logger.interval = 100
