"""The layer benchmark: the adapters' cost where it lives, in one decoder layer's linears.

At the whole-model scale the adapters are a few percent of a step, less than the run-to-run
noise of a shared machine. Here one layer is timed alone: an attention set q/k/v/o (q, k and v
read the same input, as in attention; ``o_proj`` reads their sum, so the attention product
itself — the same for every variant — is left out) and one LLaMA MLP block
(``down(silu(gate(h)) · up(h))``) with the variant's router, forward and backward, with the
layer input requiring grad as inside a model. Every variant adapts a copy sharing one set of
frozen base weights, with the same rules as in the whole-model benchmark
(:mod:`octavius.benchmark.variants`); the peft baselines are peft's own LoRA layers injected with
``peft.inject_adapter_in_model``.

Timing is process CPU time (``time.process_time``), on one torch thread by default, so time the
process spends descheduled by others' work is not counted. The variants are interleaved in
rounds (the order rotates every round so no variant always follows the same one), each
measurement is the mean of ``reps`` steps, and each variant is compared with its reference
*within a round*; the median over rounds is reported with a 95 % confidence interval of that
median (the boxplot notch, ``± 1.57 · IQR / √rounds``).
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaMLP

from octavius.adapters.context import RoutingContext, use_routing_context
from octavius.benchmark.model import PreparedVariant, clone_with_shared_weights
from octavius.benchmark.targets import BASELINE, EQUAL_RANK_REFERENCE, OVERHEAD_TARGETS
from octavius.benchmark.variants import (
    DECODER_LINEARS,
    VARIANT_NAMES,
    VARIANTS,
    select_variants,
)

#: The variants the layer benchmark runs (every one that does not need a whole causal LM).
LAYER_VARIANTS: tuple[str, ...] = tuple(
    n for n in VARIANT_NAMES if not VARIANTS[n].whole_model_only
)


@dataclass(frozen=True)
class LayerSetup:
    """The layer and the timing plan.

    Args:
        hidden_size: d.
        intermediate_size: the MLP's inner size.
        batch_size: samples per step.
        seq_len: tokens per sample.
        rounds: measured rounds (each measures every variant once).
        warmup: unmeasured rounds first.
        reps: steps per measurement (their mean is one sample).
    """

    hidden_size: int = 1024
    intermediate_size: int = 2816
    batch_size: int = 2
    seq_len: int = 256
    rounds: int = 25
    warmup: int = 3
    reps: int = 2

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or value < (0 if name == "warmup" else 1):
                raise ValueError(f"Layer benchmark setting '{name}' must be a positive integer.")
        if self.seq_len < 2:
            raise ValueError("Layer benchmark: seq_len must be ≥ 2 (the question mask is half).")


#: The adapter benchmark's layer size (hidden 1024, MLP 2816), 2 × 256 tokens.
FULL_LAYERS = LayerSetup()
#: ``--quick``: a 256-wide layer, fewer rounds; well under a minute.
QUICK_LAYERS = LayerSetup(
    hidden_size=256, intermediate_size=704, seq_len=128, rounds=15, warmup=2, reps=4
)


class _Attention(nn.Module):
    """q/k/v/o of one attention layer; the attention product itself is left out (see above)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.o_proj(self.q_proj(x) + self.k_proj(x) + self.v_proj(x))


class _Layer(nn.Module):
    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.self_attn = _Attention(config.hidden_size)
        self.mlp = LlamaMLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x + self.self_attn(x)
        return h + self.mlp(h)


