"""Learning-rate schedules as mmengine ``param_scheduler`` configs.

LLaVA-MoLE (Table 1) and Octavius train with AdamW, a linear warm-up and a cosine decay to a
minimum learning rate (``LR_min``: 2e-5 for pre-training at LR 5e-2, 2e-6 for instruction tuning at
LR 2e-5, 500 warm-up steps). mmengine already has both pieces — ``LinearLR`` and
``CosineAnnealingLR`` with ``eta_min`` — so the schedule is a pair of its schedulers, and resuming
restores them like any other mmengine scheduler. :func:`warmup_cosine` writes the pair::

    param_scheduler = warmup_cosine(max_iters=5000, warmup_iters=500, eta_min=2e-6)

which is the same as writing, in a config::

    param_scheduler = [
        dict(type="LinearLR", start_factor=1e-3, by_epoch=False, begin=0, end=500),
        dict(type="CosineAnnealingLR", eta_min=2e-6, by_epoch=False, begin=500, end=5000),
    ]
"""

from __future__ import annotations

from typing import Any


def warmup_cosine(
    max_iters: int,
    warmup_iters: int = 500,
    eta_min: float = 0.0,
    start_factor: float = 1e-3,
    by_epoch: bool = False,
    convert_to_iter_based: bool = False,
) -> list[dict[str, Any]]:
    """A linear warm-up followed by a cosine decay to ``eta_min`` (LLaVA-MoLE Table 1).

    Args:
        max_iters: Length of the whole schedule, in iterations (or epochs when ``by_epoch``);
            with gradient accumulation count optimizer steps × ``accumulative_counts``.
        warmup_iters: Warm-up length; the LR rises linearly from ``start_factor × lr`` to ``lr``.
            Clipped to ``max_iters``; 0 means no warm-up.
        eta_min: The minimum LR reached at ``max_iters`` (``LR_min`` in the paper's table).
        start_factor: Fraction of the base LR at the first warm-up step (must be in (0, 1]).
        by_epoch: Count ``max_iters``/``warmup_iters`` in epochs.
        convert_to_iter_based: With ``by_epoch``, update every iteration (mmengine option).

    Returns:
        mmengine ``param_scheduler`` configs (``LinearLR`` then ``CosineAnnealingLR``).

    Raises:
        ValueError: On a non-positive ``max_iters``, a negative ``warmup_iters`` or ``eta_min``,
            or ``start_factor`` outside (0, 1].
    """
    if max_iters <= 0:
        raise ValueError(f"warmup_cosine: max_iters must be positive, got {max_iters}.")
    if warmup_iters < 0:
        raise ValueError(f"warmup_cosine: warmup_iters must be >= 0, got {warmup_iters}.")
    if eta_min < 0:
        raise ValueError(f"warmup_cosine: eta_min must be >= 0, got {eta_min}.")
    if not 0.0 < start_factor <= 1.0:
        raise ValueError(f"warmup_cosine: start_factor must be in (0, 1], got {start_factor}.")
    warmup = min(warmup_iters, max_iters)
    common: dict[str, Any] = {"by_epoch": by_epoch}
    if by_epoch and convert_to_iter_based:
        common["convert_to_iter_based"] = True
    schedule: list[dict[str, Any]] = []
    if warmup > 0:
        schedule.append(
            dict(type="LinearLR", start_factor=start_factor, begin=0, end=warmup, **common)
        )
    if warmup < max_iters:
        schedule.append(
            dict(type="CosineAnnealingLR", eta_min=eta_min, begin=warmup, end=max_iters, **common)
        )
    return schedule
