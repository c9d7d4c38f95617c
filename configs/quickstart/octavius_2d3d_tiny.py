"""The embedded quickstart: the ``octavius_2d3d.py`` pipeline in miniature, on a CPU in minutes.

Same components — CLIP image encoder, Object-As-Scene over Point-BERT, linear projectors, a LLaMA
with LoRA-MoE (6 experts, top-2 instance gate), the 2D + 3D instruction mixture, AdamW with
warm-up and cosine decay, the paper metrics — with tiny models built locally (a 2-layer LLaMA and
its tokenizer, a 2-layer CLIP tower, a small Point-BERT) and the deterministic synthetic 2D + 3D
instruction set, all cached under ``.cache/quickstart/`` (run from the repository root). The
RoIs are precomputed files as for the paper's FCAF3D detections, written from the synthetic
scenes' instance boxes.

    python tools/train.py configs/quickstart/octavius_2d3d_tiny.py

builds what is missing, trains with a progress bar, then evaluates on the test split and prints
the metrics table (``work_dirs/octavius_2d3d_tiny/metrics.json``).
"""

from mmengine.config import read_base

with read_base():
    from ..octavius_2d3d import *

cache_root = ".cache/quickstart"
llm_path = "{{cache_root}}/assets/llama"
clip_path = "{{cache_root}}/assets/clip"
point_bert_path = "{{cache_root}}/assets/point_bert.safetensors"
roi_root = "{{cache_root}}/rois"
data_root = "{{cache_root}}/data"

# The Point-BERT weights are built with these sizes; the encoder below loads them.
_tiny_point_bert = dict(
    in_channels=6,
    trans_dim=32,
    depth=2,
    num_heads=2,
    group_size=8,
    num_group=16,
    encoder_dims=32,
    num_points=128,
)
quickstart = dict(
    tiny_assets=dict(root="{{cache_root}}/assets", point_bert=_tiny_point_bert),
    synthetic=dict(
        out_dir="{{data_root}}",
        num_images=240,
        num_scenes=60,
        difficulty="easy",
        image_size=32,
        # Open counting questions are left out: every "vqa" sample is then multiple choice.
        tasks=["detection", "vqa", "caption", "classification"],
    ),
    rois=dict(out_dir="{{roi_root}}"),
    test_after_train=True,
)

# A path, not the paper's dict(pretrained=..., dtype="bfloat16"): the tiny LLM stays fp32, as
# its LM head trains (trainable weights stay fp32).
model.llm = "{{llm_path}}"
model.encoders.image.pretrained = "{{clip_path}}"
model.encoders.point_cloud = dict(
    type="ObjectAsSceneEncoder",
    point_encoder=dict(type="PointBERT", checkpoint="{{point_bert_path}}", **_tiny_point_bert),
    roi_source=dict(type="PrecomputedRoISource", root="{{roi_root}}"),
    num_rois=4,
    points_per_roi=32,
    num_queries=4,
    num_layers=2,
    num_heads=2,
)
model.adapters.experts.update(rank=8, alpha=16.0, dropout=0.0)
# The tiny LLM is randomly initialised, so it has no vocabulary to build answers from: its output
# layer trains with the adapters (a real Vicuna keeps it frozen).
model.adapters.trainable = [r"^lm_head\."]
model.generation = dict(max_new_tokens=72)  # the longest answer: 3D detection, ~70 tokens

_tiny_data = dict(
    type="InstructionDataset",
    tokenizer="{{llm_path}}",
    template=dict(type="VicunaV1"),
    data_root="{{data_root}}",
    max_length=1024,
    modality_tokens=dict(image=16, point_cloud=4),
    serialize_data=False,  # one process: nothing to share with loader workers
)
_train_2d = dict(
    _tiny_data, ann_file="annotations/2d_train.json", image_root="images", name="synthetic_2d"
)
_train_3d = dict(
    _tiny_data, ann_file="annotations/3d_train.json", point_root="scenes", name="synthetic_3d"
)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=True),
    collate_fn=dict(type="octavius.instruction_collate"),
    dataset=dict(
        type="MixtureDataset",
        datasets=[_train_2d, _train_3d],
        frequencies=[1, 1],
        names=["synthetic_2d", "synthetic_3d"],
    ),
)
test_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=False),
    collate_fn=dict(type="octavius.instruction_collate"),
    dataset=dict(
        type="ConcatDataset",
        datasets=[
            dict(_train_2d, ann_file="annotations/2d_test.json", test_mode=True),
            dict(_train_3d, ann_file="annotations/3d_test.json", test_mode=True),
        ],
    ),
)
test_evaluator = [
    dict(type="DetectionMetric", iou_thr=0.5),
    dict(type="MultipleChoiceAccuracy", task_types=["vqa"]),
    dict(type="CaptionMetric"),
    dict(type="ClassificationAccuracy"),
]

# A few hundred iterations of the same schedule shape: warm-up, then cosine decay.
max_iters = 250
warmup_steps = 20
base_lr = 3e-3
min_lr = 3e-5
optim_wrapper.optimizer.lr = base_lr
optim_wrapper.accumulative_counts = 1
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-2, by_epoch=False, begin=0, end=warmup_steps),
    dict(
        type="CosineAnnealingLR", eta_min=min_lr, by_epoch=False, begin=warmup_steps, end=max_iters
    ),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters)
default_hooks.checkpoint.update(interval=max_iters, by_epoch=False, max_keep_ckpts=1)
default_hooks.logger.interval = 25
log_processor.by_epoch = False