class LayerModel(nn.Module):
    """One decoder layer's linears named as in a LLaMA model (``layers.0.self_attn.q_proj`` …),
    so every variant's injection rules match them as they match the whole model's."""

    def __init__(self, setup: LayerSetup) -> None:
        super().__init__()
        self.config = LlamaConfig(
            hidden_size=setup.hidden_size,
            intermediate_size=setup.intermediate_size,
            num_hidden_layers=1,
            num_attention_heads=1,
        )
        self.layers = nn.ModuleList([_Layer(self.config)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[0](x)


def build_layer_model(setup: LayerSetup, seed: int = 0) -> LayerModel:
    """The fp32 layer every variant adapts a copy of, in training mode."""
    torch.manual_seed(seed)
    return LayerModel(setup).to(torch.float32).train()


def _peft_layers(name: str, model: nn.Module, rank: int) -> PreparedVariant:
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(
        r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=list(DECODER_LINEARS)
    )
    model = inject_adapter_in_model(config, model)
    for pname, param in model.named_parameters():
        param.requires_grad_("lora_" in pname)
    return PreparedVariant.from_model(name, model)


def build_layer_variant(name: str, model: nn.Module) -> PreparedVariant:
    """Adapt ``model`` (a copy of the layer) as variant ``name`` — the whole-model rules."""
    variant = VARIANTS[name]
    if variant.whole_model_only:
        raise ValueError(f"Variant '{name}' needs a whole causal LM; the layer benchmark skips it.")
    if variant.peft_rank is not None:
        return _peft_layers(name, model, variant.peft_rank)
    return variant.build(model, None)  # type: ignore[arg-type]  # the rules ignore the setup


@dataclass
class LayerBatch:
    """The layer input ``(b, n, d)`` (requires grad), the output gradient and the masks."""

    x: torch.Tensor
    grad: torch.Tensor
    attention_mask: torch.Tensor
    question_mask: torch.Tensor


def make_layer_batch(setup: LayerSetup, seed: int = 0) -> LayerBatch:
    generator = torch.Generator().manual_seed(seed)
    shape = (setup.batch_size, setup.seq_len, setup.hidden_size)
    x = torch.randn(shape, generator=generator).requires_grad_(True)
    grad = torch.randn(shape, generator=generator)
    question = torch.zeros(shape[:2], dtype=torch.bool)
    question[:, : setup.seq_len // 2] = True
    return LayerBatch(x, grad, torch.ones(shape[:2], dtype=torch.long), question)


def layer_step(variant: PreparedVariant, batch: LayerBatch) -> float:
    """One forward + backward of the layer in process-CPU milliseconds; gradients cleared after."""
    model = variant.model
    start = time.process_time()
    ctx = RoutingContext(
        attention_mask=batch.attention_mask,
        question_mask=batch.question_mask,
        inputs_embeds=batch.x,
    )
    with use_routing_context(ctx):
        model(batch.x).backward(batch.grad)
    elapsed = time.process_time() - start
    model.zero_grad(set_to_none=True)
    batch.x.grad = None
    return 1000.0 * elapsed


def time_layers(
    setup: LayerSetup,
    prepared: dict[str, PreparedVariant],
    batch: LayerBatch,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, list[float]]:
    """Interleaved rounds; the measured per-step milliseconds (one sample per round) by variant."""
    names = list(prepared)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(setup.warmup + setup.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            if on_step is not None:
                phase = "warm-up" if round_index < setup.warmup else "timing"
                on_step(f"{phase} {round_index + 1}/{setup.warmup + setup.rounds} {name}")
            times = [layer_step(prepared[name], batch) for _ in range(setup.reps)]
            if round_index >= setup.warmup:
                samples[name].append(statistics.fmean(times))
    return samples


def median_with_ci(values: Sequence[float]) -> dict[str, float]:
    """Median and the half-width of its 95 % confidence interval (``1.57 · IQR / √n``)."""
    median = statistics.median(values)
    if len(values) < 4:
        return {"median": median, "ci95": float("nan")}
    q1, _, q3 = statistics.quantiles(values, n=4)
    return {"median": median, "ci95": 1.57 * (q3 - q1) / len(values) ** 0.5}


def summarise(samples: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    """Per variant: median ms, paired time and overhead ratios against peft of equal rank."""
    out: dict[str, dict[str, Any]] = {}
    base = samples.get(BASELINE)
    for name, times in samples.items():
        entry: dict[str, Any] = {
            "step_ms": statistics.median(times),
            "step_ms_samples": [round(t, 3) for t in times],
        }
        ref = EQUAL_RANK_REFERENCE.get(name)
        if ref in samples:
            entry["reference"] = ref
            ratios = [v / r for v, r in zip(times, samples[ref])]
            entry["time_ratio"] = median_with_ci(ratios)
            if base is not None:
                over = [(v - f) / (r - f) for v, r, f in zip(times, samples[ref], base) if r > f]
                entry["overhead_ms"] = statistics.median(v - f for v, f in zip(times, base))
                entry["overhead_ratio"] = median_with_ci(over) if over else None
        if base is not None and name != BASELINE:
            entry["time_vs_frozen"] = statistics.median(v / f for v, f in zip(times, base))
        out[name] = entry
    return out


def overhead_targets(summary: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The overhead targets with the layer-level ratios."""
    rows = []
    for target in OVERHEAD_TARGETS:
        stats = summary.get(target.variant, {}).get("overhead_ratio")
        ratio = None if stats is None else stats["median"]
        rows.append(
            {
                "target": target.label,
                "variant": target.variant,
                "reference": target.reference,
                "limit": target.limit,
                "ratio": ratio,
                "ci95": None if stats is None else stats["ci95"],
                "met": None if ratio is None else ratio <= target.limit,
            }
        )
    return rows


def run_layers_benchmark(
    setup: LayerSetup,
    variants: Sequence[str] | None = None,
    seed: int = 0,
    threads: int = 1,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build the layer, adapt one copy per variant, time them interleaved; the JSON result."""
    names = select_variants(variants) if variants else LAYER_VARIANTS
    skipped = [n for n in names if VARIANTS[n].whole_model_only]
    names = tuple(n for n in names if n not in skipped)
    torch.set_num_threads(threads)
    base = build_layer_model(setup, seed)
    prepared = {n: build_layer_variant(n, clone_with_shared_weights(base)) for n in names}
    batch = make_layer_batch(setup, seed)
    samples = time_layers(setup, prepared, batch, on_step)
    summary = summarise(samples)
    for name, entry in summary.items():
        entry["trainable_params"] = prepared[name].trainable_params
    return {
        "variants": summary,
        "overhead_targets": overhead_targets(summary),
        "skipped": {n: "needs a whole causal LM" for n in skipped},
        "setup": {
            **asdict(setup),
            "seed": seed,
            "torch_threads": torch.get_num_threads(),
            "layer": (
                "q/k/v/o (q, k, v on the same input; o on their sum) + LLaMA MLP "
                "down(silu(gate(h))·up(h)), residuals; input requires grad; fp32 CPU"
            ),
            "timing": (
                "process CPU time per forward+backward, mean of reps per sample, variants "
                "interleaved in rotating order, warm-up rounds dropped; ratios paired per round"
            ),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "loadavg": list(os.getloadavg()),
            "versions": {"python": platform.python_version(), "torch": torch.__version__},
        },
    }
