"""Checks run before an export writes anything: where it writes, and what it is asked to merge."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn


class ExportError(ValueError):
    """An export that would overwrite its sources, or that cannot represent the model."""


def source_dirs(model_cfg: Any, checkpoint: str | os.PathLike | None = None) -> list[Path]:
    """Directories an export reads: every existing path in ``model_cfg`` and the checkpoint."""
    found: list[Path] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)
        elif isinstance(node, (str, os.PathLike)) and str(node):
            path = Path(node)
            if path.exists():
                found.append((path if path.is_dir() else path.parent).resolve())

    walk(model_cfg)
    if checkpoint is not None and Path(checkpoint).exists():
        path = Path(checkpoint)
        found.append((path if path.is_dir() else path.parent).resolve())
    return found


def check_output_dir(
    out_dir: str | os.PathLike, sources: Iterable[Path], overwrite: bool = False
) -> Path:
    """Refuse an output directory that is (inside) a source, or non-empty without ``overwrite``.

    Raises:
        ExportError: naming the output and the source directory it would write into.
    """
    out = Path(out_dir).resolve()
    for source in sources:
        if out == source or source in out.parents:
            raise ExportError(
                f"output directory {out_dir} is {'' if out == source else 'inside '}{source}, "
                "which this export reads (base model, encoder or checkpoint); writing there would "
                "overwrite the source weights. Choose a new directory."
            )
    if out.exists() and not out.is_dir():
        raise ExportError(f"output {out_dir} exists and is a file; choose a directory.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ExportError(
            f"output directory {out_dir} is not empty; choose a new directory or pass "
            "--overwrite to replace its content."
        )
    return out


def check_expert_weights(experts: Sequence[int] | None, weights: Sequence[float] | None) -> None:
    """``--weights`` must be finite, non-negative, not all zero, one per expert of ``--experts``.

    Raises:
        ExportError: naming the bad value.
    """
    if experts is not None and any(e < 0 for e in experts):
        raise ExportError(f"--experts must be expert indices >= 0, got {list(experts)}.")
    if weights is None:
        return
    if experts is None:
        raise ExportError("--weights needs --experts (one weight per expert).")
    if len(weights) != len(experts):
        raise ExportError(
            f"--weights has {len(weights)} value(s) for {len(experts)} expert(s) in --experts; "
            "give one weight per expert."
        )
    for expert, weight in zip(experts, weights):
        if not math.isfinite(weight) or weight < 0:
            raise ExportError(
                f"--weights: the weight of expert {expert} is {weight}; weights must be finite "
                "and >= 0."
            )
    if not any(weights):
        raise ExportError("--weights are all zero; at least one expert needs a positive weight.")


def token_routed_layers(model: nn.Module) -> list[str]:
    """Names of the adapted layers whose router chooses per token."""
    from octavius.adapters import AdaptedLinear

    layers = []
    for name, module in model.named_modules():
        slot = getattr(module, "slot", None) if isinstance(module, AdaptedLinear) else None
        if slot is not None and getattr(slot.router, "level", "instance") == "token":
            layers.append(name)
    return layers


def refuse_expert_set_for_token_routing(model: nn.Module, command: str) -> None:
    """Refuse ``--experts`` on a token-routed model: no fixed expert set reproduces it.

    Raises:
        ExportError: naming a token-routed layer and what works instead.
    """
    layers = token_routed_layers(model)
    if not layers:
        return
    more = f" and {len(layers) - 1} more" if len(layers) > 1 else ""
    raise ExportError(
        f"{command} --experts: layer '{layers[0]}'{more} routes each token to its own expert "
        "(token-level routing, e.g. LLaVA-MoLE), so a fixed expert set is a different model from "
        "the one trained and would silently answer differently. Token-routed layers cannot be "
        "merged or exported as one peft LoRA; evaluate and serve the model with the Octavius "
        "checkpoint (tools/test.py), or export a model whose routing is instance-level."
    )
