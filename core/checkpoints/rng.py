"""Capture and restore the global random number generators (Python, NumPy, torch CPU/CUDA).

An exact resume needs the random streams to continue where they stopped: dropout masks, random
routing (MixLoRA's random baseline) and data augmentation all draw from these generators.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def capture_rng_state() -> dict[str, Any]:
    """The states of Python's ``random``, NumPy's global generator and torch's generators."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Set the generators back to a state from :func:`capture_rng_state`.

    Raises:
        ValueError: When the state lacks one of the CPU generators.
    """
    missing = [k for k in ("python", "numpy", "torch") if k not in state]
    if missing:
        raise ValueError(f"the saved random state lacks {missing}; it cannot be restored")
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(tuple(state["numpy"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        saved = list(state["cuda"])
        if len(saved) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(saved)


def rank_rng_state(state: dict[str, Any], source: Any = "checkpoint") -> dict[str, Any]:
    """This process's entry of a saved random state.

    A sharded checkpoint keeps one state per rank (``{'ranks': [...]}``); a single-process one
    keeps one state for all.

    Raises:
        ValueError: When the checkpoint was written by a different number of ranks (the random
            streams could not continue as they were).
    """
    if "ranks" not in state:
        return state
    import torch.distributed as dist

    ranks = list(state["ranks"])
    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    if len(ranks) != world:
        raise ValueError(
            f"{source} holds the random state of {len(ranks)} rank(s), this run has {world}; "
            f"resume with {len(ranks)} process(es) (e.g. torchrun --nproc_per_node {len(ranks)})."
        )
    return ranks[rank]
