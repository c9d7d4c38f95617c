"""Identities of what a cached feature depends on: file contents and the frozen encoder.

A cache entry is valid while the files it was computed from have the same bytes and the frozen
part of the encoder is the same: the same weights (a SHA-256 over every tensor of its state
dict, names, dtypes and shapes included) and the same settings (``frozen_settings()``: layer
choice, preprocessing, RoI sampling). Both go into keys and fingerprints, so changing either
makes the cache miss instead of serving stale features.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from octavius.models.base_encoder import BaseEncoder

__all__ = ["encoder_fingerprint", "encoder_identity", "file_sha256", "module_sha256", "text_sha256"]

_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def text_sha256(obj: Any) -> str:
    """SHA-256 of a JSON value written canonically (sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def module_sha256(module: nn.Module) -> str:
    """SHA-256 over a module's state dict: every tensor's name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{data.dtype}|{tuple(data.shape)}|".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def encoder_identity(encoder: BaseEncoder) -> dict[str, Any]:
    """What the fingerprint covers, readable: class, settings and the weights' hash."""
    return {
        "encoder": type(encoder).__name__,
        "settings": encoder.frozen_settings(),
        "weights_sha256": module_sha256(encoder.frozen_module()),
    }


def encoder_fingerprint(encoder: BaseEncoder) -> str:
    """One hex string for :func:`encoder_identity` (computed once per encoder and remembered:
    frozen weights do not change)."""
    cached = getattr(encoder, "_octavius_frozen_fingerprint", None)
    if cached is None:
        cached = text_sha256(encoder_identity(encoder))
        encoder._octavius_frozen_fingerprint = cached
    return cached
