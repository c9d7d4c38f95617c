"""Single-LoRA adapters in peft's format: export → PeftModel, peft → import, identical outputs."""

from __future__ import annotations

import json

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

from octavius.adapters import AdaptedLinear, RoutingContext, inject_adapters, use_routing_context
from octavius.export.merged import expert_set_decision
from octavius.export.peft_io import (
    PeftFormatError,
    export_peft_adapter,
    import_peft_adapter,
    peft_adapter_rules,
)
from octavius.testing.tiny_assets import build_tiny_llama

from .tiny_setup import assets_root, randomize_adapters

SINGLE_RULES = [
    dict(
        name="attn",
        targets=r".*\.self_attn\.(q_proj|v_proj)",
        experts=dict(type="LoRAExperts", num_experts=1, rank=4, alpha=8.0),
    ),
    dict(
        name="mlp",
        targets=r".*\.mlp\.down_proj",
        experts=dict(type="LoRAExperts", num_experts=1, rank=2, alpha=6.0),
    ),
]
IDS = torch.tensor([[5, 17, 42, 99, 7, 256, 3, 64], [8, 9, 10, 11, 300, 12, 13, 14]])


@pytest.fixture(scope="module")
def llm_path(tmp_path_factory):
    return assets_root(tmp_path_factory) / "llama"


def _base(path):
    return AutoModelForCausalLM.from_pretrained(path).eval()


def _adapted(path, rules, seed=0):
    llm = _base(path)
    inject_adapters(llm, rules)
    randomize_adapters(llm, seed)
    return llm.eval()


@torch.no_grad()
def _logits(model, ids=IDS):
    return model(input_ids=ids).logits


def _routed_context(llm, decision, batch):
    """A routing context whose cache already holds ``decision`` for every router."""
    ctx = RoutingContext()
    for module in llm.modules():
        if isinstance(module, AdaptedLinear) and module.slot is not None:
            ctx.decisions[module.slot.key] = type(decision)(
                level="instance",
                indices=decision.indices.expand(batch, -1),
                weights=decision.weights.expand(batch, -1),
            )
    return ctx


def test_export_loads_in_peft_with_identical_outputs(tmp_path, llm_path):
    ours = _adapted(llm_path, SINGLE_RULES)
    out = export_peft_adapter(ours, tmp_path / "adapter")
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4 and config["lora_alpha"] == 8
    assert config["rank_pattern"] == {
        "model.layers.0.mlp.down_proj": 2,
        "model.layers.1.mlp.down_proj": 2,
    }
    assert set(config["alpha_pattern"].values()) == {6}
    assert len(config["target_modules"]) == 6

    peft_model = PeftModel.from_pretrained(_base(llm_path), str(out)).eval()
    expected = _logits(ours)
    assert (expected - _logits(_base(llm_path))).abs().max() > 1e-3  # the adapters matter
    torch.testing.assert_close(_logits(peft_model), expected, atol=1e-5, rtol=1e-5)

    fresh = _base(llm_path)
    report = import_peft_adapter(fresh, out)
    assert set(report.adapted) == set(config["target_modules"])
    for name, module in ours.named_modules():
        if isinstance(module, AdaptedLinear):
            other = fresh.get_submodule(name).experts
            assert torch.equal(other.lora_A, module.experts.lora_A)
            assert torch.equal(other.lora_B, module.experts.lora_B)
            assert other.scale == module.experts.scale
    torch.testing.assert_close(_logits(fresh.eval()), expected, atol=0, rtol=0)
    assert report.trainable_params == sum(p.numel() for p in fresh.parameters() if p.requires_grad)


def test_import_of_an_adapter_made_by_peft(tmp_path, llm_path):
    """rsLoRA scaling and suffix target names, as peft users write them."""
    config = LoraConfig(
        r=4, lora_alpha=16, target_modules=["q_proj", "k_proj"], use_rslora=True, lora_dropout=0.1
    )
    peft_model = get_peft_model(_base(llm_path), config)
    randomize_adapters(peft_model, seed=3, scale=0.1)
    peft_model.save_pretrained(str(tmp_path / "p"))
    expected = _logits(peft_model.eval())

    rules = peft_adapter_rules(tmp_path / "p")
    assert len(rules) == 1 and rules[0]["experts"]["alpha"] == pytest.approx(16 * 2.0)
    assert rules[0]["experts"]["dropout"] == pytest.approx(0.1)
    fresh = _base(llm_path)
    import_peft_adapter(fresh, tmp_path / "p")
    torch.testing.assert_close(_logits(fresh.eval()), expected, atol=1e-5, rtol=1e-5)


def test_expert_set_of_a_routed_model_exports_as_one_lora(tmp_path, llm_path):
    rules = dict(preset="octavius", experts=dict(num_experts=3, rank=4, alpha=8.0, dropout=0.0))
    ours = _adapted(llm_path, rules, seed=1)
    with pytest.raises(PeftFormatError, match="expert set"):
        export_peft_adapter(ours, tmp_path / "x")
    out = export_peft_adapter(ours, tmp_path / "a", experts=[0, 2], expert_weights=[0.7, 0.3])
    config = json.loads((out / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"]) == (8, 16)  # rank k·r, same α/r

    decision = expert_set_decision([0, 2], [0.7, 0.3])
    with use_routing_context(_routed_context(ours, decision, IDS.shape[0])):
        expected = _logits(ours)
    other = expert_set_decision([1, 2], [0.7, 0.3])
    with use_routing_context(_routed_context(ours, other, IDS.shape[0])):
        assert (_logits(ours) - expected).abs().max() > 1e-4  # the chosen set matters
    peft_model = PeftModel.from_pretrained(_base(llm_path), str(out)).eval()
    torch.testing.assert_close(_logits(peft_model), expected, atol=1e-5, rtol=1e-5)


def test_import_errors_name_the_file(tmp_path, llm_path):
    ours = _adapted(llm_path, SINGLE_RULES)
    out = export_peft_adapter(ours, tmp_path / "a")
    other = AutoModelForCausalLM.from_pretrained(
        build_tiny_llama(tmp_path / "narrow", hidden_size=32, intermediate_size=64)
    )
    with pytest.raises(PeftFormatError, match=r"adapter_model\.safetensors.*another model"):
        import_peft_adapter(other, out)
    assert not any(isinstance(m, AdaptedLinear) for m in other.modules())  # left untouched

    config = json.loads((out / "adapter_config.json").read_text())
    (out / "adapter_config.json").write_text(json.dumps({**config, "use_dora": True}))
    with pytest.raises(PeftFormatError, match="use_dora"):
        import_peft_adapter(_base(llm_path), out)
    with pytest.raises(FileNotFoundError, match=r"adapter_config\.json"):
        import_peft_adapter(_base(llm_path), tmp_path / "missing")
