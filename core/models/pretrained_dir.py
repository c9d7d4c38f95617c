"""A trained ``MultimodalLLM`` as one self-contained directory, and back.

::

    out/
        octavius_model.json      format, version, the model's constructor arguments (paths made
                                 relative to the directory), and every asset with its SHA-256
        adapters.safetensors     the trainable weights: adapters, routers, projectors, fusion
        tokenizer.json, …        the tokenizer (with the modality placeholders and chat template)
        generation_config.json   generation settings (max_new_tokens, eos/pad ids, use_cache)
        README.md                the model card: base model, routing, training data, metrics
        assets/<name>/           the frozen weights the model is built from: the base LLM, the
                                 CLIP tower, the Point-BERT checkpoint (``base_llm="copy"``)

Loading needs nothing but the directory: :func:`from_pretrained` rebuilds the model from the
recorded arguments through :func:`octavius.loading.load_model` and loads the trainable weights
strictly. The frozen weights are copied by default — hard links where the file system allows,
so a 7B LLM costs no second copy of its disk space, and a real copy otherwise — because a
directory that merely points at a base LLM stops working when that path moves or its files
change. ``base_llm="reference"`` records the absolute paths and the SHA-256 of every file
instead, for machines where the base weights live in a shared read-only store; loading then
checks each checksum and names the file that differs or is gone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

__all__ = ["MODEL_FILE", "WEIGHTS_FILE", "PretrainedDirError", "from_pretrained", "save_pretrained"]

FORMAT = "octavius-pretrained"
VERSION = 1
MODEL_FILE = "octavius_model.json"
WEIGHTS_FILE = "adapters.safetensors"
GENERATION_FILE = "generation_config.json"
_ASSET_KEYS = ("pretrained", "checkpoint")


class PretrainedDirError(ValueError):
    """A directory is not a loadable Octavius model directory, or its assets changed."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _checksums(path: Path) -> dict[str, str]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    root = path.parent if path.is_file() else path
    return {str(f.relative_to(root)): _sha256(f) for f in files}


def _link_or_copy(src: str, dst: str) -> str:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


def _plain(value: Any, where: str) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise PretrainedDirError(
        f"save_pretrained: model argument {where} is a {type(value).__name__}; only config "
        "values (dicts, lists, strings, numbers) can be saved — build the model from a config."
    )


