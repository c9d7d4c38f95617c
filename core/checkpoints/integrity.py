"""Integrity of checkpoint files: per-file checksums and finite weights.

``state.json`` records the sha256 checksum of each tensor file of its checkpoint when the
checkpoint is written; :func:`verify_checksums` compares them on every read, so a flipped byte
in ``adapter.safetensors`` is refused instead of loaded. :func:`check_finite` refuses weights that
hold NaN or Inf, when saving and when loading.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from octavius.checkpoints.errors import (
    CheckpointFormatError,
    CheckpointIntegrityError,
    NonFiniteWeightsError,
)

#: The tensor files of a checkpoint directory whose checksums ``state.json`` records.
CHECKSUMMED_FILES = ("adapter.safetensors", "state.safetensors")
#: Folder of the sharded (``torch.distributed.checkpoint``) state; its files are checksummed too.
SHARDED_DIR = "sharded"
_MAX_LISTED = 10


def _is_sharded_file(name: Any) -> bool:
    """A file of the sharded folder, named without ``..`` (it cannot point outside)."""
    parts = Path(str(name)).parts
    return len(parts) == 2 and parts[0] == SHARDED_DIR and parts[1] not in ("..", ".")


def listed(names: list[str]) -> str:
    """The first few ``names``, comma-separated, with a count of the rest."""
    shown = ", ".join(names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return shown + (f", … and {more} more" if more > 0 else "")


def file_checksum(path: str | os.PathLike) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def verify_checksums(directory: Path, checksums: Any, state_file: str = "state.json") -> None:
    """Compare each tensor file of ``directory`` with the checksum ``state.json`` recorded.

    Checkpoints written before checksums were recorded (``checksums`` is ``None``) are read as
    they are.

    Raises:
        CheckpointIntegrityError: naming the file whose content changed.
        CheckpointFormatError: when the recorded checksums are malformed.
    """
    if checksums is None:
        return
    if not isinstance(checksums, Mapping):
        raise CheckpointFormatError(f"{directory / state_file}: 'checksums' is not a mapping")
    for name, expected in checksums.items():
        if name not in CHECKSUMMED_FILES and not _is_sharded_file(name):
            raise CheckpointFormatError(
                f"{directory / state_file}: checksum of unknown file {name!r}"
            )
        actual = file_checksum(directory / name)
        if actual != expected:
            raise CheckpointIntegrityError(
                f"{directory / name} is corrupted: its sha256 checksum differs from the one "
                f"{state_file} recorded when the checkpoint was written ({expected}), so the "
                "file was modified or damaged on disk. Use another checkpoint (e.g. an earlier "
                "iter_N)."
            )


def non_finite_keys(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors holding a NaN or an Inf."""
    return [
        name
        for name, t in tensors.items()
        if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all())
    ]


def check_finite(
    tensors: Mapping[str, torch.Tensor], source: str | os.PathLike, action: str
) -> None:
    """Refuse to ``action`` (save/load) tensors holding NaN or Inf.

    Raises:
        NonFiniteWeightsError: naming ``source`` and the non-finite tensors.
    """
    bad = non_finite_keys(tensors)
    if bad:
        raise NonFiniteWeightsError(
            f"{source}: {len(bad)} tensor(s) hold NaN or Inf values: {listed(bad)}. Refusing to "
            f"{action} them: a model with non-finite weights produces no usable output. Use an "
            "earlier checkpoint (training stops at the first non-finite loss and keeps the last "
            "good one)."
        )
