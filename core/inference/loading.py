"""A model ready to answer: from a config + checkpoint, or from a saved model directory.

Config + checkpoint go through the one :func:`octavius.loading.load_model`. A directory is
either what ``MultimodalLLM.save_pretrained`` writes (loaded with ``from_pretrained`` when the
model class offers it) or a directory holding a ``config.py`` and, optionally, the checkpoint's
weights file next to it. The conversation template the config's data pipeline uses is kept on the
model (``model.conversation_template``) so prompts are laid out as in training when the
tokenizer has no chat template of its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["configured_template", "load_for_inference"]

CONFIG_FILE = "config.py"


def configured_template(cfg: Any) -> Any:
    """The first ``template`` of the config's test, validation or training data, or ``None``."""

    def find(node: Any) -> Any:
        if isinstance(node, Mapping):
            if "template" in node:
                return node["template"]
            for value in node.values():
                found = find(value)
                if found is not None:
                    return found
        elif isinstance(node, (list, tuple)):
            for value in node:
                found = find(value)
                if found is not None:
                    return found
        return None

    for key in ("test_dataloader", "val_dataloader", "train_dataloader"):
        found = find(cfg.get(key))
        if found is not None:
            return dict(found) if isinstance(found, Mapping) else found
    return None


def load_for_inference(
    source: str | os.PathLike, checkpoint: str | os.PathLike | None = None
) -> Any:
    """Load a model in evaluation mode.

    Args:
        source: a config file, or a model directory (``from_pretrained`` layout, or one with a
            ``config.py`` and optionally the checkpoint weights).
        checkpoint: an Octavius checkpoint directory or weights file (config sources); ``None``
            keeps the built weights, or takes the directory's own weights file.

    Raises:
        FileNotFoundError: when ``source`` is neither a config file nor a model directory.
    """
    from octavius.checkpoints.checkpoint import WEIGHTS_FILE
    from octavius.config import load_config
    from octavius.loading import load_model
    from octavius.models.multimodal_llm import MultimodalLLM

    path = Path(source)
    if path.is_dir() and not (path / CONFIG_FILE).is_file():
        if not hasattr(MultimodalLLM, "from_pretrained"):
            raise FileNotFoundError(
                f"{path} is a directory without {CONFIG_FILE}; give a config file and a "
                "checkpoint, or a directory holding config.py (and its weights file)."
            )
        return MultimodalLLM.from_pretrained(path).eval()
    if path.is_dir():
        if checkpoint is None and (path / WEIGHTS_FILE).is_file():
            checkpoint = path
        path = path / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no config file or model directory at {path}.")
    cfg = load_config(path)
    model = load_model(cfg, checkpoint)
    model.conversation_template = configured_template(cfg)
    return model
