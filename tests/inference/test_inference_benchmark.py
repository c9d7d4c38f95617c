"""The inference benchmark on a very small LLaMA: every case runs, ratios come from the medians."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from octavius.benchmark.inference import MIXED, QUICK, SINGLE, run_inference_benchmark
from octavius.benchmark.inference_report import inference_markdown
from octavius.benchmark.options import ModelSetup

TINY = dataclasses.replace(
    QUICK,
    model=ModelSetup(
        hidden_size=32,
        num_layers=1,
        num_heads=2,
        intermediate_size=64,
        vocab_size=256,
        seq_len=8,
        batch_size=1,
    ),
    prompt_len=8,
    new_tokens=3,
    rounds=2,
    warmup=0,
    batch_sizes=(1, 2),
)


def test_every_case_is_timed_and_targets_are_ratios_of_medians():
    result = run_inference_benchmark(TINY)
    expected = {f"{n}@b{b}" for n, _, _ in SINGLE for b in (1, 2)} | {f"{m}@b8" for m in MIXED}
    assert set(result["results"]) == expected
    for r in result["results"].values():
        assert len(r["samples"]) == 2
        assert r["decode_tok_s_cpu"] > 0 and r["prefill_ms_wall"] > 0
        assert r["decode_tok_s_cpu"] == pytest.approx(
            sorted(s["decode_tok_s_cpu"] for s in r["samples"])[0] / 2
            + sorted(s["decode_tok_s_cpu"] for s in r["samples"])[1] / 2
        )
    by_name = {t["target"]: t for t in result["targets"]}
    merged = by_name["moe_instance_e4_top2_r16_merged decode ≥ 0.98 × frozen_base (batch 1)"]
    res = result["results"]
    ratio = (
        res["moe_instance_e4_top2_r16_merged@b1"]["decode_tok_s_cpu"]
        / res["frozen_base@b1"]["decode_tok_s_cpu"]
    )
    assert merged["ratio_cpu"] == pytest.approx(ratio) and merged["met"] == (ratio >= 0.98)
    per_round = [
        a["decode_tok_s_cpu"] / b["decode_tok_s_cpu"]
        for a, b in zip(
            res["moe_instance_e4_top2_r16_merged@b1"]["samples"], res["frozen_base@b1"]["samples"]
        )
    ]
    spread = merged["rounds_cpu"]
    assert (spread["min"], spread["max"]) == (min(per_round), max(per_round))
    assert spread["median"] == pytest.approx(sum(per_round) / 2)
    assert len(result["targets"]) == 5
    assert "| frozen_base | 1 |" in inference_markdown(result)


def test_the_routed_cases_really_route_differently():
    from octavius.benchmark.inference import ROUTINGS, build_cases

    cases, _ = build_cases(TINY)
    mixed = next(c for c in cases if c.name == MIXED[0])
    from octavius.adapters.context import current_routing_context

    with mixed.scope():
        ctx = current_routing_context()
        decision = next(iter(ctx.decisions.values()))
    pairs = {
        (tuple(i.tolist()), tuple(w.tolist())) for i, w in zip(decision.indices, decision.weights)
    }
    assert len(pairs) == len(ROUTINGS) == mixed.batch == 8
    merged = next(c for c in cases if c.name.endswith("_merged") and c.batch == 2)
    before = [p.detach().clone() for p in merged.model.parameters()]
    frozen = next(c for c in cases if c.name == "frozen_base" and c.batch == 2)
    plain = [(n, type(m)) for n, m in frozen.model.named_modules()]
    with merged.scope():
        # Merged, the adapted model decodes through exactly the modules of the plain model.
        assert [(n, type(m)) for n, m in merged.model.named_modules() if "router" not in n] == plain
    assert all(torch.equal(a, b) for a, b in zip(before, merged.model.parameters()))
