"""AdamW, linear warm-up, cosine decay to a minimum learning rate (LLaVA-MoLE Table 1, SFT row).

Global batch = GPUs × ``train_dataloader.batch_size`` × ``accumulative_counts``; the datasets set
4 samples per GPU, so 8 GPUs × 4 × 2 = 64 here. Schedulers step once per iteration, so the warm-up
of ``warmup_steps`` optimizer steps lasts ``warmup_steps × accumulative_counts`` iterations.
"""

base_lr = 2e-5
min_lr = 2e-6
warmup_steps = 500
max_epochs = 1  # not stated in LLaVA-MoLE; one epoch over the mixture, as LLaVA-1.5 does
accumulative_counts = 2

optim_wrapper = dict(
    type="OptimWrapper",
    # Weight decay 0 and the clipping norm are LLaVA's defaults; the papers do not state them.
    optimizer=dict(type="AdamW", lr=base_lr, betas=(0.9, 0.999), weight_decay=0.0),
    accumulative_counts=accumulative_counts,
    clip_grad=dict(max_norm=1.0),
)
param_scheduler = [
    dict(
        type="LinearLR",
        start_factor=1e-3,
        by_epoch=False,
        begin=0,
        end=warmup_steps * accumulative_counts,
    ),
    dict(
        type="CosineAnnealingLR",
        eta_min=min_lr,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=max_epochs)
test_cfg = dict(type="TestLoop")
# --auto-scale-lr style rescaling is off: the learning rates above are for this global batch.
auto_scale_lr = dict(base_batch_size=64, enable=False)
