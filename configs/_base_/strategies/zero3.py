"""DeepSpeed ZeRO-3 through mmengine's ``DeepSpeedStrategy`` (GPUs; ``pip install octavius[deepspeed]``).

Parameters, gradients and optimizer state are partitioned over ranks; parameters are gathered
per layer for forward and backward. Checkpoints are DeepSpeed's own (see ``zero2.py``).
"""

default_scope = "octavius"
strategy = dict(
    type="DeepSpeedStrategy",
    zero_optimization=dict(
        stage=3,
        overlap_comm=True,
        contiguous_gradients=True,
        stage3_gather_16bit_weights_on_model_save=True,
    ),
    gradient_clipping=1.0,
    bf16=dict(enabled=True),
)
optim_wrapper = dict(type="DeepSpeedOptimWrapper")
