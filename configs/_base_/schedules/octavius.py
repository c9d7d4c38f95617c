"""Octavius instruction tuning as the official release (OpenGVLab/LAMM ``src/config/Octavius``).

DeepSpeed ``Adam`` (decoupled weight decay: AdamW) at LR 5e-4, β = (0.9, 0.95), ε = 1e-8, weight
decay 1e-3, gradient clipping 1.0, a global batch of 64; ``WarmupDecayLR`` with the warm-up over
10 % of the steps (``warmup_rate: 0.1``, ``training_agent.py``) and a linear decay to 0 at the last
step; 2 epochs for 2D and 2D + 3D, 3 for 3D (``octavius_3d.py``). DeepSpeed's warm-up ramps
logarithmically by default; this one is linear (``LinearLR``). Both schedulers count in epochs
and step every iteration, so the warm-up is 10 % of the run whatever the data size.
"""

base_lr = 5e-4
min_lr = 0.0
warmup_ratio = 0.1
max_epochs = 2
accumulative_counts = 2  # 8 GPUs × 4 samples × 2 = 64, the release's train_batch_size

optim_wrapper = dict(
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=base_lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=1e-3),
    accumulative_counts=accumulative_counts,
    clip_grad=dict(max_norm=1.0),
)
param_scheduler = [
    dict(
        type="LinearLR",
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=warmup_ratio * max_epochs,
        convert_to_iter_based=True,
    ),
    dict(
        type="LinearLR",
        start_factor=1.0,
        end_factor=0.0,
        by_epoch=True,
        begin=warmup_ratio * max_epochs,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=max_epochs)
test_cfg = dict(type="TestLoop")
auto_scale_lr = dict(base_batch_size=64, enable=False)
