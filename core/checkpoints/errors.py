"""The exceptions of checkpoint reading, writing and loading."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not fit what it is loaded into."""


class CheckpointFormatError(CheckpointError):
    """A path is not a readable Octavius checkpoint."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint was written for a different model or optimizer."""


class CheckpointIntegrityError(CheckpointFormatError):
    """A checkpoint file's content differs from the checksum recorded when it was written."""


class NonFiniteWeightsError(CheckpointError):
    """Weights hold NaN or Inf values (refused when saving and when loading)."""


class ResumeError(CheckpointError):
    """``--resume`` cannot continue from what the work directory or checkpoint holds."""


__all__ = [
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointIntegrityError",
    "CheckpointMismatchError",
    "NonFiniteWeightsError",
    "ResumeError",
]
