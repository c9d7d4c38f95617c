"""The memory estimate: parameter counts, saved activations, sharding and measured peaks."""

from __future__ import annotations

import pytest
import torch

from octavius.estimate import EstimateOptions, estimate_memory
from octavius.estimate.activations import lm_loss, saved_bytes, trace_head_cost, trace_layer_cost
from octavius.estimate.components import build_llm_on_meta, llm_config_of, param_bytes

MIB = 1024**2


def _model_config(llm: str, clip: str, **extra) -> dict:
    return dict(
        type="MultimodalLLM",
        llm=llm,
        encoders=dict(image=dict(type="CLIPImageEncoder", pretrained=clip)),
        projector=dict(type="LinearProjector"),
        adapters=dict(
            preset="octavius",
            experts=dict(num_experts=4, rank=16, alpha=32.0, dropout=0.0),
            router=dict(type="InstanceRouter", top_k=2),
        ),
        **extra,
    )


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    from octavius.testing.tiny_assets import build_tiny_clip, build_tiny_llama

    root = tmp_path_factory.mktemp("estimate_assets")
    llama = build_tiny_llama(
        root / "llama",
        hidden_size=256,
        num_layers=4,
        num_heads=4,
        num_kv_heads=4,
        intermediate_size=688,
    )
    clip = build_tiny_clip(root / "clip", image_size=64, patch_size=8, hidden_size=64)
    return str(llama), str(clip)


@pytest.mark.parametrize(
    ("name", "published"),
    # LLaMA's published parameter counts (the model cards: 6.7B and 13.0B).
    [("vicuna-7b-v1.5", 6_738_415_616), ("vicuna-13b-v0", 13_015_864_320)],
)
def test_published_llm_sizes_count_as_the_released_models(name, published):
    config, dtype, _ = llm_config_of(f"checkpoints/{name}")  # no such directory: published sizes
    llm, _ = build_llm_on_meta(config, torch.bfloat16)
    counts = param_bytes(llm)
    assert counts.frozen_params == published
    assert counts.frozen_bytes == 2 * published
    assert counts.trainable_params == 0
    assert dtype == torch.float32  # the config's own dtype (none given): fp32


def test_parameter_counts_equal_the_built_model(assets):
    from octavius.models.multimodal_llm import MultimodalLLM

    cfg = dict(model=_model_config(*assets), train_dataloader=dict(batch_size=2))
    estimate = estimate_memory(cfg, EstimateOptions(seq_len=64))
    spec = dict(cfg["model"])
    spec.pop("type")
    model = MultimodalLLM(**spec)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert estimate.trainable_params == trainable
    assert estimate.frozen_params == frozen
    # fp32 AdamW: 4 bytes of parameter, 4 of gradient, 8 of moments per trainable parameter.
    assert estimate.components["trainable parameters"] == 4 * trainable
    assert estimate.components["optimizer state"] == 8 * trainable


@pytest.mark.parametrize(
    ("dtype", "preset"), [(torch.float32, "llava_mole"), (torch.bfloat16, "octavius")]
)
def test_traced_layer_and_head_add_up_to_the_whole_forward(dtype, preset):
    from transformers import LlamaConfig

    from octavius.adapters.context import use_routing_context
    from octavius.estimate.activations import _routing_context

    config = LlamaConfig(
        hidden_size=128,
        intermediate_size=344,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=1000,
    )
    meta, _ = build_llm_on_meta(config, dtype, dict(preset=preset))
    layer, head = trace_layer_cost(meta, dtype), trace_head_cost(meta, dtype)
    b, n = 3, 100
    estimated = 3 * layer(b, n) + head(b, n) + b * n * n
    from transformers import AutoModelForCausalLM

    from octavius.adapters import inject_adapters

    torch.manual_seed(0)
    real = AutoModelForCausalLM.from_config(config, dtype=dtype).requires_grad_(False)
    inject_adapters(real, dict(preset=preset))
    x = torch.randn(b, n, 128, dtype=dtype, requires_grad=True)
    mask = torch.ones(b, n, dtype=torch.long)
    mask[0, -7:] = 0
    ctx = _routing_context(x)
    ctx.attention_mask, ctx.question_mask = mask, mask.bool()
    labels = torch.zeros(b, n, dtype=torch.long)

    def run():
        with use_routing_context(ctx):
            logits = real(inputs_embeds=x, attention_mask=mask, use_cache=False).logits
        return lm_loss(logits, labels)

    measured = saved_bytes(run, exclude=[*real.parameters(), *real.buffers()])
    assert estimated == pytest.approx(measured, rel=0.05)


