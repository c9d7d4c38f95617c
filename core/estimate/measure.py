"""Measured peak memory of training steps on the CPU, to check the estimate against.

``python -m octavius.estimate.measure CONFIG --micro-batch B --seq-len N --json OUT`` builds the
config's model for real, makes a batch of ``B`` samples of ``N`` spliced tokens (one item per
encoder and sample), takes AdamW steps as the runner does (forward, backward, step, gradients set
to ``None``) and reports the peak resident memory of the last step minus the resident memory before
the model was built. Peak RSS is read as :mod:`octavius.benchmark.memory` does (``VmHWM`` reset
through ``clear_refs``); run it with ``MALLOC_MMAP_THRESHOLD_`` set (:data:`WORKER_ENV`) so that
freed tensors leave the resident set.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from octavius.benchmark.memory import (
    WORKER_ENV,
    read_status_mb,
    release_free_memory,
    reset_peak_rss,
)

__all__ = ["make_batch", "measure_in_subprocess", "measure_peak"]

WARMUP_STEPS = 2
MIB = 1024**2


def make_batch(model: Any, micro_batch: int, seq_len: int, seed: int = 0) -> dict[str, Any]:
    """A training batch of ``micro_batch`` samples that splice to ``seq_len`` tokens each."""
    g = torch.Generator().manual_seed(seed)
    images = "image" in model.encoders
    text_len = seq_len - (model.encoders["image"].num_tokens - 1 if images else 0)
    vocab = model.llm.get_input_embeddings().num_embeddings
    # Ordinary text tokens only: past every special and placeholder id.
    special = {*model.placeholder_ids.values(), *model.tokenizer.all_special_ids}
    first = max(i for i in special if i is not None and i < vocab) + 1
    ids = torch.randint(first, vocab, (micro_batch, text_len), generator=g)
    inputs: dict[str, Any] = {}
    if images:
        ids[:, 1] = model.placeholder_ids["image"]
        size = model.encoders["image"].model.config.image_size
        inputs["images"] = [[torch.rand(3, size, size, generator=g)] for _ in range(micro_batch)]
    labels = ids.clone()
    labels[:, : text_len // 2] = -100
    question = torch.zeros_like(ids, dtype=torch.bool)
    question[:, : text_len // 2] = True
    inputs.update(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        labels=labels,
        question_mask=question,
    )
    return inputs


def _step(model: Any, optimizer: torch.optim.Optimizer, batch: dict[str, Any], samples) -> None:
    losses = model.loss(batch, samples)
    loss = sum(v for k, v in losses.items() if k.startswith("loss"))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def measure_peak(config: str | os.PathLike, micro_batch: int, seq_len: int) -> dict[str, float]:
    """Peak RSS of one training step over the RSS before the model existed (this process)."""
    from octavius.config import load_config
    from octavius.registry import MODELS

    torch.manual_seed(0)
    cfg = load_config(str(config))
    samples = [
        {"sample_id": str(i), "task_type": "vqa", "task_definition": "answer"}
        for i in range(micro_batch)
    ]
    # A first build imports the model code and fills the libraries' caches; what the model
    # itself holds is what a second build adds.
    warm = MODELS.build(cfg.model)
    _step(
        warm,
        torch.optim.AdamW([p for p in warm.parameters() if p.requires_grad]),
        make_batch(warm, 1, seq_len),
        samples[:1],
    )
    del warm
    release_free_memory()
    before = read_status_mb()["VmRSS"]
    model = MODELS.build(cfg.model)
    model.train()
    batch = make_batch(model, micro_batch, seq_len)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    for _ in range(WARMUP_STEPS):
        _step(model, optimizer, batch, samples)
    release_free_memory()
    resident = read_status_mb()["VmRSS"]
    reset_peak_rss()
    _step(model, optimizer, batch, samples)
    peak = read_status_mb()["VmHWM"]
    return {
        "measured_mib": peak - before,
        "resident_between_steps_mib": resident - before,
        "baseline_rss_mib": before,
    }


def measure_in_subprocess(
    config: str | os.PathLike, micro_batch: int, seq_len: int, env: dict[str, str] | None = None
) -> dict[str, float]:
    """:func:`measure_peak` in a fresh process with the allocator set as the benchmark sets it."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="octavius-measure-") as tmp:
        out = Path(tmp) / "peak.json"
        argv = [
            sys.executable,
            "-m",
            "octavius.estimate.measure",
            str(config),
            "--micro-batch",
            str(micro_batch),
            "--seq-len",
            str(seq_len),
            "--json",
            str(out),
        ]
        full_env = {**os.environ, **WORKER_ENV, **(env or {})}
        done = subprocess.run(argv, env=full_env, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not out.exists():
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise RuntimeError(f"measurement of {config} failed ({done.returncode}): {tail}")
        return json.loads(out.read_text())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m octavius.estimate.measure")
    parser.add_argument("config")
    parser.add_argument("--micro-batch", type=int, required=True)
    parser.add_argument("--seq-len", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = measure_peak(args.config, args.micro_batch, args.seq_len)
    Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
