"""Command-line options shared by ``tools/chat.py`` and ``tools/infer.py``."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_generation_options", "add_model_arguments", "generation_settings"]


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``CONFIG_OR_DIR [CKPT]``."""
    parser.add_argument("source", metavar="CONFIG_OR_DIR", help="config file or model directory")
    parser.add_argument("checkpoint", metavar="CKPT", nargs="?", help="checkpoint (with a config)")


def add_generation_options(parser: argparse.ArgumentParser) -> None:
    """Decoding flags (``transformers.GenerationConfig`` fields) plus ``--seed`` and ``--merge``."""
    g = parser.add_argument_group("generation")
    g.add_argument("--max-new-tokens", type=int)
    g.add_argument("--temperature", type=float, help="sample with this temperature (> 0)")
    g.add_argument("--top-p", type=float)
    g.add_argument("--top-k", type=int)
    g.add_argument("--num-beams", type=int)
    g.add_argument("--repetition-penalty", type=float)
    g.add_argument("--stop", action="append", help="stop string (repeatable)")
    g.add_argument("--seed", type=int, help="seed of the sampling")
    g.add_argument(
        "--merge", action="store_true", help="merge the experts when a batch shares one routing"
    )


def generation_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The generation keyword arguments the flags ask for (unset flags keep the model's)."""
    out: dict[str, Any] = {}
    for name in ("max_new_tokens", "top_p", "top_k", "num_beams", "repetition_penalty", "seed"):
        if getattr(args, name, None) is not None:
            out[name] = getattr(args, name)
    if args.temperature is not None:
        out.update(do_sample=args.temperature > 0)
        if args.temperature > 0:
            out["temperature"] = args.temperature
    if args.stop:
        out["stop_strings"] = list(args.stop)
    if args.merge:
        out["merge"] = True
    return out
