"""The estimate against measured peak memory on the CPU, for three tiny-to-small models.

``tools/estimate_table.py check`` builds the models with the tiny-asset builders (random weights,
saved and loaded back like a release), measures one training step's peak with
:func:`octavius.estimate.measure.measure_in_subprocess` and compares it with
:func:`~octavius.estimate.estimate_memory` (one device, no runtime reserve).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from octavius.estimate.estimator import EstimateOptions, estimate_memory

__all__ = ["CHECKS", "CheckCase", "check_markdown", "run_checks"]

MIB = 1024**2


@dataclass(frozen=True)
class CheckCase:
    """One measured configuration."""

    name: str
    llm: dict[str, int]
    dtype: str | None
    adapters: str
    gradient_checkpointing: bool
    micro_batch: int
    seq_len: int


CHECKS = (
    CheckCase(
        "d256 L4 fp32, instance top-2",
        dict(hidden_size=256, num_layers=4, num_heads=4, num_kv_heads=4, intermediate_size=688),
        None,
        "octavius",
        False,
        8,
        512,
    ),
    CheckCase(
        "d512 L6 bf16, token top-1 (MoLE)",
        dict(hidden_size=512, num_layers=6, num_heads=8, num_kv_heads=4, intermediate_size=1376),
        "bfloat16",
        "llava_mole",
        False,
        4,
        512,
    ),
    CheckCase(
        "d512 L6 bf16 + checkpointing, instance top-2",
        dict(hidden_size=512, num_layers=6, num_heads=8, num_kv_heads=4, intermediate_size=1376),
        "bfloat16",
        "octavius",
        True,
        8,
        512,
    ),
)


def _config_text(case: CheckCase, llama: str, clip: str) -> str:
    llm: Any = llama if case.dtype is None else dict(pretrained=llama, dtype=case.dtype)
    image: dict[str, Any] = dict(type="CLIPImageEncoder", pretrained=clip)
    if case.dtype is not None:
        image["dtype"] = case.dtype
    model = dict(
        type="MultimodalLLM",
        llm=llm,
        encoders=dict(image=image),
        projector=dict(type="LinearProjector"),
        adapters=dict(preset=case.adapters),
        gradient_checkpointing=case.gradient_checkpointing,
    )
    return f"model = {model!r}\ndefault_scope = 'octavius'\n"


def run_checks(work_dir: str | os.PathLike, cases=CHECKS) -> list[dict[str, Any]]:
    """Measure and estimate every case; rows with both numbers in MiB."""
    from octavius.config import load_config
    from octavius.estimate.measure import measure_in_subprocess
    from octavius.testing.tiny_assets import build_tiny_clip, build_tiny_llama

    root = Path(work_dir)
    clip = str(build_tiny_clip(root / "clip", image_size=64, patch_size=8, hidden_size=64))
    rows = []
    for i, case in enumerate(cases):
        dims = "_".join(str(v) for v in case.llm.values())
        llama = str(build_tiny_llama(root / f"llama_{dims}", **case.llm))
        config = root / f"check_{i}.py"
        config.write_text(_config_text(case, llama, clip))
        measured = measure_in_subprocess(config, case.micro_batch, case.seq_len)["measured_mib"]
        estimate = estimate_memory(
            load_config(str(config)),
            EstimateOptions(micro_batch=case.micro_batch, seq_len=case.seq_len),
        )
        rows.append(
            dict(
                case=case.name,
                micro_batch=case.micro_batch,
                seq_len=case.seq_len,
                estimated_mib=estimate.total / MIB,
                measured_mib=measured,
                error=estimate.total / MIB / measured - 1,
            )
        )
    return rows


def check_markdown(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of :func:`run_checks`."""
    lines = [
        "| model | micro-batch × tokens | estimated | measured peak | error |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['micro_batch']} × {r['seq_len']} | {r['estimated_mib']:.0f} MiB |"
            f" {r['measured_mib']:.0f} MiB | {r['error']:+.1%} |"
        )
    return "\n".join(lines)
