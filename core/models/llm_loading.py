"""Loading the causal LM of :class:`~octavius.models.multimodal_llm.MultimodalLLM`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["load_causal_lm"]


def load_causal_lm(cfg: str | os.PathLike | Mapping[str, Any]) -> tuple[nn.Module, str]:
    """Load a causal LM with ``AutoModelForCausalLM.from_pretrained``.

    Args:
        cfg: a directory / hub name, or ``dict(pretrained=..., dtype='bfloat16', **kwargs)``
            (``dtype`` a torch dtype name, float32 by default; the rest goes to
            ``from_pretrained``, e.g. ``attn_implementation``).

    Returns:
        The model (in eval mode, as ``from_pretrained`` returns it) and its path.

    Raises:
        ValueError: a config without ``pretrained`` or with an unknown dtype.
        OSError: the checkpoint cannot be loaded; the message names the path.
    """
    from transformers import AutoModelForCausalLM

    kwargs = {"pretrained": cfg} if isinstance(cfg, (str, os.PathLike)) else dict(cfg)
    if "pretrained" not in kwargs:
        raise ValueError(
            "MultimodalLLM: `llm` must be a path / hub name or dict(pretrained=..., dtype=..., "
            f"attn_implementation=...), got {cfg!r}."
        )
    path = str(kwargs.pop("pretrained"))
    dtype = kwargs.pop("dtype", None)
    if isinstance(dtype, str):
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(
                f"MultimodalLLM: llm dtype {dtype!r} is not a torch dtype name (e.g. 'bfloat16')."
            )
        dtype = getattr(torch, dtype)
    try:
        llm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32, **kwargs)
    except (OSError, ValueError) as err:
        raise OSError(
            f"MultimodalLLM: cannot load the causal LM from {path!r} (config key `llm`): {err}"
        ) from None
    return llm, path
