"""Benchmark the adapter variants: step time, peak memory, trainable parameters; and inference.

    python tools/benchmark.py adapters --json OUT.json [--quick] [--variants a,b] [--steps N] [--warmup N]
    python tools/benchmark.py inference --json OUT.json [--quick] [--rounds N] [--threads N]
    python tools/benchmark.py features --json OUT.json [--quick] [--rounds N] [--setups a,b]
    python tools/benchmark.py layers --json OUT.json [--quick] [--rounds N] [--reps N]

See README "Benchmark" and :mod:`octavius.benchmark`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from octavius.benchmark import (
    FULL_SETUP,
    QUICK_SETUP,
    VARIANT_NAMES,
    BenchmarkOptions,
    run_adapters_benchmark,
    run_memory_worker,
    select_variants,
)
from octavius.benchmark.options import MODEL_FLAGS

#: Per-mode defaults of the run settings (model sizes come from FULL_SETUP / QUICK_SETUP).
DEFAULTS = {
    False: {"steps": 10, "warmup": 2, "memory_jobs": 1},
    True: {"steps": 5, "warmup": 1, "memory_jobs": 2},
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="benchmark", required=True)
    p = sub.add_parser("adapters", help="time and measure the adapter variants")
    p.add_argument("--json", type=Path, help="write the result here")
    p.add_argument("--markdown", type=Path, help="write the tables here as Markdown")
    p.add_argument("--quick", action="store_true", help="a small model; under a minute")
    p.add_argument(
        "--variants",
        type=lambda s: [v.strip() for v in s.split(",") if v.strip()],
        help=f"comma-separated subset of: {', '.join(VARIANT_NAMES)}",
    )
    p.add_argument("--steps", type=int, help="measured steps per variant (full 10, quick 5)")
    p.add_argument("--warmup", type=int, help="warm-up steps per variant (full 2, quick 1)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's, all cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory workers")
    p.add_argument("--memory-jobs", type=int, help="memory workers at once (full 1, quick 2)")
    model = p.add_argument_group("model (defaults: the full or the --quick setup)")
    for field_name, flag in MODEL_FLAGS.items():
        model.add_argument(flag, dest=field_name, type=int)
    p.add_argument("--_memory-worker", dest="memory_worker", help=argparse.SUPPRESS)
    q = sub.add_parser("inference", help="prefill time and decode throughput of the variants")
    q.add_argument("--json", type=Path, help="write the result here")
    q.add_argument("--quick", action="store_true", help="a small model and short answers")
    q.add_argument("--rounds", type=int, help="measured rounds (full 3, quick 2)")
    q.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    q.add_argument("--seed", type=int, default=0)
    f = sub.add_parser("features", help="step time live vs from the frozen-feature cache")
    f.add_argument("--json", type=Path, help="write the result here")
    f.add_argument("--quick", action="store_true", help="less data and fewer rounds")
    f.add_argument("--rounds", type=int, help="measured rounds (full 8, quick 3)")
    f.add_argument("--setups", help="comma-separated subset of: quickstart, realistic")
    f.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    f.add_argument("--root", type=Path, help="where assets, data and caches go (default: temp)")
    add_layers_parser(sub)
    return parser.parse_args(argv)


# --- tools/benchmark.py layers ------------------------------------------------------------------


def add_layers_parser(sub: argparse._SubParsersAction) -> None:
    """``layers``: one adapted attention set and MLP block, timed against peft's LoRA layers."""
    p = sub.add_parser("layers", help="adapter overhead at the layer level (process CPU time)")
    p.add_argument("--json", type=Path, help="write the result here")
    p.add_argument("--markdown", type=Path, help="write the tables here as Markdown")
    p.add_argument("--quick", action="store_true", help="a 256-wide layer, fewer rounds")
    p.add_argument(
        "--variants",
        type=lambda s: [v.strip() for v in s.split(",") if v.strip()],
        help="comma-separated subset (default: every variant that runs on a layer)",
    )
    p.add_argument("--rounds", type=int, help="measured rounds (full 25, quick 15)")
    p.add_argument("--warmup", type=int, help="warm-up rounds (full 3, quick 2)")
    p.add_argument("--reps", type=int, help="steps per measurement (full 2, quick 4)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--seed", type=int, default=0)
    for flag in ("--hidden-size", "--intermediate-size", "--batch-size", "--seq-len"):
        p.add_argument(flag, type=int)


