"""Peak memory of one variant, measured in a worker process of its own.

A worker builds the same base model and batch, adapts it as one variant (the same code path as
the timing run), takes warm-up steps, then resets the kernel's peak-RSS counter (Linux: writing
``5`` to ``/proc/self/clear_refs`` resets ``VmHWM``), takes the measured steps and reads
``VmHWM`` back. Workers run with ``MALLOC_MMAP_THRESHOLD_`` fixed so that glibc serves large
tensors with ``mmap`` and returns them on free: the resident size then follows live memory
instead of what the allocator kept from earlier steps.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from octavius.benchmark.model import (
    build_base_model,
    clone_with_shared_weights,
    make_batch,
    train_step,
)
from octavius.benchmark.options import BenchmarkOptions
from octavius.benchmark.variants import VariantUnavailableError, build_variant

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
#: Steps of a worker before and during the measurement.
MEMORY_WARMUP_STEPS = 1
MEMORY_STEPS = 2
#: glibc serves allocations from this size on with mmap, returned to the system on free.
MMAP_THRESHOLD_BYTES = 128 * 1024
WORKER_ENV = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD_BYTES)}


def read_status_mb() -> dict[str, float]:
    """``VmRSS`` and ``VmHWM`` (peak RSS since the last reset) of this process, in MiB."""
    text = STATUS.read_text()
    values = {}
    for key in ("VmRSS", "VmHWM"):
        match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"{STATUS} has no {key} line; peak memory needs Linux.")
        values[key] = int(match.group(1)) / 1024.0
    return values


def reset_peak_rss() -> None:
    """Reset ``VmHWM`` to the current RSS (Linux ≥ 4.0)."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError as err:
        raise RuntimeError(
            f"Cannot reset the peak RSS through {CLEAR_REFS} ({err}); peak memory needs Linux. "
            "Run the benchmark with --no-memory."
        ) from err


def release_free_memory() -> None:
    """Collect garbage and hand free heap pages back to the system, so RSS counts live memory."""
    gc.collect()
    # Without glibc the RSS may include some freed heap; the peak stays right.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def run_memory_worker(options: BenchmarkOptions, name: str) -> dict[str, Any]:
    """Measure variant ``name`` in this process (the ``--_memory-worker`` entry point).

    Returns:
        ``peak_mem_mb`` (peak RSS during the measured steps), ``pre_step_rss_mb``,
        ``step_increment_mb`` (their difference) and ``trainable_params``; or ``skipped`` with a
        ``reason`` when an optional variant cannot run here.
    """
    torch.set_num_threads(options.resolved_threads)
    base = build_base_model(options.model, options.seed)
    batch = make_batch(options.model, options.seed)
    try:
        variant = build_variant(name, clone_with_shared_weights(base), options.model)
        for _ in range(MEMORY_WARMUP_STEPS):
            train_step(variant, batch)
    except VariantUnavailableError as err:
        return {"skipped": True, "reason": str(err)}
    release_free_memory()
    before = read_status_mb()["VmRSS"]
    reset_peak_rss()
    for _ in range(MEMORY_STEPS):
        train_step(variant, batch)
    peak = read_status_mb()["VmHWM"]
    return {
        "peak_mem_mb": peak,
        "pre_step_rss_mb": before,
        "step_increment_mb": peak - before,
        "trainable_params": variant.trainable_params,
    }


def _launch(
    worker_command: Sequence[str], options: BenchmarkOptions, name: str, tmp: Path
) -> dict[str, Any]:
    out = tmp / f"{name}.json"
    argv = [*worker_command, *options.worker_argv(), "--_memory-worker", name, "--json", str(out)]
    done = subprocess.run(
        argv, env={**os.environ, **WORKER_ENV}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or not out.exists():
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        return {"failed": True, "reason": f"worker exited with {done.returncode}: {tail}"}
    return json.loads(out.read_text())


def measure_memory(
    options: BenchmarkOptions,
    names: Sequence[str],
    worker_command: Sequence[str],
    on_done: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run one worker per variant (``options.memory_jobs`` at a time); results by name.

    Args:
        options: the run's options; the workers rebuild the same model from them.
        names: variants to measure.
        worker_command: the command that starts the benchmark tool, e.g.
            ``[sys.executable, "tools/benchmark.py", "adapters"]``; the worker flags are appended.
        on_done: called with each variant's name when its worker has finished.
    """
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="octavius-bench-") as tmp:

        def job(name: str) -> None:
            results[name] = _launch(worker_command, options, name, Path(tmp))
            if on_done is not None:
                on_done(name)

        with ThreadPoolExecutor(max_workers=options.memory_jobs) as pool:
            list(pool.map(job, names))
    return {name: results[name] for name in names}


def memory_method() -> dict[str, Any]:
    """How peak memory is measured, for the benchmark's ``setup``."""
    return {
        "process": "one worker process per variant, same model/batch/code path",
        "warmup_steps": MEMORY_WARMUP_STEPS,
        "measured_steps": MEMORY_STEPS,
        "peak_mem_mb": "VmHWM after the measured steps, reset (clear_refs=5) right before them",
        "step_increment_mb": "peak_mem_mb minus VmRSS just before the measured steps",
        "allocator": f"glibc, MALLOC_MMAP_THRESHOLD_={MMAP_THRESHOLD_BYTES}, malloc_trim before",
        "unit": "MiB",
    }
