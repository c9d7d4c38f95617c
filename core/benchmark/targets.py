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
#: The variant without adapters whose step time the overhead is measured from.
BASELINE = "frozen_base"
#: The peft LoRA of the same active rank (rank a token or sample actually uses) per variant:
#: top-2 of r16 and top-1 of r32 are rank 32, MixLoRA's 4 chosen rank-1 factors rank 4. The
#: dense mixtures (every expert active, rank 4·32) are set against r32, their experts' rank.
EQUAL_RANK_REFERENCE = {
    "peft_lora_r32": "peft_lora_r32",
    "peft_lora_r4": "peft_lora_r4",
    "moe_instance_e4_top2_r16": "peft_lora_r32",
    "moe_token_e4_top1_r32": "peft_lora_r32",
    "moe_dense_e4_r32": "peft_lora_r32",
    "mixlora_e16_r4": "peft_lora_r4",
    "peft_xlora_e4_r32": "peft_lora_r32",
}


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


@dataclass(frozen=True)
class OverheadTarget:
    """``variant``'s time over ``frozen_base`` must be at most ``limit`` × the ``reference``'s.

    The overhead ratio ``(variant − frozen_base) / (reference − frozen_base)`` compares what the
    adapters themselves cost; the step-time ratio dilutes it with the base model's own work.
    """

    variant: str
    reference: str
    limit: float

    @property
    def label(self) -> str:
        return f"{self.variant} overhead ≤ {self.limit:.2f} × {self.reference}'s"


#: Every sparse variant at most 1.3 × the overhead of peft's LoRA of the same active rank.
OVERHEAD_TARGETS = tuple(
    OverheadTarget(name, EQUAL_RANK_REFERENCE[name], 1.30)
    for name in ("moe_instance_e4_top2_r16", "moe_token_e4_top1_r32", "mixlora_e16_r4")
)


def overhead_ratio(variant: float, reference: float, baseline: float) -> float | None:
    """``(variant − baseline) / (reference − baseline)``; ``None`` unless the reference costs
    measurably more than the baseline (noise can make it cost less, and the ratio meaningless)."""
    if reference <= baseline:
        return None
    return (variant - baseline) / (reference - baseline)


def _overhead(variants: dict[str, dict[str, Any]], name: str, ref: str | None) -> float | None:
    if ref is None or BASELINE not in variants:
        return None
    values = [variants.get(n, {}).get("step_ms") for n in (name, ref, BASELINE)]
    if any(v is None for v in values):
        return None
    return overhead_ratio(*values)


def paired_overhead_ratio(variants: dict[str, dict[str, Any]], name: str, ref: str) -> float | None:
    """Median over rounds of the overhead ratio computed within each round."""
    series = [variants.get(n, {}).get("step_ms_samples") for n in (name, ref, BASELINE)]
    if any(not s for s in series) or len({len(s) for s in series}) != 1:
        return None
    per_round = [overhead_ratio(*values) for values in zip(*series)]
    kept = [r for r in per_round if r is not None]
    return statistics.median(kept) if kept else None


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
    ratios["overhead_vs_equal_rank_peft"] = {
        name: _overhead(variants, name, EQUAL_RANK_REFERENCE.get(name)) for name in variants
    }
    overhead_targets = []
    for target in OVERHEAD_TARGETS:
        ratio = _overhead(variants, target.variant, target.reference)
        overhead_targets.append(
            {
                "target": target.label,
                "variant": target.variant,
                "reference": target.reference,
                "baseline": BASELINE,
                "limit": target.limit,
                "ratio": ratio,
                "met": None if ratio is None else ratio <= target.limit,
                "paired_ratio": paired_overhead_ratio(variants, target.variant, target.reference),
            }
        )
    ratios["overhead_targets"] = overhead_targets
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
                _fmt(_overhead(variants, name, EQUAL_RANK_REFERENCE.get(name)), ".2f"),
                _fmt(v.get("peak_mem_mb"), ".0f"),
                _fmt(_ratio(variants, name, "peft_lora_r32", "peak_mem_mb"), ".3f"),
                _fmt(v.get("step_increment_mb"), ".0f"),
                f"{v['trainable_params']:,}",
            ]
        )
    return rows


#: Median step time and its ratios, the overhead over frozen_base against peft's of equal active
#: rank, peak RSS and its ratio, the steps' RSS increment.
HEADERS = [
    "variant",
    "step ms",
    "×r32 time",
    "×r4 time",
    "overhead ×peft",
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
    table = Table(
        title="Targets",
        caption=(
            f"overhead = (variant − {BASELINE}) / (peft LoRA of equal active rank − {BASELINE})"
        ),
    )
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
    for t in result["ratios"].get("overhead_targets", []):
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
    for t in [*result["ratios"]["targets"], *result["ratios"].get("overhead_targets", [])]:
        ratio, paired = _fmt(t["ratio"], ".3f"), _fmt(t.get("paired_ratio"), ".3f")
        lines.append(f"| {t['target']} | {ratio} | {_status(t['met'])} | {paired} |")
    return "\n".join(lines) + "\n"
