"""The inference benchmark: prefill time and decode throughput of the adapter variants.

``tools/benchmark.py inference`` builds the adapter benchmark's LLaMA once, adapts shared-weight
copies of it (:mod:`octavius.benchmark.variants`), and times, in one process and in interleaved
rounds (the order reversed every other round), each variant's ``generate`` of a fixed number of
new tokens (greedy, EOS disabled). A logits processor stamps the clocks each time a token's
logits are ready: prefill is the time from the ``generate`` call to the first token's logits (the
prompt forward plus ``generate``'s setup), decode the time from the first to the last token's
logits — exactly ``new_tokens − 1`` one-token forwards with the key/value cache, with no
subtraction of two noisy totals. Wall time and process CPU time are both recorded; the targets
use process CPU time, which other processes on a shared machine disturb less, and are reported
both as the ratio of the medians and as the spread of the same ratio taken round by round.

Instance routing follows the inference path: decided once from the prompt
(:func:`octavius.inference.routing_plan.decide_from_context`), held for every step; the merged
variant merges the batch's shared routing before the timed call and unmerges after (while
merged, the model runs its plain base linears: :func:`~octavius.inference.routing_plan.
merged_for_batch`). The mixed case gives each of 8 samples its own pinned routing (one unmerged
pass) and compares it with peft's mixed-adapter batch (``adapter_names=``) over 4 LoRA adapters.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import LogitsProcessor, LogitsProcessorList

from octavius.adapters.context import RoutingContext, current_routing_context, use_routing_context
from octavius.benchmark.model import build_base_model, clone_with_shared_weights, describe_model
from octavius.benchmark.options import QUICK_SETUP, ModelSetup
from octavius.benchmark.variants import DECODER_LINEARS, build_variant
from octavius.inference.pinning import PinnedRouting, pin_routers
from octavius.inference.routing_plan import decide_from_context, merged_for_batch, shared_decisions

MOE = "moe_instance_e4_top2_r16"
#: (name, adapter-benchmark variant it adapts with, merged).
SINGLE = (
    ("frozen_base", "frozen_base", False),
    ("peft_lora_r32", "peft_lora_r32", False),
    (MOE, MOE, False),
    (f"{MOE}_merged", MOE, True),
    ("moe_token_e4_top1_r32", "moe_token_e4_top1_r32", False),
    ("mixlora_e16_r4", "mixlora_e16_r4", False),
)
MIXED = ("moe_instance_8_routings", "peft_mixed_4_loras")
#: Eight different instance routings (top-2 of 4 experts, weights summing to one).
ROUTINGS = [
    PinnedRouting(pair, weights)
    for pair, weights in [
        ((0, 1), (0.5, 0.5)),
        ((0, 2), (0.5, 0.5)),
        ((0, 3), (0.5, 0.5)),
        ((1, 2), (0.5, 0.5)),
        ((1, 3), (0.5, 0.5)),
        ((2, 3), (0.5, 0.5)),
        ((0, 1), (0.8, 0.2)),
        ((2, 3), (0.8, 0.2)),
    ]
]
TARGETS = (
    (f"{MOE}_merged", "frozen_base", 0.98),
    (MOE, "peft_lora_r32", 0.95),
    (MIXED[0], MIXED[1], 1.0),
)


@dataclass(frozen=True)
class InferenceSetup:
    """Sizes of the inference benchmark: the model, the prompt, the answer, the batches."""

    model: ModelSetup = dataclasses.field(default_factory=ModelSetup)
    prompt_len: int = 256
    new_tokens: int = 64
    batch_sizes: tuple[int, ...] = (1, 8)
    rounds: int = 3
    warmup: int = 1


FULL = InferenceSetup()
QUICK = InferenceSetup(model=QUICK_SETUP, prompt_len=64, new_tokens=16, rounds=2, warmup=1)


@dataclass
class Case:
    """One timed configuration: a model, its batch, and how to call it."""

    name: str
    batch: int
    model: nn.Module
    embeds: torch.Tensor
    mask: torch.Tensor
    scope: Callable[[], contextlib.AbstractContextManager[Any]]
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _routing_scope(
    llm: nn.Module,
    embeds: torch.Tensor,
    mask: torch.Tensor,
    merge: bool,
    pins: list[PinnedRouting] | None = None,
) -> Callable[[], Any]:
    question = torch.zeros_like(mask, dtype=torch.bool)
    question[:, : mask.shape[1] // 2] = True

    @contextlib.contextmanager
    def scope() -> Iterator[None]:
        ctx = RoutingContext(attention_mask=mask, question_mask=question, inputs_embeds=embeds)
        with pin_routers(llm, pins), torch.no_grad():
            decide_from_context(llm, ctx)
            with use_routing_context(ctx):
                yield

    if not merge:
        return scope

    @contextlib.contextmanager
    def merged() -> Iterator[None]:
        with scope():
            ctx = current_routing_context()
            # The batch shares the routing the gate picks for its first sample.
            for key, d in list(ctx.decisions.items()):
                rows = d.indices.shape[0]
                ctx.decisions[key] = dataclasses.replace(
                    d,
                    indices=d.indices[:1].expand(rows, -1),
                    weights=d.weights[:1].expand(rows, -1),
                    probs=None,
                )
            plan = shared_decisions(llm, ctx)
            if plan is None:
                raise RuntimeError(f"{MOE}: the batch does not share one routing; cannot merge.")
            with merged_for_batch(llm, plan):
                yield

    return merged


class StepClock(LogitsProcessor):
    """Stamps wall and process CPU time each time ``generate`` has a token's logits."""

    def __init__(self) -> None:
        self.stamps: list[tuple[float, float]] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.stamps.append(_clock())
        return scores


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """No garbage collection inside a timed call (the merged case's setup allocates a lot)."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _time(case: Case, new_tokens: int) -> dict[str, float]:
    clock = StepClock()
    with case.scope(), torch.no_grad(), _no_gc():
        t0 = _clock()
        case.model.generate(
            inputs_embeds=case.embeds,
            attention_mask=case.mask,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            use_cache=True,
            pad_token_id=0,
            logits_processor=LogitsProcessorList([clock]),
            **case.extra,
        )
    if len(clock.stamps) != new_tokens:
        raise RuntimeError(
            f"{case.name}: generate produced {len(clock.stamps)} tokens, expected {new_tokens}."
        )
    first, last = clock.stamps[0], clock.stamps[-1]
    prefill = [first[i] - t0[i] for i in range(2)]
    decode = [max(last[i] - first[i], 1e-9) for i in range(2)]
    return {
        "prefill_ms_wall": 1000 * prefill[0],
        "prefill_ms_cpu": 1000 * prefill[1],
        "decode_tok_s_wall": case.batch * (new_tokens - 1) / decode[0],
        "decode_tok_s_cpu": case.batch * (new_tokens - 1) / decode[1],
    }


def _peft_mixed(base: nn.Module) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=32, lora_alpha=64, lora_dropout=0.0, target_modules=list(DECODER_LINEARS))
    model = get_peft_model(clone_with_shared_weights(base), config, adapter_name="a0")
    for i in range(1, 4):
        model.add_adapter(f"a{i}", config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.01)
    return model.eval()


def build_cases(setup: InferenceSetup, seed: int = 0) -> tuple[list[Case], nn.Module]:
    """Every timed case of the run, and the base model."""
    base = build_base_model(setup.model, seed).eval()
    base.config.use_cache = True
    generator = torch.Generator().manual_seed(seed)
    models: dict[str, nn.Module] = {}
    cases: list[Case] = []
    for batch in setup.batch_sizes:
        ids = torch.randint(
            0, setup.model.vocab_size, (batch, setup.prompt_len), generator=generator
        )
        embeds = base.get_input_embeddings()(ids).detach()
        mask = torch.ones_like(ids)
        for name, variant, merge in SINGLE:
            if variant not in models:
                models[variant] = build_variant(
                    variant, clone_with_shared_weights(base), setup.model
                ).model.eval()
            model = models[variant]
            llm = model
            cases.append(
                Case(name, batch, model, embeds, mask, _routing_scope(llm, embeds, mask, merge))
            )
    ids = torch.randint(
        0, setup.model.vocab_size, (len(ROUTINGS), setup.prompt_len), generator=generator
    )
    embeds = base.get_input_embeddings()(ids).detach()
    mask = torch.ones_like(ids)
    moe = models[MOE]
    cases.append(
        Case(
            MIXED[0],
            len(ROUTINGS),
            moe,
            embeds,
            mask,
            _routing_scope(moe, embeds, mask, False, list(ROUTINGS)),
        )
    )
    peft_model = _peft_mixed(base)
    names = [f"a{i % 4}" for i in range(len(ROUTINGS))]
    cases.append(
        Case(
            MIXED[1],
            len(ROUTINGS),
            peft_model,
            embeds,
            mask,
            contextlib.nullcontext,
            extra={"adapter_names": names},
        )
    )
    return cases, base


def run_inference_benchmark(
    setup: InferenceSetup, seed: int = 0, on_step: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Time every case in interleaved rounds; medians, ratios and targets."""
    torch.manual_seed(seed)
    cases, base = build_cases(setup, seed)
    samples: dict[str, list[dict[str, float]]] = {f"{c.name}@b{c.batch}": [] for c in cases}
    for round_index in range(setup.warmup + setup.rounds):
        # Reversing the order every other round spreads slow and quick moments evenly.
        for case in cases if round_index % 2 == 0 else cases[::-1]:
            key = f"{case.name}@b{case.batch}"
            if on_step is not None:
                on_step(f"round {round_index + 1}/{setup.warmup + setup.rounds} {key}")
            measured = _time(case, setup.new_tokens)
            if round_index >= setup.warmup:
                samples[key].append(measured)
    results = {
        key: {
            **{m: statistics.median(s[m] for s in runs) for m in runs[0]},
            "samples": runs,
        }
        for key, runs in samples.items()
    }
    return {
        "setup": {
            **dataclasses.asdict(setup),
            "model": describe_model(base),
            "torch_threads": torch.get_num_threads(),
            "prefill": "generate call → first token's logits (prompt forward + generate setup)",
            "decode": "first → last token's logits of a greedy generate of new_tokens (EOS disabled); tok/s = batch·(new_tokens−1)/time",
            "targets_use": "process CPU time (decode_tok_s_cpu)",
        },
        "results": results,
        "targets": targets(results, setup.batch_sizes),
    }


