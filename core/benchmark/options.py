"""What the adapter benchmark measures: the model, the batch and the run's settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True)
class ModelSetup:
    """The LLaMA model and the batch every variant is timed on.

    Args:
        hidden_size: d, the hidden size.
        num_layers: decoder layers.
        num_heads: attention heads (as many key/value heads, no grouped-query attention).
        intermediate_size: the MLP's inner size.
        vocab_size: vocabulary size (the LM head dominates the logits' memory).
        seq_len: tokens per sample.
        batch_size: samples per step.
    """

    hidden_size: int = 1024
    num_layers: int = 4
    num_heads: int = 16
    intermediate_size: int = 2816
    vocab_size: int = 32000
    seq_len: int = 512
    batch_size: int = 2

    def __post_init__(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"Benchmark model setting '{name}' must be an integer ≥ 1, got {value!r}."
                )
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"Benchmark model: hidden_size ({self.hidden_size}) must be divisible by "
                f"num_heads ({self.num_heads}); change --hidden-size or --heads."
            )
        if self.seq_len < 2:
            raise ValueError(
                "Benchmark model: seq_len must be ≥ 2 (the question mask is the first half)."
            )


#: The model of the published numbers (LLaMA architecture, 4 layers of a 1024-wide model).
FULL_SETUP = ModelSetup()
#: ``--quick``: small enough to finish the whole benchmark in under a minute.
QUICK_SETUP = ModelSetup(
    hidden_size=256,
    num_layers=2,
    num_heads=4,
    intermediate_size=704,
    vocab_size=8000,
    seq_len=128,
    batch_size=2,
)

#: Command-line flag of every :class:`ModelSetup` field (the worker processes get them back).
MODEL_FLAGS: dict[str, str] = {
    "hidden_size": "--hidden-size",
    "num_layers": "--layers",
    "num_heads": "--heads",
    "intermediate_size": "--intermediate-size",
    "vocab_size": "--vocab-size",
    "seq_len": "--seq-len",
    "batch_size": "--batch-size",
}


@dataclass
class BenchmarkOptions:
    """Settings of one ``tools/benchmark.py adapters`` run.

    Args:
        model: the model and batch.
        variants: names of the variants to run, in order.
        steps: measured steps per variant (the median is reported).
        warmup: unmeasured steps per variant before the measured ones.
        threads: torch intra-op threads; ``None`` keeps torch's default (all available cores).
        memory: measure peak memory (one worker process per variant).
        memory_jobs: worker processes run at once (each has its own peak; only the wall time
            of the memory phase changes).
        seed: seed of the model weights and the batch.
        quick: whether the run is a ``--quick`` run (recorded in the setup).
        json_path: where to write the JSON result, if anywhere.
        markdown_path: where to write the result as a Markdown table, if anywhere.
    """

    model: ModelSetup = field(default_factory=ModelSetup)
    variants: tuple[str, ...] = ()
    steps: int = 10
    warmup: int = 2
    threads: int | None = None
    memory: bool = True
    memory_jobs: int = 1
    seed: int = 0
    quick: bool = False
    json_path: Path | None = None
    markdown_path: Path | None = None

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"Benchmark --steps must be ≥ 1, got {self.steps}.")
        if self.warmup < 0:
            raise ValueError(f"Benchmark --warmup must be ≥ 0, got {self.warmup}.")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"Benchmark --threads must be ≥ 1, got {self.threads}.")
        if self.memory_jobs < 1:
            raise ValueError(f"Benchmark --memory-jobs must be ≥ 1, got {self.memory_jobs}.")

    @property
    def resolved_threads(self) -> int:
        """The torch thread count the run uses."""
        return self.threads if self.threads is not None else torch.get_num_threads()

    def worker_argv(self) -> list[str]:
        """The flags that rebuild the same model, batch and threads in a worker process."""
        argv: list[str] = []
        for name, flag in MODEL_FLAGS.items():
            argv += [flag, str(getattr(self.model, name))]
        argv += ["--seed", str(self.seed), "--threads", str(self.resolved_threads)]
        return argv

    def describe(self) -> dict[str, Any]:
        """The run settings as plain JSON values."""
        return {
            "steps": self.steps,
            "warmup": self.warmup,
            "seed": self.seed,
            "quick": self.quick,
            "memory_jobs": self.memory_jobs,
        }
