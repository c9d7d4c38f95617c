"""One way to get a model: build it from a config and load a checkpoint's trainable weights.

Every tool that needs a model — ``tools/export.py``, the analyses, inference — calls
:func:`load_model`; ``tools/test.py`` builds a runner around the same model and loads the same
checkpoint through :func:`load_checkpoint_weights`. A checkpoint is an Octavius checkpoint
directory (``iter_N/``) or its weights file; it holds the trainable parameters only (adapters,
routers, projectors, fusion) and is read without unpickling.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmengine.config import Config
from torch import nn

#: DDP/FSDP wrappers prefix parameter names with ``module.``; checkpoints store them without.
DEFAULT_KEY_RULES: tuple[tuple[str, str], ...] = ((r"^module\.", ""),)


def _as_config(config: str | os.PathLike | Config | Mapping[str, Any]) -> Config:
    if isinstance(config, Config):
        return config
    if isinstance(config, (str, os.PathLike)):
        from octavius.config import load_config

        return load_config(Path(config))
    if isinstance(config, Mapping):
        return Config(dict(config))
    raise TypeError(
        f"load_model() takes a config file path, an mmengine Config or a dict, "
        f"got {type(config).__name__}."
    )


def build_model(config: str | os.PathLike | Config | Mapping[str, Any]) -> nn.Module:
    """Build ``config.model`` in the config's scope, after preparing the assets it asks for.

    Raises:
        KeyError: when the config has no ``model`` section (naming the config file).
    """
    from mmengine.registry import DefaultScope

    from octavius.engine.prepare import prepare_assets
    from octavius.registry import MODELS

    cfg = _as_config(config)
    if cfg.get("model") is None:
        raise KeyError(f"{cfg.filename or 'the config'} has no 'model' section to build.")
    prepare_assets(cfg)
    with DefaultScope.overwrite_default_scope(cfg.get("default_scope", "octavius")):
        return MODELS.build(copy.deepcopy(cfg.model))


def load_checkpoint_weights(
    model: nn.Module,
    checkpoint: str | os.PathLike,
    *,
    strict: bool = True,
    key_rules: Sequence[tuple[str, str]] = DEFAULT_KEY_RULES,
) -> Path:
    """Load a checkpoint's trainable weights into ``model``.

    Args:
        model: the built model.
        checkpoint: an Octavius checkpoint directory or its weights file.
        strict: require every trainable parameter of ``model`` to be in the checkpoint.
        key_rules: ``(pattern, replacement)`` renames applied to the stored names first.

    Returns:
        The weights file that was read.

    Raises:
        octavius.checkpoints.CheckpointError: when the checkpoint is unreadable or does not fit
            the model (the message names the file and the keys).
    """
    from octavius.checkpoints.checkpoint import (
        WEIGHTS_FILE,
        load_weights,
        resolve_checkpoint_path,
    )
    from octavius.checkpoints.runner_state import read_weights_file, revise_keys

    path = resolve_checkpoint_path(checkpoint)
    source = path / WEIGHTS_FILE if path.is_dir() else path
    weights = revise_keys(read_weights_file(path), key_rules)
    load_weights(model, weights, source=source, strict=strict)
    return source


def load_model(
    config: str | os.PathLike | Config | Mapping[str, Any],
    checkpoint: str | os.PathLike | None = None,
    *,
    strict: bool = True,
    eval_mode: bool = True,
) -> nn.Module:
    """Build the model a config describes and load a checkpoint into it.

    Args:
        config: a config file path, a loaded :class:`~mmengine.config.Config` or a dict with a
            ``model`` section.
        checkpoint: an Octavius checkpoint directory or weights file; ``None`` keeps the
            freshly built weights.
        strict: require every trainable parameter to be in the checkpoint.
        eval_mode: return the model in evaluation mode (``model.eval()``).

    Returns:
        The model (a :class:`~octavius.models.MultimodalLLM` for the shipped configs).
    """
    model = build_model(config)
    if checkpoint is not None:
        load_checkpoint_weights(model, checkpoint, strict=strict)
    return model.eval() if eval_mode else model


__all__ = ["DEFAULT_KEY_RULES", "build_model", "load_checkpoint_weights", "load_model"]
