"""The layer benchmark's tables: per-variant times and ratios, and the overhead targets."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from octavius.benchmark.targets import BASELINE

#: Columns of the per-variant table.
LAYER_HEADERS = [
    "variant",
    "step ms",
    "×frozen",
    "vs",
    "×peft time",
    "overhead ms",
    "overhead ×peft",
    "trainable",
]


def _stat(stats: dict[str, float] | None, spec: str = ".3f") -> str:
    if not stats:
        return "—"
    return f"{stats['median']:{spec}} ± {stats['ci95']:{spec}}"


def _num(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def layer_rows(result: dict[str, Any]) -> list[list[str]]:
    """One row per variant, in run order."""
    rows = []
    for name, v in result["variants"].items():
        rows.append(
            [
                name,
                _num(v["step_ms"], ".2f"),
                _num(v.get("time_vs_frozen"), ".3f"),
                v.get("reference", "—"),
                _stat(v.get("time_ratio")),
                _num(v.get("overhead_ms"), ".2f"),
                _stat(v.get("overhead_ratio")),
                f"{v['trainable_params']:,}",
            ]
        )
    return rows


def layers_table(result: dict[str, Any]) -> Table:
    """The per-variant table; ratios are medians over rounds ± their 95 % interval."""
    setup = result["setup"]
    table = Table(
        title=(
            f"Layer step (fwd+bwd, process CPU) — d={setup['hidden_size']} "
            f"MLP={setup['intermediate_size']}, {setup['batch_size']}×{setup['seq_len']} tokens, "
            f"{setup['torch_threads']} thread(s), {setup['rounds']} rounds × {setup['reps']} reps"
        ),
        caption=(
            f"×peft: paired per-round ratio to the peft LoRA of equal active rank ('vs'); "
            f"overhead ×peft: (variant − {BASELINE}) / (vs − {BASELINE}); median ± 95 % CI"
        ),
    )
    for i, header in enumerate(LAYER_HEADERS):
        table.add_column(header, justify="left" if i in (0, 3) else "right", no_wrap=True)
    for row in layer_rows(result):
        table.add_row(*row)
    return table


def layer_targets_table(result: dict[str, Any]) -> Table:
    """The overhead targets, met or missed, at the layer level."""
    table = Table(title="Layer-level overhead targets")
    for header in ("target", "ratio", "± 95 %", "status"):
        table.add_column(header, justify="right" if header != "target" else "left")
    for t in result["overhead_targets"]:
        status = "not measured" if t["met"] is None else ("met" if t["met"] else "missed")
        style = {"met": "green", "missed": "red"}.get(status, "yellow")
        table.add_row(
            t["target"],
            _num(t["ratio"], ".3f"),
            _num(t["ci95"], ".3f"),
            f"[{style}]{status}[/{style}]",
        )
    return table


def layers_markdown(result: dict[str, Any]) -> str:
    """Both tables in Markdown (for the README)."""
    lines = [
        "| " + " | ".join(LAYER_HEADERS) + " |",
        "|---|" + "---:|" * 2 + "---|" + "---:|" * (len(LAYER_HEADERS) - 4),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in layer_rows(result)]
    lines += ["", "| target | ratio | ± 95 % | status |", "|---|---:|---:|---|"]
    for t in result["overhead_targets"]:
        status = "not measured" if t["met"] is None else ("met" if t["met"] else "missed")
        lines.append(
            f"| {t['target']} | {_num(t['ratio'], '.3f')} | {_num(t['ci95'], '.3f')} | {status} |"
        )
    return "\n".join(lines) + "\n"