def _spread(values: list[float]) -> dict[str, float]:
    quartiles = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else []
    return {
        "median": statistics.median(values),
        "q1": quartiles[0] if quartiles else values[0],
        "q3": quartiles[2] if quartiles else values[0],
        "min": min(values),
        "max": max(values),
    }


def targets(
    results: dict[str, dict[str, Any]], batch_sizes: tuple[int, ...]
) -> list[dict[str, Any]]:
    """The targets as decode-throughput ratios (CPU time decides; wall time alongside).

    ``ratio_cpu`` is the ratio of the two medians; ``rounds_cpu`` the spread (median, quartiles,
    range) of the ratio taken within each round, where both cases ran moments apart.
    """
    out = []
    for name, ref, limit in TARGETS:
        batches = [len(ROUTINGS)] if name == MIXED[0] else list(batch_sizes)
        for b in batches:
            a, r = results.get(f"{name}@b{b}"), results.get(f"{ref}@b{b}")
            if a is None or r is None:
                continue
            ratio = a["decode_tok_s_cpu"] / r["decode_tok_s_cpu"]
            per_round = [
                x["decode_tok_s_cpu"] / y["decode_tok_s_cpu"]
                for x, y in zip(a["samples"], r["samples"])
            ]
            out.append(
                {
                    "target": f"{name} decode ≥ {limit:.2f} × {ref} (batch {b})",
                    "ratio_cpu": ratio,
                    "ratio_wall": a["decode_tok_s_wall"] / r["decode_tok_s_wall"],
                    "rounds_cpu": _spread(per_round),
                    "met": ratio >= limit,
                }
            )
    return out
