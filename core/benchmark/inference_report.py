"""Tables of the inference benchmark (rich, and Markdown for the README)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

__all__ = ["inference_markdown", "inference_tables"]

HEADERS = [
    "variant",
    "batch",
    "prefill ms (CPU)",
    "decode tok/s (CPU)",
    "prefill ms (wall)",
    "decode tok/s (wall)",
]


def _rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for key, r in result["results"].items():
        name, batch = key.rsplit("@b", 1)
        rows.append(
            [
                name,
                batch,
                f"{r['prefill_ms_cpu']:.1f}",
                f"{r['decode_tok_s_cpu']:.1f}",
                f"{r['prefill_ms_wall']:.1f}",
                f"{r['decode_tok_s_wall']:.1f}",
            ]
        )
    return rows


TARGET_HEADERS = [
    "target",
    "ratio CPU",
    "per round CPU: median [IQR] (range)",
    "ratio wall",
    "status",
]


def _rounds(t: dict[str, Any]) -> str:
    r = t.get("rounds_cpu")
    if r is None:
        return "–"
    return f"{r['median']:.3f} [{r['q1']:.3f}–{r['q3']:.3f}] ({r['min']:.3f}–{r['max']:.3f})"


def _target_rows(result: dict[str, Any]) -> list[list[str]]:
    return [
        [
            t["target"],
            f"{t['ratio_cpu']:.3f}",
            _rounds(t),
            f"{t['ratio_wall']:.3f}",
            "met" if t["met"] else "missed",
        ]
        for t in result["targets"]
    ]


def inference_tables(result: dict[str, Any]) -> list[Table]:
    """The per-variant table and the targets table."""
    setup = result["setup"]
    model = setup["model"]
    table = Table(
        title=(
            f"Inference — LLaMA d={model['hidden_size']} L={model['num_layers']}, prompt "
            f"{setup['prompt_len']}, {setup['new_tokens']} new tokens, {setup['torch_threads']} threads"
        )
    )
    for i, header in enumerate(HEADERS):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in _rows(result):
        table.add_row(*row)
    targets = Table(title="Targets (decode throughput ratios; CPU time decides)")
    for header in TARGET_HEADERS:
        targets.add_column(header)
    for row in _target_rows(result):
        targets.add_row(*row)
    return [table, targets]


def inference_markdown(result: dict[str, Any]) -> str:
    """Both tables in Markdown."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|---|" + "---:|" * (len(HEADERS) - 1)]
    lines += ["| " + " | ".join(r) + " |" for r in _rows(result)]
    lines += ["", "| " + " | ".join(TARGET_HEADERS) + " |", "|---|---:|---:|---:|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in _target_rows(result)]
    return "\n".join(lines) + "\n"
