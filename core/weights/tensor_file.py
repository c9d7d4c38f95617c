"""Reading published weight files without running code: safetensors, or torch files as tensors only.

Published checkpoints come as ``torch.save`` files of a state dict (the Octavius release's
``pytorch_model.pt``, LLaVA's ``mm_projector.bin``, peft's legacy ``adapter_model.bin``) or as
safetensors. Torch files are read with ``torch.load(weights_only=True)``, whose unpickler admits
tensors and plain containers only, so a file cannot run code while it is read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

__all__ = ["WeightsFileError", "read_tensor_file"]


class WeightsFileError(ValueError):
    """A weights file cannot be read, or holds something else than named tensors."""


def _flatten(value: object, prefix: str, out: dict[str, torch.Tensor], file: Path) -> None:
    if isinstance(value, torch.Tensor):
        out[prefix] = value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out, file)
    else:
        raise WeightsFileError(
            f"{file}: entry '{prefix}' is a {type(value).__name__}, not a tensor; a weights file "
            "holds a (possibly nested) dict of tensors."
        )


def read_tensor_file(
    path: str | os.PathLike, unwrap: tuple[str, ...] = ("state_dict", "model")
) -> dict[str, torch.Tensor]:
    """Named tensors of a safetensors file or a torch state-dict file, on the CPU.

    Args:
        path: ``*.safetensors``, or a ``torch.save`` file (``.pt``, ``.pth``, ``.bin``).
        unwrap: keys of a wrapping dict whose value is the state dict (``{'state_dict': {...}}``,
            as training frameworks save); the first one present is used.

    Returns:
        Name → tensor; nested dicts are flattened with dots.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        WeightsFileError: when the file is not readable this way (it needs unpickling of other
            objects, or is not a weights file); the message names the file.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such weights file.")
    if file.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(file))
        except (SafetensorError, OSError, ValueError) as err:
            raise WeightsFileError(f"{file}: not a readable safetensors file ({err}).") from None
    try:
        loaded = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # the unpickler raises many types; all mean "not tensors only"
        raise WeightsFileError(
            f"{file}: cannot be read with torch.load(weights_only=True) ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); only files of tensors and plain "
            "containers are read, never arbitrary pickles."
        ) from None
    if isinstance(loaded, Mapping):
        for key in unwrap:
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping):
        raise WeightsFileError(
            f"{file}: holds a {type(loaded).__name__}, not a dict of tensors (a state dict)."
        )
    out: dict[str, torch.Tensor] = {}
    _flatten(loaded, "", out, file)
    return out
