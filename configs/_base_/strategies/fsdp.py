"""FSDP2 (``torch.distributed.fsdp.fully_shard``) on CPU (gloo) or GPUs, sharded checkpoints.

Inherit it in a leaf config and start with ``torchrun --nproc_per_node N tools/train.py CONFIG
--launcher pytorch``. Decoder and encoder layers (the models' ``_no_split_modules``) become FSDP
units; checkpoints keep ``adapter.safetensors`` plus ``sharded/`` (torch.distributed.checkpoint).
"""

default_scope = "octavius"
strategy = dict(type="FullyShardStrategy", reshard_after_forward=True)
