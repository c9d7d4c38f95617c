"""Reading Point-BERT / ULIP checkpoints into :class:`~octavius.plugins.encoders.point_bert.PointBERT`.

Accepted files: ``.safetensors``, or ``.pt``/``.pth``/``.bin`` read with
``torch.load(weights_only=True)`` (no code is unpickled). Key mapping, applied in order:

1. Unwrap the first of ``state_dict`` / ``model`` / ``base_model`` that holds a dict (ULIP saves
   ``{'state_dict': ...}``, Point-BERT ``{'base_model': ...}``).
2. Strip every leading ``module.`` (DataParallel / DDP).
3. ULIP layout — keys start with ``point_encoder.``: keep those keys without the prefix;
   ``pc_projection`` (a ``(2·trans_dim, 512)`` matrix applied as ``feat @ P``) becomes
   ``proj.weight = Pᵀ`` when the encoder has a projection (``proj_dim``) and is dropped otherwise;
   every other key (the CLIP towers, logit scale) is dropped.
   Point-BERT pre-training layout — keys start with ``transformer_q.``: keep those without the
   prefix, drop the momentum encoder ``transformer_k.``, the dVAE and the rest.
   Otherwise a leading ``base_model.`` is stripped (Point-BERT fine-tuned checkpoints).
4. Drop heads that are not part of the feature encoder: ``cls_head``, ``cls_head_finetune``,
   ``lm_head``, ``mask_token``.

What remains must match the encoder exactly; otherwise :class:`CheckpointMismatchError` lists the
missing keys, the unexpected keys and the shape mismatches.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import Tensor, nn

__all__ = ["CheckpointMismatchError", "convert_pointbert_state_dict", "load_pointbert_checkpoint"]

_CONTAINER_KEYS = ("state_dict", "model", "base_model")
_HEAD_PREFIXES = ("cls_head.", "cls_head_finetune.", "lm_head.", "mask_token")
_MAX_LISTED = 12


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's keys or shapes do not match the encoder they are loaded into."""


def _strip(key: str, prefix: str) -> str:
    while key.startswith(prefix):
        key = key[len(prefix) :]
    return key


def convert_pointbert_state_dict(
    raw: Mapping[str, Any], with_projection: bool = False
) -> dict[str, Tensor]:
    """Map a ULIP / Point-BERT state dict to this package's PointBERT parameter names.

    Args:
        raw: the loaded checkpoint object (a state dict, or a dict wrapping one).
        with_projection: whether the target encoder has a ``proj`` layer (keeps ULIP's
            ``pc_projection``).

    Returns:
        The state dict with mapped keys (see the module docstring for the rules).
    """
    state: Mapping[str, Any] = raw
    for key in _CONTAINER_KEYS:
        if isinstance(state.get(key), Mapping):
            state = state[key]
            break
    tensors = {_strip(k, "module."): v for k, v in state.items() if isinstance(v, Tensor)}
    out: dict[str, Tensor] = {}
    if any(k.startswith("point_encoder.") for k in tensors):
        for key, value in tensors.items():
            if key.startswith("point_encoder."):
                out[key[len("point_encoder.") :]] = value
            elif key == "pc_projection" and with_projection:
                out["proj.weight"] = value.t().contiguous()
    elif any(k.startswith("transformer_q.") for k in tensors):
        out = {
            k[len("transformer_q.") :]: v
            for k, v in tensors.items()
            if k.startswith("transformer_q.")
        }
    else:
        out = {_strip(k, "base_model."): v for k, v in tensors.items()}
    return {k: v for k, v in out.items() if not k.startswith(_HEAD_PREFIXES)}


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    more = len(keys) - _MAX_LISTED
    return shown + (f", … ({more} more)" if more > 0 else "")


def _read(path: Path) -> Mapping[str, Any]:
    if path.suffix == ".safetensors":
        return load_file(str(path), device="cpu")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointMismatchError(
            f"Point-BERT checkpoint {path} holds pickled objects other than tensors, which are not"
            f" loaded for safety. Re-save its state dict (torch.save(state_dict)) or as"
            f" .safetensors. ({err})"
        ) from None
    if not isinstance(loaded, Mapping):
        raise CheckpointMismatchError(
            f"Point-BERT checkpoint {path} holds a {type(loaded).__name__}; expected a state dict."
        )
    return loaded


def load_pointbert_checkpoint(
    module: nn.Module, path: str | os.PathLike, with_projection: bool
) -> None:
    """Load a ULIP / Point-BERT checkpoint file into ``module`` strictly.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        CheckpointMismatchError: when keys or shapes do not match, listing them all.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Point-BERT checkpoint not found: {path} (config key 'checkpoint' of PointBERT)."
        )
    state = convert_pointbert_state_dict(_read(path), with_projection=with_projection)
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in set(state) & set(expected)
        if state[k].shape != expected[k].shape
    )
    if missing or unexpected or wrong_shape:
        parts = [f"Point-BERT checkpoint {path} does not match the encoder's config."]
        if missing:
            parts.append(f"Missing keys ({len(missing)}): {_listed(missing)}.")
        if unexpected:
            parts.append(f"Unexpected keys ({len(unexpected)}): {_listed(unexpected)}.")
        if wrong_shape:
            parts.append(f"Shape mismatches (file vs encoder): {_listed(wrong_shape)}.")
        parts.append(
            "Check trans_dim, depth, num_heads, encoder_dims, in_channels and proj_dim against"
            " the checkpoint (key mapping: see octavius.models.pointbert_checkpoint)."
        )
        raise CheckpointMismatchError(" ".join(parts))
    module.load_state_dict(state, strict=True)
