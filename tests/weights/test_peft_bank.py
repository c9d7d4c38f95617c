"""N peft LoRA adapters become the N experts of one bank; each expert is its adapter exactly."""

from __future__ import annotations

import pytest
import torch

from octavius.export import PeftFormatError, expert_set_decision, merged_state_dict
from octavius.weights import import_peft_bank


def _peft_adapter(llm_path, out, r, alpha, targets, seed):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(llm_path)
    peft = get_peft_model(
        base, LoraConfig(r=r, lora_alpha=alpha, target_modules=targets, init_lora_weights=False)
    )
    peft.save_pretrained(str(out))
    return peft.merge_and_unload().state_dict()


def test_each_expert_is_its_adapter(tiny_assets, tmp_path):
    from transformers import AutoModelForCausalLM

    targets = ["q_proj", "v_proj"]
    merged = [
        _peft_adapter(tiny_assets.llm, tmp_path / "a0", 4, 8, targets, 0),
        _peft_adapter(tiny_assets.llm, tmp_path / "a1", 2, 16, targets, 1),  # other r and α
        _peft_adapter(tiny_assets.llm, tmp_path / "a2", 4, 8, targets, 2),
    ]
    llm = AutoModelForCausalLM.from_pretrained(tiny_assets.llm)
    _, rules = import_peft_bank(llm, [tmp_path / "a0", tmp_path / "a1", tmp_path / "a2"])
    assert all(r["experts"]["num_experts"] == 3 for r in rules)
    for k in range(3):
        ours = merged_state_dict(llm, expert_set_decision([k], [1.0]))
        for name in (
            "model.layers.0.self_attn.q_proj.weight",
            "model.layers.1.self_attn.v_proj.weight",
        ):
            torch.testing.assert_close(ours[name], merged[k][name], atol=1e-6, rtol=1e-5)


def test_adapters_of_different_modules_are_refused(tiny_assets, tmp_path):
    from transformers import AutoModelForCausalLM

    _peft_adapter(tiny_assets.llm, tmp_path / "a0", 4, 8, ["q_proj"], 0)
    _peft_adapter(tiny_assets.llm, tmp_path / "a1", 4, 8, ["k_proj"], 1)
    llm = AutoModelForCausalLM.from_pretrained(tiny_assets.llm)
    with pytest.raises(PeftFormatError, match="a1 adapts other modules"):
        import_peft_bank(llm, [tmp_path / "a0", tmp_path / "a1"])
