"""The adapter benchmark: step time, peak memory and trainable parameters of every variant.

Timing runs in one process on one base model: each variant adapts a copy that shares the base
weights, and the variants are stepped in rounds (v1, v2, …, v1, v2, …) so that machine noise
hits all of them alike; the median of the measured rounds is reported. Peak memory is measured
afterwards, one worker process per variant (see :mod:`octavius.benchmark.memory`).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import statistics
from collections.abc import Sequence
from typing import Any

import peft
import torch
import transformers
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from octavius.benchmark.memory import measure_memory, memory_method
from octavius.benchmark.model import (
    PreparedVariant,
    StepBatch,
    build_base_model,
    clone_with_shared_weights,
    describe_model,
    make_batch,
    train_step,
)
from octavius.benchmark.options import BenchmarkOptions
from octavius.benchmark.targets import (
    compute_ratios,
    markdown_tables,
    targets_table,
    variants_table,
)
from octavius.benchmark.variants import (
    DECODER_LINEARS,
    VARIANTS,
    VariantUnavailableError,
    build_variant,
    select_variants,
)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _loadavg() -> list[float] | None:
    """1/5/15-minute load averages: how busy the machine was (others' work adds noise)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def describe_setup(
    options: BenchmarkOptions, base: torch.nn.Module, command: str
) -> dict[str, Any]:
    """Everything needed to read (and rerun) the numbers."""
    return {
        "command": command,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "model": describe_model(base),
        "seq_len": options.model.seq_len,
        "batch_size": options.model.batch_size,
        "dtype": "float32",
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "loadavg_start": _loadavg(),
        **options.describe(),
        "step": (
            "forward + backward of the LM loss (labels = input ids) from input embeddings; "
            "gradients set to None between steps; no optimizer step (not timed)"
        ),
        "timing": (
            "one process, one base model; every variant adapts a copy sharing the base weights; "
            "variants interleaved in rounds, warm-up rounds dropped, median of the rest"
        ),
        "routing_context": "inputs_embeds, attention_mask (all ones), question_mask (first half)",
        "frozen_base": (
            "no trainable parameters: inputs_embeds is made a leaf requiring grad so the backward "
            "pass runs through the whole frozen graph"
        ),
        "target_linears": list(DECODER_LINEARS),
        "adapter_dropout": 0.0,
        "aux_losses": "computed by the routers, not added to the timed loss",
        "memory": memory_method() if options.memory else None,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
        "variant_summaries": {name: VARIANTS[name].summary for name in options.variants},
    }


def _skipped(reason: str) -> dict[str, Any]:
    return {
        "skipped": True,
        "reason": reason,
        "step_ms": None,
        "peak_mem_mb": None,
        "trainable_params": None,
    }


def _try_step(
    name: str, variant: PreparedVariant, batch: StepBatch, skipped: dict[str, str]
) -> float | None:
    """One step; an optional variant that fails is recorded as skipped instead of raising."""
    if not VARIANTS[name].optional:
        return train_step(variant, batch)
    try:
        return train_step(variant, batch)
    except Exception as err:
        skipped[name] = f"{type(err).__name__}: {err}"
        return None


def _build_all(
    options: BenchmarkOptions, base: torch.nn.Module
) -> tuple[dict[str, PreparedVariant], dict[str, str]]:
    """Every variant on its own copy of ``base``; optional ones that cannot run are skipped."""
    prepared: dict[str, PreparedVariant] = {}
    skipped: dict[str, str] = {}
    for name in options.variants:
        try:
            prepared[name] = build_variant(name, clone_with_shared_weights(base), options.model)
        except VariantUnavailableError as err:
            skipped[name] = str(err)
    return prepared, skipped


