"""What ``python -m octavius weights …`` does: published weights in, Octavius checkpoints out.

Each import builds the config's model with :func:`octavius.loading.load_model` (optionally
starting from ``base_checkpoint`` for the parts the file does not hold), loads the published
file through its key map, and saves an Octavius checkpoint directory (trainable weights in
safetensors) that ``tools/train.py`` / ``tools/test.py`` / ``load_model`` read like any other.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmengine.config import Config

from octavius.weights.key_map import KeyMapReport
from octavius.weights.tensor_file import read_tensor_file

__all__ = ["from_gguf", "import_llava", "import_octavius", "import_peft_bank_checkpoint"]


def _config(config: str | os.PathLike | Config) -> Config:
    if isinstance(config, Config):
        return copy.deepcopy(config)
    from octavius.config import load_config

    return load_config(Path(config))


def _save(model: Any, out_dir: str | os.PathLike, meta: dict[str, Any]) -> Path:
    from octavius.checkpoints import save_checkpoint

    return save_checkpoint(out_dir, model, meta=meta, rng_state=False)


def import_octavius(
    config: str | os.PathLike | Config,
    release_file: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    base_checkpoint: str | os.PathLike | None = None,
    strict: bool = True,
) -> tuple[Path, KeyMapReport]:
    """The Octavius release's ``pytorch_model.pt`` → an Octavius checkpoint for ``config``."""
    from octavius.loading import load_model
    from octavius.weights.octavius_release import import_octavius_release

    read_tensor_file(release_file)  # refuse a bad file before building a 13B model
    model = load_model(_config(config), base_checkpoint, strict=False, eval_mode=False)
    report = import_octavius_release(model, release_file, strict=strict)
    meta = {"imported_from": str(release_file), "format": "octavius-release"}
    return _save(model, out_dir, meta), report


def import_llava(
    config: str | os.PathLike | Config,
    projector_file: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    base_checkpoint: str | os.PathLike | None = None,
    modality: str = "image",
) -> tuple[Path, KeyMapReport]:
    """LLaVA's ``mm_projector.bin`` → an Octavius checkpoint for ``config`` (its projector)."""
    from octavius.loading import load_model
    from octavius.weights.llava_projector import import_llava_projector

    read_tensor_file(projector_file)  # refuse a bad file before building the model
    model = load_model(_config(config), base_checkpoint, strict=False, eval_mode=False)
    report = import_llava_projector(model, projector_file, modality=modality)
    meta = {"imported_from": str(projector_file), "format": "llava-mm-projector"}
    return _save(model, out_dir, meta), report


def import_peft_bank_checkpoint(
    config: str | os.PathLike | Config,
    adapter_dirs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    base_checkpoint: str | os.PathLike | None = None,
    router: dict[str, Any] | None = None,
) -> tuple[Path, list[dict[str, Any]]]:
    """N peft adapters → one bank of N experts in ``config``'s LLM, saved as a checkpoint.

    The config's own ``model.adapters`` is replaced by the bank's rules, which are returned: set
    them as ``model.adapters = dict(rules=...)`` in the config that loads the checkpoint.
    """
    from octavius.checkpoints import load_weights, resolve_checkpoint_path
    from octavius.checkpoints.runner_state import read_weights_file
    from octavius.loading import build_model
    from octavius.weights.peft_bank import import_peft_bank

    cfg = _config(config)
    cfg.model.adapters = None
    model = build_model(cfg)
    if base_checkpoint is not None:
        path = resolve_checkpoint_path(base_checkpoint)
        others = {k: v for k, v in read_weights_file(path).items() if not k.startswith("llm.")}
        load_weights(model, others, source=path, strict=False)
    _, rules = import_peft_bank(model.llm, adapter_dirs, router=router)
    meta = {"imported_from": [str(d) for d in adapter_dirs], "format": "peft-lora-bank"}
    return _save(model, out_dir, meta), rules


def from_gguf(file: str | os.PathLike, out_dir: str | os.PathLike, dtype: str = "float32") -> Path:
    """A GGUF file (or ``"smollm2"``) → a Hugging Face directory (see :mod:`octavius.weights.gguf`)."""
    from octavius.weights.gguf import convert_gguf

    return convert_gguf(file, out_dir, dtype)
