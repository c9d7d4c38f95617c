"""Ratios against the peft LoRA baselines, the performance targets, and the printed tables."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from rich.table import Table

#: The baselines every variant is compared with.
REFERENCES = ("peft_lora_r32", "peft_lora_r4")
#: The metrics compared.
METRICS = ("step_ms", "peak_mem_mb", "step_increment_mb")


@dataclass(frozen=True)
class Target:
    """``variant``'s ``metric`` must be at most ``limit`` × the ``reference``'s."""

    variant: str
    metric: str
    reference: str
    limit: float

    @property
    def label(self) -> str:
        what = "time" if self.metric == "step_ms" else "peak memory"
        return f"{self.variant} {what} ≤ {self.limit:.2f} × {self.reference}"


TARGETS = (
    Target("moe_instance_e4_top2_r16", "step_ms", "peft_lora_r32", 1.10),
    Target("moe_token_e4_top1_r32", "step_ms", "peft_lora_r32", 1.20),
    Target("moe_token_e4_top1_r32", "peak_mem_mb", "peft_lora_r32", 1.10),
    Target("mixlora_e16_r4", "step_ms", "peft_lora_r4", 1.30),
)


def _ratio(variants: dict[str, dict[str, Any]], name: str, ref: str, metric: str) -> float | None:
    value = variants.get(name, {}).get(metric)
    base = variants.get(ref, {}).get(metric)
    if value is None or not base:
        return None
    return value / base


def paired_time_ratio(variants: dict[str, dict[str, Any]], name: str, ref: str) -> float | None:
    """Median over rounds of ``step(name) / step(ref)`` within the same round.

    Rounds interleave the variants, so a burst of other work on the machine slows both steps of
    a pair alike; this ratio shows what the ratio of the medians can hide on a busy machine.
    """
    a = variants.get(name, {}).get("step_ms_samples")
    b = variants.get(ref, {}).get("step_ms_samples")
    if not a or not b or len(a) != len(b):
        return None
    return statistics.median(x / y for x, y in zip(a, b))


def compute_ratios(variants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{"vs_<ref>": {variant: {metric: ratio}}, "targets": [...]}`` (``None`` when unmeasured)."""
    ratios: dict[str, Any] = {}
    for ref in REFERENCES:
        if ref in variants and variants[ref].get("step_ms") is not None:
            ratios[f"vs_{ref}"] = {
                name: {m: _ratio(variants, name, ref, m) for m in METRICS} for name in variants
            }
    targets = []
    for target in TARGETS:
        ratio = _ratio(variants, target.variant, target.reference, target.metric)
        targets.append(
            {
                "target": target.label,
                "variant": target.variant,
                "metric": target.metric,
                "reference": target.reference,
                "limit": target.limit,
                "ratio": ratio,
                "met": None if ratio is None else ratio <= target.limit,
                "paired_ratio": (
                    paired_time_ratio(variants, target.variant, target.reference)
                    if target.metric == "step_ms"
                    else None
                ),
            }
        )
    ratios["targets"] = targets
    return ratios


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _status(met: bool | None) -> str:
    return "not measured" if met is None else ("met" if met else "missed")


def _rows(result: dict[str, Any]) -> list[list[str]]:
    variants = result["variants"]
    rows = []
    for name, v in variants.items():
        if v.get("skipped"):
            rows.append([name, "skipped", *[""] * (len(HEADERS) - 2)])
            continue
        rows.append(
            [
                name,
                _fmt(v.get("step_ms"), ".0f"),
                _fmt(_ratio(variants, name, "peft_lora_r32", "step_ms"), ".2f"),
                _fmt(_ratio(variants, name, "peft_lora_r4", "step_ms"), ".2f"),
                _fmt(v.get("peak_mem_mb"), ".0f"),
                _fmt(_ratio(variants, name, "peft_lora_r32", "peak_mem_mb"), ".3f"),
                _fmt(v.get("step_increment_mb"), ".0f"),
                f"{v['trainable_params']:,}",
            ]
        )
    return rows


#: Median step time and its ratios, peak RSS and its ratio, the steps' RSS increment.
HEADERS = [
    "variant",
    "step ms",
    "×r32 time",
    "×r4 time",
    "peak MiB",
    "×r32 peak",
    "Δstep MiB",
    "trainable",
]


def skipped_reasons(result: dict[str, Any]) -> dict[str, str]:
    """Why each skipped variant did not run."""
    return {n: v["reason"] for n, v in result["variants"].items() if v.get("skipped")}


def variants_table(result: dict[str, Any]) -> Table:
    """The per-variant rich table (skip reasons in its caption)."""
    setup = result["setup"]
    model = setup["model"]
    table = Table(
        title=(
            f"Adapter step (fwd+bwd) — LLaMA d={model['hidden_size']} L={model['num_layers']}, "
            f"b={setup['batch_size']} n={setup['seq_len']}, fp32 CPU, {setup['torch_threads']} threads"
        ),
        caption="\n".join(f"{n} skipped: {r}" for n, r in skipped_reasons(result).items()) or None,
    )
    for i, header in enumerate(HEADERS):
        table.add_column(header, justify="left" if i == 0 else "right", no_wrap=True)
    for row in _rows(result):
        table.add_row(*row)
    return table


def targets_table(result: dict[str, Any]) -> Table:
    """The targets with their measured ratios, met or missed."""
    table = Table(title="Targets")
    table.add_column("target")
    table.add_column("ratio", justify="right")
    table.add_column("status")
    table.add_column("per-round ratio (median)", justify="right")
    for t in result["ratios"]["targets"]:
        status = _status(t["met"])
        style = {"met": "green", "missed": "red"}.get(status, "yellow")
        table.add_row(
            t["target"],
            _fmt(t["ratio"], ".3f"),
            f"[{style}]{status}[/{style}]",
            _fmt(t.get("paired_ratio"), ".3f"),
        )
    return table


def markdown_tables(result: dict[str, Any]) -> str:
    """Both tables in Markdown (for the README)."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|---|" + "---:|" * (len(HEADERS) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(result)]
    lines += [f"\n{name} skipped: {reason}" for name, reason in skipped_reasons(result).items()]
    lines += ["", "| target | ratio | status | per-round ratio (median) |", "|---|---:|---|---:|"]
    for t in result["ratios"]["targets"]:
        ratio, paired = _fmt(t["ratio"], ".3f"), _fmt(t.get("paired_ratio"), ".3f")
        lines.append(f"| {t['target']} | {ratio} | {_status(t['met'])} | {paired} |")
    return "\n".join(lines) + "\n"