def _time_rounds(
    options: BenchmarkOptions,
    prepared: dict[str, PreparedVariant],
    batch: StepBatch,
    skipped: dict[str, str],
    progress: Progress,
) -> dict[str, list[float]]:
    """Step the variants in interleaved rounds; the measured step times by variant."""
    samples: dict[str, list[float]] = {name: [] for name in prepared}
    rounds = options.warmup + options.steps
    task = progress.add_task("timing", total=rounds * len(prepared))
    for round_index in range(rounds):
        phase = "warm-up" if round_index < options.warmup else "timing"
        for name in list(prepared):
            progress.update(task, description=f"{phase} {round_index + 1}/{rounds} {name}")
            elapsed = _try_step(name, prepared[name], batch, skipped)
            if elapsed is None:
                del prepared[name], samples[name]
            elif round_index >= options.warmup:
                samples[name].append(elapsed)
            progress.advance(task)
    return samples


def _entry(
    variant: PreparedVariant, times: list[float], mem: dict[str, Any] | None
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "step_ms": statistics.median(times),
        "peak_mem_mb": None,
        "trainable_params": variant.trainable_params,
        "step_ms_min": min(times),
        "step_ms_samples": [round(t, 2) for t in times],
        **variant.info,
    }
    if mem is not None:
        _merge_memory(variant.name, entry, mem)
    return entry


def run_adapters_benchmark(
    options: BenchmarkOptions,
    worker_command: Sequence[str] | None = None,
    console: Console | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Time, measure and count every variant; print the tables; write the JSON if asked.

    Args:
        options: what to run (no ``options.variants``: all of them).
        worker_command: the command that starts the benchmark tool for memory workers
            (needed unless ``options.memory`` is off).
        console: where progress and tables go (default: a new rich console).
        command: the command line, recorded in the setup.

    Returns:
        ``{"variants": {name: {...}}, "setup": {...}, "ratios": {...}}``.
    """
    console = console or Console()
    options = dataclasses.replace(options, variants=select_variants(options.variants))
    if options.memory and not worker_command:
        raise ValueError("Peak memory needs a worker command; pass one or turn memory off.")
    torch.set_num_threads(options.resolved_threads)
    base = build_base_model(options.model, options.seed)
    batch = make_batch(options.model, options.seed)
    setup = describe_setup(options, base, command)
    prepared, skipped = _build_all(options, base)

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        samples = _time_rounds(options, prepared, batch, skipped, progress)
        memory: dict[str, dict[str, Any]] = {}
        if options.memory and prepared:
            mem_task = progress.add_task(
                "peak memory (one process per variant)", total=len(prepared)
            )
            memory = measure_memory(
                options,
                list(prepared),
                worker_command,
                on_done=lambda _: progress.advance(mem_task),
            )

    variants = {
        name: _skipped(skipped[name])
        if name in skipped
        else _entry(prepared[name], samples[name], memory.get(name))
        for name in options.variants
    }
    setup["loadavg_end"] = _loadavg()
    result = {"variants": variants, "setup": setup, "ratios": compute_ratios(variants)}
    console.print(variants_table(result))
    console.print(targets_table(result))
    if options.json_path is not None:
        options.json_path.parent.mkdir(parents=True, exist_ok=True)
        options.json_path.write_text(json.dumps(result, indent=2) + "\n")
        console.print(f"Wrote {options.json_path}")
    if options.markdown_path is not None:
        options.markdown_path.write_text(markdown_tables(result))
    return result


def _merge_memory(name: str, entry: dict[str, Any], mem: dict[str, Any]) -> None:
    if mem.get("skipped") or mem.get("failed"):
        if not VARIANTS[name].optional:
            raise RuntimeError(f"Peak memory of '{name}' could not be measured: {mem['reason']}")
        entry["memory_skipped_reason"] = mem["reason"]
        return
    if mem["trainable_params"] != entry["trainable_params"]:
        raise RuntimeError(
            f"The memory worker of '{name}' built a different model ({mem['trainable_params']} "
            f"trainable parameters, timing run: {entry['trainable_params']})."
        )
    entry["peak_mem_mb"] = mem["peak_mem_mb"]
    entry["pre_step_rss_mb"] = mem["pre_step_rss_mb"]
    entry["step_increment_mb"] = mem["step_increment_mb"]
