"""Runtime shared by every run: scope, runner, hooks, logging, visualisation, seeding.

Checkpoints hold the trainable parameters only (adapters, routers, projectors, fusion) plus what
``--resume`` needs, as safetensors + JSON written atomically (``SafeCheckpointHook``).
``tools/train.py --tensorboard`` adds the TensorBoard backend to ``visualizer``.
"""

default_scope = "octavius"
runner_type = "OctaviusRunner"

default_hooks = dict(
    runtime_info=dict(type="RuntimeInfoHook"),
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=10),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="SafeCheckpointHook", interval=1, by_epoch=True, max_keep_ckpts=2),
    sampler_seed=dict(type="DistSamplerSeedHook"),
)
# Progress bars with ETA, and text tokens per second in the log; expert shares of every routed
# layer at the log interval, with a warning when one expert takes over a layer.
custom_hooks = [dict(type="ProgressHook"), dict(type="ExpertLoadHook", collapse_share=0.9)]

log_processor = dict(type="LogProcessor", window_size=10, by_epoch=True)
log_level = "INFO"
visualizer = dict(type="Visualizer", vis_backends=[dict(type="LocalVisBackend")])

env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0))
# Sparse routing leaves the unchosen experts without gradient in a step; DDP must allow that.
model_wrapper_cfg = dict(type="MMDistributedDataParallel", find_unused_parameters=True)

randomness = dict(seed=0, deterministic=False)
load_from = None
resume = False

# Top-level variables the configs share (paths, schedule numbers). Declared so the key check of
# octavius.config accepts them; a key not listed here and read by no tool is reported.
config_variables = [
    # weights
    "cache_root",
    "llm_path",
    "clip_path",
    "point_bert_path",
    "roi_root",
    # data
    "data_root",
    "image_root",
    "lamm_v2_ann",
    "lamm_v2_images",
    "benchmark_2d_root",
    "scan2inst_ann",
    "scan2inst_points",
    "benchmark_3d_root",
    "general_ann",
    "document_ann",
    "biomedicine_ann",
    "pretrain_ann",
    "vision_flan_ann",
    # model parts named in configs/_base_/adapters/
    "adapters",
    # schedule
    "base_lr",
    "min_lr",
    "warmup_steps",
    "max_epochs",
    "max_iters",
    "accumulative_counts",
    "warmup_ratio",
    "specialist_task",
]
