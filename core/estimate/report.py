"""The estimate as a table (``python -m octavius estimate``) and as JSON."""

from __future__ import annotations

from typing import Any

from octavius.estimate.estimator import GIB, MemoryEstimate

__all__ = ["estimate_as_dict", "format_estimate"]


def _size(num_bytes: float) -> str:
    if num_bytes >= GIB:
        return f"{num_bytes / GIB:.2f} GiB"
    return f"{num_bytes / 1024**2:.1f} MiB"


def format_estimate(estimate: MemoryEstimate, title: str = "") -> str:
    """A plain-text table: one line per component, the total, tokens per step, the fit."""
    lines = [title] if title else []
    lines.append(
        f"per device: {estimate.strategy} on {estimate.gpus} device(s), micro-batch "
        f"{estimate.micro_batch} × {estimate.seq_len} tokens, gradient checkpointing "
        f"{'on' if estimate.gradient_checkpointing else 'off'}"
    )
    width = max(len(k) for k in estimate.components) + 2
    for name, value in estimate.components.items():
        lines.append(f"  {name:<{width}}{_size(value):>12}")
    lines.append(f"  {'total':<{width}}{_size(estimate.total):>12}")
    lines.append(
        f"trainable parameters {estimate.trainable_params:,}; frozen {estimate.frozen_params:,}"
    )
    lines.append(
        f"tokens per optimizer step: {estimate.tokens_per_step:,} "
        f"({estimate.micro_batch} × {estimate.seq_len} × {estimate.gpus} device(s) × "
        f"{estimate.accumulation} accumulated)"
    )
    for size, batch in estimate.largest_micro_batch.items():
        lines.append(f"largest micro-batch in {size:g} GiB: {batch}")
    return "\n".join(lines)


def estimate_as_dict(estimate: MemoryEstimate) -> dict[str, Any]:
    """Every number of the estimate (bytes), for ``--json``."""
    return {
        "components": dict(estimate.components),
        "total": estimate.total,
        "micro_batch": estimate.micro_batch,
        "seq_len": estimate.seq_len,
        "gpus": estimate.gpus,
        "strategy": estimate.strategy,
        "accumulation": estimate.accumulation,
        "gradient_checkpointing": estimate.gradient_checkpointing,
        "tokens_per_step": estimate.tokens_per_step,
        "trainable_params": estimate.trainable_params,
        "frozen_params": estimate.frozen_params,
        "largest_micro_batch": {f"{k:g}": v for k, v in estimate.largest_micro_batch.items()},
    }
