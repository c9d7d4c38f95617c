"""Model cards: the ``README.md`` written into every model directory Octavius produces.

A card says what the directory is and how to load it, the base LLM, the adapters and routing
(adapted layers, experts, routers, top-k, trainable parameters), the training data (datasets,
annotation files, mixture frequencies, read from the training config) and the evaluation
metrics when a ``metrics.json`` is given. The self-contained directory
(:mod:`octavius.models.pretrained_dir`), the merged export and the peft export write one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

__all__ = ["CARD_FILE", "routing_summary", "training_data_summary", "write_model_card"]

CARD_FILE = "README.md"


def routing_summary(model: nn.Module) -> dict[str, Any]:
    """Adapted layers, expert banks and routers of a model (a ``MultimodalLLM`` or its LLM)."""
    from octavius.adapters import AdaptedLinear, BaseRouter

    layers = [m for m in model.modules() if isinstance(m, AdaptedLinear)]
    banks: dict[str, int] = {}
    for layer in layers:
        bank = layer.experts
        desc = f"{type(bank).__name__}(experts={getattr(bank, 'num_experts', '?')}, rank={getattr(bank, 'rank', '?')})"
        banks[desc] = banks.get(desc, 0) + 1
    routers = []
    for name, module in model.named_modules():
        if isinstance(module, BaseRouter):
            routers.append(
                {
                    "name": name,
                    "type": type(module).__name__,
                    "level": getattr(module, "level", "?"),
                    "experts": module.num_experts,
                    "top_k": getattr(module, "top_k", None),
                    "mode": getattr(module, "mode", None),
                }
            )
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "adapted_layers": len(layers),
        "banks": banks,
        "routers": routers,
        "parameters": total,
        "trainable_parameters": trainable,
    }


def _datasets(section: Any) -> list[Mapping[str, Any]]:
    if not isinstance(section, Mapping):
        return []
    if "datasets" in section:
        return [d for sub in section["datasets"] for d in _datasets(sub)]
    return [section]


def training_data_summary(config: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The training datasets of a config: type, name, annotation file, mixture frequency."""
    loader = (config or {}).get("train_dataloader") or {}
    dataset = loader.get("dataset") or {}
    freqs = list(dataset.get("frequencies") or [])
    rows = []
    for i, d in enumerate(_datasets(dataset)):
        rows.append(
            {
                "type": d.get("type"),
                "name": d.get("name"),
                "ann_file": d.get("ann_file"),
                "data_root": d.get("data_root"),
                "frequency": freqs[i] if i < len(freqs) else None,
            }
        )
    return rows


def _metrics(metrics: str | os.PathLike | Mapping[str, Any] | None) -> Mapping[str, Any]:
    if metrics is None:
        return {}
    if isinstance(metrics, Mapping):
        return metrics
    return json.loads(Path(metrics).read_text(encoding="utf-8"))


def write_model_card(
    out_dir: str | os.PathLike,
    *,
    title: str,
    kind: str,
    usage: str,
    base_model: str | None = None,
    model: nn.Module | None = None,
    config: Mapping[str, Any] | None = None,
    metrics: str | os.PathLike | Mapping[str, Any] | None = None,
    extra: Sequence[str] = (),
) -> Path:
    """Write ``out_dir/README.md``.

    Args:
        out_dir: the model directory.
        title: the card's heading.
        kind: one line on what the directory holds.
        usage: a Python snippet that loads it.
        base_model: the base LLM (path or name, and checksum where known).
        model: the model, for the routing summary.
        config: the training config, for the training data.
        metrics: evaluation metrics (a dict or a ``metrics.json``).
        extra: further Markdown lines.
    """
    lines = [
        "---",
        "library_name: octavius",
        "tags: [octavius, lora, mixture-of-experts]",
        "---",
        f"# {title}",
        "",
        kind,
        "",
        "## Usage",
        "",
        "```python",
        usage.strip(),
        "```",
        "",
    ]
    if base_model:
        lines += ["## Base model", "", f"`{base_model}`", ""]
    if model is not None:
        s = routing_summary(model)
        pct = 100.0 * s["trainable_parameters"] / max(s["parameters"], 1)
        lines += [
            "## Adapters and routing",
            "",
            f"- adapted linear layers: {s['adapted_layers']}",
            f"- trainable parameters: {s['trainable_parameters']:,} of {s['parameters']:,} ({pct:.2f} %)",
        ]
        lines += [f"- {count} × {desc}" for desc, count in s["banks"].items()]
        if s["routers"]:
            lines += [
                "",
                "| router | type | level | experts | top-k | mode |",
                "|---|---|---|---|---|---|",
            ]
            for r in s["routers"]:
                lines.append(
                    f"| `{r['name']}` | {r['type']} | {r['level']} | {r['experts']} | "
                    f"{r['top_k'] if r['top_k'] is not None else '–'} | {r['mode'] or '–'} |"
                )
        else:
            lines.append("- no router (plain LoRA, or routing merged into the weights)")
        lines.append("")
    data = training_data_summary(config)
    if data:
        lines += [
            "## Training data",
            "",
            "| dataset | type | annotation file | frequency |",
            "|---|---|---|---|",
        ]
        for d in data:
            lines.append(
                f"| {d['name'] or '–'} | {d['type']} | `{d['ann_file']}` | {d['frequency'] if d['frequency'] is not None else '–'} |"
            )
        lines.append("")
    values = _metrics(metrics)
    if values:
        lines += ["## Metrics", "", "| metric | value |", "|---|---|"]
        for key, value in sorted(values.items()):
            shown = f"{value:.4f}" if isinstance(value, float) else str(value)
            lines.append(f"| {key} | {shown} |")
        lines.append("")
    lines += list(extra)
    out = Path(out_dir) / CARD_FILE
    out.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return out
