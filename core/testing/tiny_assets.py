"""Tiny pre-trained-style assets: a LLaMA, its tokenizer, a CLIP vision tower, a Point-BERT file.

Tests and the quickstart have no model hub, so they build miniature checkpoints from configs and
save them with the same formats a 7B release uses. Everything the model code reads afterwards goes
through the real loading paths — ``AutoTokenizer.from_pretrained``,
``AutoModelForCausalLM.from_pretrained``, ``CLIPVisionModel.from_pretrained``,
``CLIPImageProcessor.from_pretrained`` and the Point-BERT state-dict loader — so nothing here is
a shortcut the real checkpoints would not take.

Every builder is idempotent: a directory (or file) holding the same build spec is reused, and a
new one is built in a temporary sibling and moved into place, so concurrent builders (parallel test
workers) never see half-written files.

Layout of :func:`build_tiny_assets`::

    ROOT/llama/        config.json, model.safetensors, tokenizer.json, tokenizer_config.json, ...
    ROOT/clip/         config.json, model.safetensors, preprocessor_config.json
    ROOT/point_bert.safetensors
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from octavius.testing.asset_cache import build_dir, default_assets_root, is_built, spec_key
from octavius.testing.tiny_tokenizer import (
    CORPUS,
    SPECIAL_TOKENS,
    build_tiny_tokenizer,
    write_tokenizer,
)

__all__ = [
    "SPECIAL_TOKENS",
    "TinyAssets",
    "build_tiny_assets",
    "build_tiny_clip",
    "build_tiny_llama",
    "build_tiny_point_bert",
    "build_tiny_tokenizer",
    "default_assets_root",
]


def build_tiny_llama(
    path: str | os.PathLike,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 128,
    max_position_embeddings: int = 1024,
    vocab_size: int = 768,
    initializer_range: float = 0.1,
    seed: int = 0,
) -> Path:
    """Build a tiny LLaMA causal LM with its tokenizer in one directory.

    Args:
        path: directory that receives the model (``save_pretrained``, safetensors) and the
            tokenizer from :func:`build_tiny_tokenizer`.
        hidden_size: width ``d`` of the residual stream.
        num_layers: decoder layers.
        num_heads: attention heads (``hidden_size`` must be divisible by it).
        num_kv_heads: key/value heads (grouped-query attention when smaller than ``num_heads``).
        intermediate_size: MLP width.
        max_position_embeddings: longest sequence the rotary embedding is configured for.
        vocab_size: BPE vocabulary size of the tokenizer.
        initializer_range: std of the random weights. LLaMA's 0.02 leaves a 64-wide model
            with near-uniform next-token distributions that adapters can barely move; 0.1
            gives logits of a trained model's spread.
        seed: seed of the random initialisation.

    Returns:
        ``path``, loadable with ``AutoModelForCausalLM.from_pretrained`` and
        ``AutoTokenizer.from_pretrained``.
    """
    if hidden_size % num_heads or num_heads % num_kv_heads:
        raise ValueError(
            f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads}) and "
            f"num_heads by num_kv_heads ({num_kv_heads})."
        )
    spec = {
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "num_kv_heads": num_kv_heads,
        "intermediate_size": intermediate_size,
        "max_position_embeddings": max_position_embeddings,
        "vocab_size": vocab_size,
        "initializer_range": initializer_range,
        "seed": seed,
        "corpus": spec_key("corpus", {"text": CORPUS}),
    }

    def build(tmp: Path) -> None:
        from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

        write_tokenizer(tmp, vocab_size)
        tokenizer = AutoTokenizer.from_pretrained(tmp)
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            intermediate_size=intermediate_size,
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            num_key_value_heads=num_kv_heads,
            max_position_embeddings=max_position_embeddings,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=False,
            initializer_range=initializer_range,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = LlamaForCausalLM(config)
        model.save_pretrained(tmp)

    return build_dir(path, "llama", spec, build)


def build_tiny_clip(
    path: str | os.PathLike,
    *,
    image_size: int = 32,
    patch_size: int = 8,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    intermediate_size: int = 64,
    seed: int = 0,
) -> Path:
    """Build a tiny CLIP vision tower and save its image processor config beside it.

    Args:
        path: directory for ``CLIPVisionModel.save_pretrained`` + ``CLIPImageProcessor``.
        image_size: input resolution (square); the processor resizes and centre-crops to it.
        patch_size: ViT patch size; ``(image_size / patch_size)²`` patch tokens plus CLS.
        hidden_size: width of the tower.
        num_layers: transformer layers.
        num_heads: attention heads.
        intermediate_size: MLP width.
        seed: seed of the random initialisation.

    Returns:
        ``path``, loadable with ``CLIPVisionModel.from_pretrained`` and
        ``CLIPImageProcessor.from_pretrained``.
    """
    if image_size % patch_size:
        raise ValueError(
            f"image_size ({image_size}) must be a multiple of patch_size ({patch_size})."
        )
    spec = {
        "image_size": image_size,
        "patch_size": patch_size,
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "intermediate_size": intermediate_size,
        "seed": seed,
    }

    def build(tmp: Path) -> None:
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

        config = CLIPVisionConfig(
            hidden_size=hidden_size,
            intermediate_size=intermediate_size,
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            image_size=image_size,
            patch_size=patch_size,
            projection_dim=hidden_size,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = CLIPVisionModel(config)
        model.save_pretrained(tmp)
        processor = CLIPImageProcessor(
            size={"shortest_edge": image_size},
            crop_size={"height": image_size, "width": image_size},
        )
        processor.save_pretrained(tmp)

    return build_dir(path, "clip", spec, build)


def build_tiny_point_bert(path: str | os.PathLike, **cfg: Any) -> Path:
    """Instantiate a small ``PointBERT`` (from ENCODERS) and save its state dict (safetensors).

    The file is read back with the encoder's own checkpoint loader, so it exercises the same path
    a ULIP / Point-BERT checkpoint takes.

    Args:
        path: the ``.safetensors`` file to write.
        **cfg: ``PointBERT`` constructor arguments (size of the tiny network), plus
            ``init_seed`` (seed of the random weights, default 0); ``type`` and ``checkpoint``
            are ignored. Without arguments, ``PointBERT.example_config()`` is used.

    Returns:
        ``path``.
    """
    target = Path(path)
    if target.suffix != ".safetensors":
        raise ValueError(f"build_tiny_point_bert writes a .safetensors file; got {target}.")
    from safetensors.torch import save_file

    from octavius.registry import ENCODERS

    try:
        cls = ENCODERS.get("PointBERT")
    except KeyError as err:
        raise RuntimeError(
            "build_tiny_point_bert needs the 'PointBERT' encoder registered in ENCODERS "
            "(octavius.plugins.encoders.point_bert)."
        ) from err
    cfg = {k: v for k, v in cfg.items() if k not in ("type", "checkpoint")}
    init_seed = int(cfg.pop("init_seed", 0))
    if not cfg:
        cfg = cls.example_config(target.parent)
    key = spec_key("point_bert", {"cfg": cfg, "init_seed": init_seed})
    spec_path = target.with_name(target.name + ".json")
    if target.exists() and is_built(spec_path, key):
        return target
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        encoder = cls(**cfg)
    state = {k: v.detach().contiguous().clone() for k, v in encoder.state_dict().items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        save_file(state, tmp_name)
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    spec_path.write_text(json.dumps({"kind": "point_bert", "key": key, "cfg": cfg}, default=str))
    return target


@dataclass(frozen=True)
class TinyAssets:
    """Paths of the tiny assets built by :func:`build_tiny_assets`.

    Attributes:
        root: the directory holding them.
        llm: LLaMA + tokenizer directory (``pretrained`` of :class:`MultimodalLLM`).
        clip: CLIP vision tower + image processor directory.
        point_bert: Point-BERT state dict (``.safetensors``), or ``None`` when not requested.
    """

    root: Path
    llm: Path
    clip: Path
    point_bert: Path | None = None


def build_tiny_assets(
    root: str | os.PathLike | None = None, *, point_bert: bool | dict[str, Any] = False
) -> TinyAssets:
    """Build (or reuse) every tiny asset under ``root`` with the default sizes.

    Args:
        root: target directory; :func:`default_assets_root` when ``None``.
        point_bert: also build the Point-BERT file; a dict gives its constructor arguments.
    """
    base = Path(root) if root is not None else default_assets_root()
    llm = build_tiny_llama(base / "llama")
    clip = build_tiny_clip(base / "clip")
    pb: Path | None = None
    if point_bert:
        pb_cfg = point_bert if isinstance(point_bert, dict) else {}
        pb = build_tiny_point_bert(base / "point_bert.safetensors", **pb_cfg)
    return TinyAssets(root=base, llm=llm, clip=clip, point_bert=pb)
