"""How a data-parallel strategy spreads the training state over ``N`` devices.

ZeRO's accounting (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion
Parameter Models", §5 and Fig. 1): stage 2 partitions gradients and optimizer state, stage 3 (and
PyTorch FSDP's full sharding) the parameters too, and gathers one layer's parameters at a time for
its forward and backward.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STRATEGIES", "Sharding", "sharding_of"]


@dataclass(frozen=True)
class Sharding:
    """Divisors of each state per device, and what a strategy adds.

    Attributes:
        params: divisor of the parameters (frozen and trainable).
        grads: divisor of the gradients.
        optimizer: divisor of the optimizer state.
        gathers_layers: parameters are gathered one decoder layer at a time (plus one
            prefetched), so two layers' full parameters are resident at once.
        grad_buckets: DDP's all-reduce buckets, a second copy of the gradients.
    """

    params: int
    grads: int
    optimizer: int
    gathers_layers: bool = False
    grad_buckets: bool = False


STRATEGIES = ("ddp", "fsdp", "zero2", "zero3")


def sharding_of(strategy: str, gpus: int) -> Sharding:
    """The :class:`Sharding` of ``strategy`` on ``gpus`` devices."""
    if strategy not in STRATEGIES:
        raise ValueError(f"--strategy must be one of {STRATEGIES}, got {strategy!r}.")
    if gpus < 1:
        raise ValueError(f"--gpus must be >= 1, got {gpus}.")
    if strategy == "ddp":
        return Sharding(1, 1, 1, grad_buckets=gpus > 1)
    if strategy == "zero2":
        return Sharding(1, gpus, gpus)
    return Sharding(gpus, gpus, gpus, gathers_layers=gpus > 1)