class _Assets:
    """Collects the files a config points at and rewrites the paths into the directory."""

    def __init__(self, out: Path, mode: str) -> None:
        self.out, self.mode, self.records = out, mode, {}

    def take(self, path: str, name: str) -> str:
        src = Path(path).expanduser()
        if not src.exists():
            return path  # a hub name or a path the model resolves itself; kept as given
        slug = name.replace(".", "_")
        if self.mode == "reference":
            self.records[slug] = {"path": str(src.resolve()), "sha256": _checksums(src)}
            return str(src.resolve())
        dst = self.out / "assets" / slug
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, copy_function=_link_or_copy, dirs_exist_ok=True)
        else:
            dst.mkdir(exist_ok=True)
            dst = Path(_link_or_copy(str(src), str(dst / src.name)))
        rel = dst.relative_to(self.out).as_posix()
        self.records[slug] = {"path": rel, "sha256": _checksums(dst)}
        return rel

    def walk(self, value: Any, where: str) -> Any:
        if isinstance(value, dict):
            return {
                k: self.take(v, f"{where}.{k}")
                if k in _ASSET_KEYS and isinstance(v, str)
                else self.walk(v, f"{where}.{k}")
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.walk(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value


def save_pretrained(
    model: nn.Module,
    out_dir: str | os.PathLike,
    *,
    base_llm: str = "copy",
    config: Mapping[str, Any] | None = None,
    metrics: str | os.PathLike | Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` (a ``MultimodalLLM`` built from a config) as a self-contained directory.

    Args:
        model: the model; its constructor arguments are what it was built with.
        out_dir: the directory to write (replaced when it exists).
        base_llm: ``"copy"`` (hard links or copies of the frozen weights) or ``"reference"``
            (absolute paths and SHA-256 checksums).
        config: the training config, for the model card's training data.
        metrics: evaluation metrics (dict or ``metrics.json``), for the model card.

    Raises:
        PretrainedDirError: when the model was not built from config values.
    """
    from safetensors.torch import save_file

    from octavius.checkpoints.atomic import atomic_directory
    from octavius.checkpoints.checkpoint import _storable, trainable_state_dict
    from octavius.export.model_card import write_model_card

    if base_llm not in ("copy", "reference"):
        raise ValueError(
            f"save_pretrained: base_llm must be 'copy' or 'reference', got {base_llm!r}."
        )
    kwargs = getattr(model, "init_kwargs", None)
    if kwargs is None:
        raise PretrainedDirError(
            f"{type(model).__name__} does not record its constructor arguments."
        )
    kwargs = _plain(dict(kwargs), "model")
    kwargs.pop("init_cfg", None)
    final = Path(out_dir)
    with atomic_directory(final) as tmp:
        assets = _Assets(tmp, base_llm)
        llm = kwargs["llm"]
        if isinstance(llm, dict):
            kwargs["llm"] = dict(llm, pretrained=assets.take(str(llm["pretrained"]), "llm"))
        else:
            kwargs["llm"] = assets.take(str(llm), "llm")
        kwargs["encoders"] = assets.walk(kwargs.get("encoders"), "encoders")
        model.tokenizer.save_pretrained(str(tmp))
        kwargs["tokenizer"] = "."
        generation = {
            k: v for k, v in vars(model.generation_config).items() if not k.startswith("_")
        }
        (tmp / GENERATION_FILE).write_text(
            json.dumps(generation, indent=1) + "\n", encoding="utf-8"
        )
        kwargs["generation"] = generation
        save_file(_storable(trainable_state_dict(model)), str(tmp / WEIGHTS_FILE))
        document = {
            "format": FORMAT,
            "version": VERSION,
            "model": {"type": type(model).__name__, **kwargs},
            "base_llm": base_llm,
            "assets": assets.records,
        }
        (tmp / MODEL_FILE).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        llm_record = assets.records.get("llm", {})
        base = llm_record.get("path", str(llm))
        write_model_card(
            tmp,
            title=f"Octavius {type(model).__name__}",
            kind=(
                "A self-contained Octavius model: the base LLM and encoders "
                + (
                    "are copied under `assets/`"
                    if base_llm == "copy"
                    else "are referenced by path with SHA-256 checksums"
                )
                + f", the trainable adapters, routers, projectors and fusion are in `{WEIGHTS_FILE}`."
            ),
            usage=f'from octavius.models.multimodal_llm import MultimodalLLM\n\nmodel = MultimodalLLM.from_pretrained("{final.name}")',
            base_model=base,
            model=model,
            config=config,
            metrics=metrics,
        )
    return final


def _resolve(value: Any, root: Path) -> Any:
    if isinstance(value, dict):
        return {
            k: str(root / v)
            if k in _ASSET_KEYS
            and isinstance(v, str)
            and not Path(v).is_absolute()
            and (root / v).exists()
            else _resolve(v, root)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_resolve(v, root) for v in value]
    return value


def _verify(records: Mapping[str, Any], root: Path, source: Path) -> None:
    for name, record in records.items():
        base = Path(record["path"])
        base = base if base.is_absolute() else root / base
        for rel, digest in record["sha256"].items():
            file = base.parent / rel if base.is_file() else base / rel
            if not file.is_file():
                raise PretrainedDirError(f"{source}: asset '{name}' file {file} is missing.")
            if _sha256(file) != digest:
                raise PretrainedDirError(
                    f"{source}: asset '{name}' file {file} has changed (SHA-256 differs from the "
                    "one recorded at save time); it is not the base the weights were trained on."
                )


def from_pretrained(directory: str | os.PathLike, *, verify: bool = True) -> nn.Module:
    """Build the model saved in ``directory`` and load its weights (strictly), in eval mode.

    Args:
        directory: written by :func:`save_pretrained`.
        verify: check every asset's SHA-256 (a referenced base LLM must be the same files).

    Raises:
        PretrainedDirError: for a directory in another format, or missing / changed assets.
        octavius.checkpoints.CheckpointError: when the weights do not fit the rebuilt model.
    """
    from octavius.loading import load_model

    root = Path(directory)
    source = root / MODEL_FILE
    if not source.is_file():
        raise PretrainedDirError(f"{root} is not an Octavius model directory: no {MODEL_FILE}.")
    document = json.loads(source.read_text(encoding="utf-8"))
    if document.get("format") != FORMAT or document.get("version") != VERSION:
        raise PretrainedDirError(
            f"{source}: format {document.get('format')!r} version {document.get('version')!r}; "
            f"this Octavius reads {FORMAT!r} version {VERSION}."
        )
    if verify:
        _verify(document.get("assets", {}), root, source)
    model_cfg = dict(document["model"])
    llm = model_cfg["llm"]
    if isinstance(llm, dict):
        model_cfg["llm"] = _resolve(llm, root)
        if not Path(llm["pretrained"]).is_absolute():
            model_cfg["llm"]["pretrained"] = str(root / llm["pretrained"])
    elif not Path(llm).is_absolute() and (root / llm).exists():
        model_cfg["llm"] = str(root / llm)
    model_cfg["tokenizer"] = str(root / model_cfg.get("tokenizer", "."))
    model_cfg["encoders"] = _resolve(model_cfg.get("encoders"), root)
    config = {"model": model_cfg, "default_scope": "octavius"}
    return load_model(config, root / WEIGHTS_FILE)


def save_pretrained_from_config(
    config: str | os.PathLike,
    checkpoint: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    base_llm: str = "copy",
    metrics: str | os.PathLike | None = None,
) -> Path:
    """Build ``config``'s model, load ``checkpoint`` and :func:`save_pretrained` it."""
    from octavius.config import load_config
    from octavius.loading import load_model

    cfg = load_config(Path(config))
    model = load_model(cfg, checkpoint)
    return save_pretrained(model, out_dir, base_llm=base_llm, config=cfg, metrics=metrics)
