"""Benchmarks of the adapter layer: step time, peak memory and trainable parameters.

``tools/benchmark.py adapters`` runs :func:`run_adapters_benchmark` over the variants in
:data:`VARIANTS` (peft LoRA baselines, Octavius / LLaVA-MoLE / MixLoRA adapters, peft X-LoRA) on
one LLaMA model and compares them with the peft LoRA baselines (:data:`TARGETS`).
"""

from octavius.benchmark.adapters import run_adapters_benchmark
from octavius.benchmark.memory import run_memory_worker
from octavius.benchmark.model import (
    PreparedVariant,
    StepBatch,
    build_base_model,
    clone_with_shared_weights,
    make_batch,
    train_step,
)
from octavius.benchmark.options import FULL_SETUP, QUICK_SETUP, BenchmarkOptions, ModelSetup
from octavius.benchmark.targets import TARGETS, Target, compute_ratios, markdown_tables
from octavius.benchmark.variants import (
    DECODER_LINEARS,
    VARIANT_NAMES,
    VARIANTS,
    Variant,
    VariantUnavailableError,
    build_variant,
    select_variants,
)

__all__ = [
    "DECODER_LINEARS",
    "FULL_SETUP",
    "QUICK_SETUP",
    "TARGETS",
    "VARIANTS",
    "VARIANT_NAMES",
    "BenchmarkOptions",
    "ModelSetup",
    "PreparedVariant",
    "StepBatch",
    "Target",
    "Variant",
    "VariantUnavailableError",
    "build_base_model",
    "build_variant",
    "clone_with_shared_weights",
    "compute_ratios",
    "make_batch",
    "markdown_tables",
    "run_adapters_benchmark",
    "run_memory_worker",
    "select_variants",
    "train_step",
]