def test_sharding_follows_zero_accounting(assets):
    # ZeRO (Rajbhandari et al. 2020, Fig. 1) for Ψ trainable fp32 parameters under AdamW and N
    # devices: DDP keeps 16Ψ bytes of states, stage 2 4Ψ + 12Ψ/N, stage 3 16Ψ/N.
    cfg = dict(model=_model_config(*assets), train_dataloader=dict(batch_size=1))
    states = ("trainable parameters", "gradients", "optimizer state")
    by = {}
    for strategy in ("ddp", "zero2", "zero3"):
        e = estimate_memory(cfg, EstimateOptions(gpus=4, strategy=strategy, seq_len=32))
        by[strategy] = (sum(e.components[k] for k in states), e)
    psi = by["ddp"][1].trainable_params
    assert by["ddp"][0] == 16 * psi
    assert by["zero2"][0] == 4 * psi + 12 * psi / 4
    assert by["zero3"][0] == 16 * psi / 4
    assert (
        by["zero3"][1].components["frozen weights"] == by["ddp"][1].components["frozen weights"] / 4
    )
    assert by["ddp"][1].components["DDP gradient buckets"] == 4 * psi


def test_estimate_within_15_percent_of_measured_peak(assets, tmp_path):
    from octavius.estimate.measure import measure_in_subprocess

    config = tmp_path / "tiny_estimate.py"
    config.write_text(f"model = {_model_config(*assets)!r}\ndefault_scope = 'octavius'\n")
    batch, tokens = 4, 256
    measured = measure_in_subprocess(config, batch, tokens)["measured_mib"]
    from octavius.config import load_config

    estimate = estimate_memory(
        load_config(str(config)), EstimateOptions(micro_batch=batch, seq_len=tokens)
    )
    assert estimate.total / MIB == pytest.approx(measured, rel=0.15)


def test_cli_prints_json_and_the_largest_micro_batch_fits(assets, tmp_path, capsys):
    import json

    from octavius.cli import main
    from octavius.config import load_config

    config = tmp_path / "tiny_cli.py"
    config.write_text(f"model = {_model_config(*assets)!r}\ndefault_scope = 'octavius'\n")
    argv = ["estimate", str(config), "--seq-len", "128", "--micro-batch", "2", "--json"]
    assert main([*argv, "--device-gb", "0.5", "--reserve-gb", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tokens_per_step"] == 2 * 128
    largest = out["largest_micro_batch"]["0.5"]
    assert largest > 2
    cfg = load_config(str(config))
    fits = estimate_memory(cfg, EstimateOptions(seq_len=128, micro_batch=largest)).total
    over = estimate_memory(cfg, EstimateOptions(seq_len=128, micro_batch=largest + 1)).total
    assert fits <= 0.5 * 1024**3 < over


def test_cli_names_the_config_key_of_a_missing_llm(tmp_path, capsys):
    from octavius.cli import main

    config = tmp_path / "missing.py"
    config.write_text(
        "model = dict(type='MultimodalLLM', llm='nowhere/llama')\n"
        "train_dataloader = dict(batch_size=1, dataset=dict(max_length=64))\n"
    )
    assert main(["estimate", str(config)]) == 2
    err = capsys.readouterr().err
    assert "model.llm" in err and "nowhere/llama" in err and "--llm-config" in err
