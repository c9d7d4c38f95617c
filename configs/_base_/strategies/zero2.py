"""DeepSpeed ZeRO-2 through mmengine's ``DeepSpeedStrategy`` (GPUs; ``pip install octavius[deepspeed]``).

Optimizer state and gradients are partitioned over ranks. DeepSpeed saves its own engine
checkpoints (``torch.save``; mmengine's ``CheckpointHook`` is used for them). ``FullyShardStrategy``
(``strategies/fsdp.py``) is the CPU-capable, pickle-free alternative.
"""

default_scope = "octavius"
strategy = dict(
    type="DeepSpeedStrategy",
    zero_optimization=dict(
        stage=2,
        allgather_partitions=True,
        reduce_scatter=True,
        overlap_comm=True,
        contiguous_gradients=True,
    ),
    gradient_clipping=1.0,
    bf16=dict(enabled=True),
)
optim_wrapper = dict(type="DeepSpeedOptimWrapper")