def run_layers(args: argparse.Namespace, argv: Sequence[str]) -> dict:
    from rich.progress import Progress

    from octavius.benchmark.layers import FULL_LAYERS, QUICK_LAYERS, run_layers_benchmark
    from octavius.benchmark.layers_report import (
        layer_targets_table,
        layers_markdown,
        layers_table,
    )

    fields = ("hidden_size", "intermediate_size", "batch_size", "seq_len", "rounds", "warmup")
    overrides = {f: getattr(args, f) for f in (*fields, "reps") if getattr(args, f) is not None}
    try:
        setup = dataclasses.replace(QUICK_LAYERS if args.quick else FULL_LAYERS, **overrides)
        if args.threads < 1:
            raise ValueError(f"--threads must be ≥ 1, got {args.threads}.")
    except ValueError as err:
        sys.exit(f"benchmark: {err}")
    console = Console() if sys.stdout.isatty() else Console(width=150)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("building", total=None)
        try:
            result = run_layers_benchmark(
                setup,
                args.variants,
                seed=args.seed,
                threads=args.threads,
                on_step=lambda what: progress.update(task, description=what),
            )
        except ValueError as err:
            sys.exit(f"benchmark: {err}")
    result["setup"]["command"] = shlex.join(["python", "tools/benchmark.py", *argv])
    console.print(layers_table(result))
    console.print(layer_targets_table(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        console.print(f"Wrote {args.json}")
    if args.markdown is not None:
        args.markdown.write_text(layers_markdown(result))
    return result


# --- end of tools/benchmark.py layers -----------------------------------------------------------


def run_inference(args: argparse.Namespace, argv: Sequence[str]) -> dict:
    import torch
    from rich.progress import Progress

    from octavius.benchmark.inference import FULL, QUICK, run_inference_benchmark
    from octavius.benchmark.inference_report import inference_tables

    setup = QUICK if args.quick else FULL
    if args.rounds is not None:
        setup = dataclasses.replace(setup, rounds=args.rounds)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    console = Console() if sys.stdout.isatty() else Console(width=140)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("building", total=None)
        result = run_inference_benchmark(
            setup, args.seed, on_step=lambda what: progress.update(task, description=what)
        )
    result["setup"]["command"] = shlex.join(["python", "tools/benchmark.py", *argv])
    for table in inference_tables(result):
        console.print(table)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        console.print(f"Wrote {args.json}")
    return result


def build_options(args: argparse.Namespace) -> BenchmarkOptions:
    defaults = DEFAULTS[args.quick]
    preset = QUICK_SETUP if args.quick else FULL_SETUP
    overrides = {f: getattr(args, f) for f in MODEL_FLAGS if getattr(args, f) is not None}
    return BenchmarkOptions(
        model=dataclasses.replace(preset, **overrides),
        variants=select_variants(args.variants),
        steps=args.steps if args.steps is not None else defaults["steps"],
        warmup=args.warmup if args.warmup is not None else defaults["warmup"],
        threads=args.threads,
        memory=not args.no_memory,
        memory_jobs=args.memory_jobs or defaults["memory_jobs"],
        seed=args.seed,
        quick=args.quick,
        json_path=args.json,
        markdown_path=args.markdown,
    )


def main(argv: Sequence[str] | None = None) -> dict | None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.benchmark == "inference":
        return run_inference(args, argv)
    if args.benchmark == "features":
        from octavius.benchmark.features import main as run_features

        return run_features(args, argv)
    if args.benchmark == "layers":
        return run_layers(args, argv)
    try:
        options = build_options(args)
    except ValueError as err:
        sys.exit(f"benchmark: {err}")
    if args.memory_worker:
        if args.json is None:
            sys.exit("benchmark: --_memory-worker needs --json")
        args.json.write_text(json.dumps(run_memory_worker(options, args.memory_worker)))
        return None
    worker = [sys.executable, str(Path(__file__).resolve()), "adapters"]
    command = shlex.join(["python", "tools/benchmark.py", *argv])
    # A pipe or a log file gets a table wide enough for every column.
    console = Console() if sys.stdout.isatty() else Console(width=120)
    return run_adapters_benchmark(options, worker_command=worker, console=console, command=command)


if __name__ == "__main__":
    main()
