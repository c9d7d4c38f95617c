"""The memory table of the paper configs in ``docs/training.md`` (``tools/estimate_table.py``).

Each paper config is estimated with the published sizes of its checkpoints
(:mod:`octavius.estimate.published`) on the paper's 8 devices, as released (fp32 weights, no
checkpointing) and with the memory controls (bf16 frozen weights, gradient checkpointing), with
the largest micro-batch that fits 24, 40 and 80 GiB devices.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from octavius.estimate.estimator import GIB, EstimateOptions, MemoryEstimate, estimate_memory
from octavius.estimate.published import PUBLISHED_CLIPS, PUBLISHED_LLMS

__all__ = ["PAPER_CONFIGS", "PaperRow", "paper_rows", "paper_table_markdown"]

#: The configs of the table, relative to the repository root.
PAPER_CONFIGS = (
    "configs/octavius_2d3d.py",
    "configs/octavius_2d.py",
    "configs/llava_mole/llava_mole_e3_mix110.py",
    "configs/mixlora/mixlora_e32_r4.py",
)
DEVICES_GB = (24.0, 40.0, 80.0)
#: Setups of the table: name → (frozen dtype, gradient checkpointing).
SETUPS = {"fp32": ("float32", False), "bf16 + ckpt": ("bfloat16", True)}


@dataclass
class PaperRow:
    """One line of the table."""

    config: str
    llm: str
    setup: str
    strategy: str
    estimate: MemoryEstimate


def _published(cfg) -> tuple[dict, dict]:
    llm = cfg.model["llm"]
    path = llm if isinstance(llm, (str, os.PathLike)) else llm["pretrained"]
    name = Path(str(path)).name
    if name not in PUBLISHED_LLMS:
        raise KeyError(f"model.llm {path!r}: no published config for {name!r}")
    encoders = {}
    image = (cfg.model.get("encoders") or {}).get("image")
    if image is not None:
        encoders["image"] = PUBLISHED_CLIPS[Path(str(image["pretrained"])).name]
    return PUBLISHED_LLMS[name], encoders


def paper_rows(
    root: str | os.PathLike = ".",
    configs: Sequence[str] = PAPER_CONFIGS,
    gpus: int = 8,
    strategies: Sequence[str] = ("ddp", "zero3"),
) -> list[PaperRow]:
    """Estimate every paper config for each setup and strategy."""
    from octavius.config import load_config

    rows = []
    for rel in configs:
        cfg = load_config(str(Path(root) / rel))
        llm_cfg, encoder_cfgs = _published(cfg)
        for setup, (dtype, checkpointing) in SETUPS.items():
            for strategy in strategies:
                options = EstimateOptions(
                    gpus=gpus,
                    strategy=strategy,
                    dtype=dtype,
                    gradient_checkpointing=checkpointing,
                    device_gb=DEVICES_GB,
                    reserve_gb=1.0,
                    llm_config=llm_cfg,
                    encoder_configs=encoder_cfgs,
                )
                rows.append(
                    PaperRow(
                        rel,
                        "13B" if llm_cfg["hidden_size"] == 5120 else "7B",
                        setup,
                        strategy,
                        estimate_memory(cfg, options),
                    )
                )
    return rows


def paper_table_markdown(rows: Sequence[PaperRow]) -> str:
    """The Markdown table of :func:`paper_rows`."""
    head = (
        "| config | LLM | weights / ckpt | strategy (8 devices) | micro-batch × tokens | "
        "weights + states | activations | per device | largest micro-batch 24 / 40 / 80 GiB |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for row in rows:
        e = row.estimate
        states = sum(v for k, v in e.components.items() if not k.startswith("activations"))
        acts = sum(v for k, v in e.components.items() if k.startswith("activations"))
        fits = " / ".join(str(e.largest_micro_batch[g]) for g in DEVICES_GB)
        lines.append(
            f"| `{row.config}` | {row.llm} | {row.setup} | {row.strategy} | "
            f"{e.micro_batch} × {e.seq_len} | {states / GIB:.1f} GiB | {acts / GIB:.1f} GiB | "
            f"{e.total / GIB:.1f} GiB | {fits} |"
        )
    return "\n".join(lines)
