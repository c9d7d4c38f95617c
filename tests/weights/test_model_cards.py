"""The merged-LLM and peft exports keep working and carry a model card."""

from __future__ import annotations

import torch

from octavius.export import expert_set_decision, export_merged_model, export_peft_adapter


def test_merged_export_has_a_card_and_loads(tiny_model, tmp_path):
    from transformers import AutoModelForCausalLM

    out = export_merged_model(
        tiny_model.llm, tmp_path / "merged", expert_set_decision([0, 3]), tiny_model.tokenizer
    )
    card = (out / "README.md").read_text()
    assert "merged" in card and "AutoModelForCausalLM.from_pretrained" in card
    assert '"experts": [0, 3]' in card
    assert (
        AutoModelForCausalLM.from_pretrained(out).config.hidden_size
        == tiny_model.llm.config.hidden_size
    )


def test_peft_export_has_a_card_and_loads(tiny_model, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = export_peft_adapter(tiny_model.llm, tmp_path / "peft", experts=[1, 2])
    card = (out / "README.md").read_text()
    assert "PeftModel.from_pretrained" in card and "[1, 2]" in card
    base = AutoModelForCausalLM.from_pretrained(tiny_model.init_kwargs["llm"])
    peft = PeftModel.from_pretrained(base, str(out))
    ids = torch.tensor([[1, 2, 3]])
    assert peft(input_ids=ids).logits.shape[-1] == base.config.vocab_size
