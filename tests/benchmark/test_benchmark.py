"""tools/benchmark.py adapters: quick runs on a tiny model, JSON schema, parameter counts, skips."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import statistics
from pathlib import Path

import pytest

from octavius.benchmark import TARGETS, VARIANT_NAMES, VARIANTS, BenchmarkOptions, ModelSetup

TOOL = Path(__file__).resolve().parents[2] / "tools" / "benchmark.py"
D, FFN, VOCAB = 64, 128, 256
TINY = [
    "--quick",
    *("--hidden-size", str(D), "--layers", "1", "--heads", "4"),
    *("--intermediate-size", str(FFN), "--vocab-size", str(VOCAB), "--seq-len", "32"),
    *("--steps", "2", "--warmup", "1", "--threads", "1"),
]
EXPECTED_NAMES = [
    "frozen_base",
    "peft_lora_r32",
    "peft_lora_r4",
    "moe_instance_e4_top2_r16",
    "moe_token_e4_top1_r32",
    "moe_dense_e4_r32",
    "mixlora_e16_r4",
    "peft_xlora_e4_r32",
]


def lora_params(rank: int, experts: int = 1) -> int:
    """LoRA parameters on q/k/v/o (d→d) and gate/up (d→f), down (f→d) of the one tiny layer."""
    attention = 4 * rank * (D + D)
    mlp = 3 * rank * (D + FFN)
    return experts * (attention + mlp)


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("octavius_benchmark_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def all_variants(tool, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "adapters.json"
    md = out.with_suffix(".md")
    result = tool.main(
        ["adapters", *TINY, "--no-memory", "--json", str(out), "--markdown", str(md)]
    )
    return result, json.loads(out.read_text()), md.read_text()


def test_variant_names_are_exact():
    assert list(VARIANT_NAMES) == EXPECTED_NAMES


def test_quick_run_writes_every_variant(all_variants):
    result, data, _ = all_variants
    assert set(data) == {"variants", "setup", "ratios"}
    assert list(data["variants"]) == EXPECTED_NAMES
    assert data == json.loads(json.dumps(result))
    for name, entry in data["variants"].items():
        assert not entry.get("skipped"), (name, entry.get("reason"))
        assert isinstance(entry["step_ms"], float) and entry["step_ms"] > 0, name
        assert isinstance(entry["trainable_params"], int), name
        assert entry["peak_mem_mb"] is None  # --no-memory
        assert len(entry["step_ms_samples"]) == 2


def test_setup_records_model_and_method(all_variants):
    setup = all_variants[1]["setup"]
    assert setup["model"] == {
        "architecture": "LlamaForCausalLM",
        "hidden_size": D,
        "num_layers": 1,
        "num_heads": 4,
        "num_kv_heads": 4,
        "intermediate_size": FFN,
        "vocab_size": VOCAB,
        "tie_word_embeddings": False,
        "attn_implementation": setup["model"]["attn_implementation"],
        "total_params": 2 * VOCAB * D + 4 * D * D + 3 * D * FFN + 3 * D,
    }
    assert (setup["seq_len"], setup["batch_size"], setup["dtype"]) == (32, 2, "float32")
    assert setup["torch_threads"] == 1
    assert (setup["steps"], setup["warmup"], setup["quick"]) == (2, 1, True)
    assert "no optimizer step" in setup["step"]
    assert "inputs_embeds" in setup["frozen_base"]
    assert setup["command"].startswith("python tools/benchmark.py adapters --quick")


def test_trainable_params_match_hand_counts(all_variants):
    variants = all_variants[1]["variants"]
    assert variants["frozen_base"]["trainable_params"] == 0
    assert variants["peft_lora_r4"]["trainable_params"] == lora_params(4) == 4_352
    assert variants["peft_lora_r32"]["trainable_params"] == lora_params(32)
    # 4 experts of rank 16 on the 7 linears + one global gate W ∈ R^{e×d}, no bias.
    expected_instance = lora_params(16, experts=4) + 4 * D
    assert variants["moe_instance_e4_top2_r16"]["trainable_params"] == expected_instance == 69_888
    # Dense: 4 experts of rank 32 + the global gate.
    assert variants["moe_dense_e4_r32"]["trainable_params"] == lora_params(32, 4) + 4 * D
    # Token MoE on the MLP (one gate per block, reading d) + one r32 LoRA on q/k/v/o.
    token = 4 * 32 * 3 * (D + FFN) + 4 * D + 4 * 32 * 2 * D
    assert variants["moe_token_e4_top1_r32"]["trainable_params"] == token
    # X-LoRA: 4 trainable r32 adapters + a depth-1 classifier d→4 with bias.
    assert variants["peft_xlora_e4_r32"]["trainable_params"] == lora_params(32, 4) + 4 * D + 4
    assert variants["moe_instance_e4_top2_r16"]["adapted_linears"] == 7
    assert variants["moe_token_e4_top1_r32"]["adapted_per_rule"] == {"mlp": 3, "attention": 4}


def test_ratios_and_targets(all_variants):
    data = all_variants[1]
    variants, ratios = data["variants"], data["ratios"]
    assert set(ratios) == {
        "vs_peft_lora_r32",
        "vs_peft_lora_r4",
        "targets",
        "overhead_vs_equal_rank_peft",
        "overhead_targets",
    }
    for ref in ("peft_lora_r32", "peft_lora_r4"):
        table = ratios[f"vs_{ref}"]
        assert list(table) == EXPECTED_NAMES
        assert table[ref]["step_ms"] == pytest.approx(1.0)
        want = variants["mixlora_e16_r4"]["step_ms"] / variants[ref]["step_ms"]
        assert table["mixlora_e16_r4"]["step_ms"] == pytest.approx(want)
        assert table[ref]["peak_mem_mb"] is None
    targets = ratios["targets"]
    assert [(t["variant"], t["metric"], t["reference"], t["limit"]) for t in targets] == [
        ("moe_instance_e4_top2_r16", "step_ms", "peft_lora_r32", 1.10),
        ("moe_token_e4_top1_r32", "step_ms", "peft_lora_r32", 1.20),
        ("moe_token_e4_top1_r32", "peak_mem_mb", "peft_lora_r32", 1.10),
        ("mixlora_e16_r4", "step_ms", "peft_lora_r4", 1.30),
    ]
    assert len(TARGETS) == 4
    for t in targets:
        if t["metric"] == "peak_mem_mb":
            assert t["ratio"] is None and t["met"] is None and t["paired_ratio"] is None
        else:
            assert t["met"] == (t["ratio"] <= t["limit"])
            rounds = zip(
                variants[t["variant"]]["step_ms_samples"],
                variants[t["reference"]]["step_ms_samples"],
            )
            assert t["paired_ratio"] == pytest.approx(statistics.median(a / b for a, b in rounds))


def test_markdown_table_lists_every_variant(all_variants):
    markdown = all_variants[2]
    for name in EXPECTED_NAMES:
        assert f"| {name} |" in markdown
    assert "| target | ratio | status | per-round ratio (median) |" in markdown


def test_memory_worker_measures_peak(tool, tmp_path):
    # One worker process (a second one would only add its start-up time).
    out = tmp_path / "mem.json"
    tool.main(["adapters", *TINY, "--variants", "moe_instance_e4_top2_r16", "--json", str(out)])
    data = json.loads(out.read_text())
    entry = data["variants"]["moe_instance_e4_top2_r16"]
    assert isinstance(entry["peak_mem_mb"], float)
    assert entry["peak_mem_mb"] >= entry["pre_step_rss_mb"] > 0
    assert entry["step_increment_mb"] == pytest.approx(
        entry["peak_mem_mb"] - entry["pre_step_rss_mb"]
    )
    assert entry["trainable_params"] == 69_888  # the worker built the same model
    assert data["setup"]["memory"]["measured_steps"] == 2
    assert data["ratios"]["targets"][0]["ratio"] is None  # no peft_lora_r32 in this run


def test_failing_optional_variant_is_skipped_with_reason(tool, tmp_path, monkeypatch):
    def unavailable(model, setup):
        raise OSError("adapters cannot be loaded here")

    xlora = VARIANTS["peft_xlora_e4_r32"]
    monkeypatch.setitem(VARIANTS, xlora.name, dataclasses.replace(xlora, build=unavailable))
    out = tmp_path / "skip.json"
    variants = "peft_lora_r4,peft_xlora_e4_r32"
    tool.main(["adapters", *TINY, "--variants", variants, "--no-memory", "--json", str(out)])
    entry = json.loads(out.read_text())["variants"]["peft_xlora_e4_r32"]
    assert entry["skipped"] is True
    assert entry["reason"] == "OSError: adapters cannot be loaded here"
    assert entry["step_ms"] is None and entry["trainable_params"] is None


def test_failing_required_variant_raises(tool, monkeypatch):
    def broken(model, setup):
        raise OSError("broken")

    lora = VARIANTS["peft_lora_r4"]
    monkeypatch.setitem(VARIANTS, lora.name, dataclasses.replace(lora, build=broken))
    with pytest.raises(OSError, match="broken"):
        tool.main(["adapters", *TINY, "--variants", "peft_lora_r4", "--no-memory"])


def test_unknown_variant_is_named(tool):
    with pytest.raises(SystemExit, match=r"peft_lora_r8.*peft_lora_r4"):
        tool.main(["adapters", *TINY, "--variants", "peft_lora_r8"])


def test_worker_flags_rebuild_the_same_options(tool):
    options = BenchmarkOptions(model=ModelSetup(hidden_size=48, num_heads=3, seq_len=7), threads=3)
    again = tool.build_options(tool.parse_args(["adapters", *options.worker_argv()]))
    assert again.model == options.model
    assert (again.threads, again.seed) == (3, 0)


def test_bad_model_setting_names_the_flag():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        ModelSetup(hidden_size=50, num_heads=4)


def test_overhead_ratio_is_over_frozen_base_against_equal_rank_peft(all_variants):
    data = all_variants[1]
    variants, ratios = data["variants"], data["ratios"]
    step = {name: v["step_ms"] for name, v in variants.items()}
    overhead = ratios["overhead_vs_equal_rank_peft"]
    for name, ref in [
        ("moe_token_e4_top1_r32", "peft_lora_r32"),
        ("moe_instance_e4_top2_r16", "peft_lora_r32"),
        ("mixlora_e16_r4", "peft_lora_r4"),
    ]:
        if step[ref] > step["frozen_base"]:
            want = (step[name] - step["frozen_base"]) / (step[ref] - step["frozen_base"])
            assert overhead[name] == pytest.approx(want)
        else:  # noise made the reference cheaper than no adapters: no meaningful ratio
            assert overhead[name] is None
    assert [(t["variant"], t["reference"], t["limit"]) for t in ratios["overhead_targets"]] == [
        ("moe_instance_e4_top2_r16", "peft_lora_r32", 1.30),
        ("moe_token_e4_top1_r32", "peft_lora_r32", 1.30),
        ("mixlora_e16_r4", "peft_lora_r4", 1.30),
    ]
    assert "overhead ×peft" in all_variants[2]


def test_overhead_ratio_by_hand():
    from octavius.benchmark.targets import overhead_ratio

    assert overhead_ratio(2330.0, 2203.0, 2015.0) == pytest.approx(315 / 188)
    assert overhead_ratio(2100.0, 2000.0, 2015.0) is None


def test_layers_benchmark_runs_every_layer_variant(tool, tmp_path):
    out = tmp_path / "layers.json"
    argv = ["layers", "--quick", "--hidden-size", "32", "--intermediate-size", "48"]
    argv += ["--seq-len", "8", "--rounds", "4", "--warmup", "0", "--reps", "1"]
    result = tool.main([*argv, "--json", str(out), "--markdown", str(tmp_path / "l.md")])
    data = json.loads(out.read_text())
    assert data == json.loads(json.dumps(result))
    names = [n for n in EXPECTED_NAMES if n != "peft_xlora_e4_r32"]
    assert list(data["variants"]) == names
    assert data["skipped"] == {}
    variants = data["variants"]
    for name in names:
        assert len(variants[name]["step_ms_samples"]) == 4
    # The same rules as the whole model, on one layer: the hand counts of one layer hold.
    d, f = 32, 48
    lora = 4 * 32 * (d + d) + 3 * 32 * (d + f)
    assert variants["peft_lora_r32"]["trainable_params"] == lora
    assert variants["moe_token_e4_top1_r32"]["trainable_params"] == (
        4 * 32 * 3 * (d + f) + 4 * d + 4 * 32 * 2 * d
    )
    token = variants["moe_token_e4_top1_r32"]
    assert token["reference"] == "peft_lora_r32"
    rounds = zip(token["step_ms_samples"], variants["peft_lora_r32"]["step_ms_samples"])
    assert token["time_ratio"]["median"] == pytest.approx(
        statistics.median(a / b for a, b in rounds), rel=1e-3
    )
    assert variants["mixlora_e16_r4"]["reference"] == "peft_lora_r4"
    assert [t["variant"] for t in data["overhead_targets"]] == [
        "moe_instance_e4_top2_r16",
        "moe_token_e4_top1_r32",
        "mixlora_e16_r4",
    ]
