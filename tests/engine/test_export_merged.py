"""Merged Hugging Face export: the standalone model generates exactly as the routed model."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from octavius.adapters import AdaptedLinear, RoutingContext, use_routing_context
from octavius.data.annotation_records import Turn
from octavius.data.encode_conversation import EncodeConversation
from octavius.data.tasks import TASK_DEFINITIONS, task_id_map
from octavius.export.merged import expert_set_decision, export_merged_model, prompt_routing
from octavius.registry import MODELS

from .tiny_setup import assets_root, randomize_adapters

PROMPT = "What shape is the object? Answer with the category of the object in question."
MAX_NEW = 8


def _model(assets, adapters):
    model = MODELS.build(
        dict(
            type="MultimodalLLM",
            llm=str(assets / "llama"),
            adapters=adapters,
            generation=dict(max_new_tokens=MAX_NEW),
        )
    )
    randomize_adapters(model, seed=2, scale=0.3)
    return model.eval()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    adapters = dict(preset="octavius", experts=dict(num_experts=3, rank=4, alpha=8.0, dropout=0.0))
    return _model(assets_root(tmp_path_factory), adapters)


def _prompt_batch(model, prompt, task="vqa"):
    encoded = EncodeConversation(model.tokenizer, "VicunaV1", for_generation=True).encode(
        [Turn("user", prompt)], task
    )
    data = {
        "inputs": {
            "input_ids": [torch.tensor(encoded.input_ids)],
            "labels": [torch.tensor(encoded.labels)],
            "question_mask": [torch.tensor(encoded.question_mask)],
            "images": [[]],
            "point_clouds": [[]],
            "task_ids": [task_id_map(None)[task]],
        },
        "data_samples": [{"task_type": task, "task_definition": TASK_DEFINITIONS[task]}],
    }
    return model.data_preprocessor(data, training=False), torch.tensor([encoded.input_ids])


def _hf_greedy(llm, ids, eos):
    out = llm.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=MAX_NEW,
        do_sample=False,
        eos_token_id=eos,
        pad_token_id=eos,
    )[0, ids.shape[1] :].tolist()
    return out[: out.index(eos)] if eos in out else out


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_expert_set_export_matches_routed_model(model, tmp_path):
    before = _snapshot(model)
    decision = expert_set_decision([0, 2], [0.6, 0.4])
    out = export_merged_model(model.llm, tmp_path / "hf", decision, tokenizer=model.tokenizer)
    after = _snapshot(model)
    assert all(torch.equal(before[k], after[k]) for k in before)  # restored bit for bit
    assert json.loads((out / "octavius_export.json").read_text())["experts"] == [0, 2]

    hf = AutoModelForCausalLM.from_pretrained(out).eval()
    assert not any(isinstance(m, AdaptedLinear) for m in hf.modules())
    _, ids = _prompt_batch(model, PROMPT)
    ctx = RoutingContext()
    key = next(m.slot.key for m in model.llm.modules() if isinstance(m, AdaptedLinear))
    ctx.decisions[key] = decision
    with torch.no_grad(), use_routing_context(ctx):
        routed_logits = model.llm(input_ids=ids).logits
        routed_tokens = _hf_greedy(model.llm, ids, model.tokenizer.eos_token_id)
    with torch.no_grad():
        merged_logits = hf(input_ids=ids).logits
        base_logits = AutoModelForCausalLM.from_pretrained(model.llm.name_or_path)(
            input_ids=ids
        ).logits
    assert (routed_logits - base_logits).abs().max() > 1e-2  # the experts matter
    torch.testing.assert_close(merged_logits, routed_logits, atol=1e-5, rtol=1e-5)
    assert _hf_greedy(hf, ids, model.tokenizer.eos_token_id) == routed_tokens
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer(PROMPT)["input_ids"] == model.tokenizer(PROMPT)["input_ids"]


def test_prompt_routing_export_generates_like_the_model(model, tmp_path):
    decisions = prompt_routing(model, PROMPT, task="vqa")
    assert len(decisions) == 8  # q/k/v/o of two layers, one global instance decision
    other = prompt_routing(model, "Describe the image briefly.", task="caption")
    assert not torch.equal(
        next(iter(decisions.values())).weights, next(iter(other.values())).weights
    )
    out = export_merged_model(model.llm, tmp_path / "hf", decisions, tokenizer=model.tokenizer)
    hf = AutoModelForCausalLM.from_pretrained(out).eval()

    data, ids = _prompt_batch(model, PROMPT)
    expected = model.generate(data["inputs"], data["data_samples"]).token_ids[0]
    assert expected, "the routed model generated nothing"
    assert _hf_greedy(hf, ids, model.tokenizer.eos_token_id) == expected


def test_token_routing_cannot_be_merged(tmp_path_factory, tmp_path):
    mole = _model(
        assets_root(tmp_path_factory),
        dict(preset="llava_mole", experts=dict(num_experts=2, rank=2), attention=dict(rank=2)),
    )
    decisions = prompt_routing(mole, PROMPT, task="vqa")
    before = _snapshot(mole)
    with pytest.raises(ValueError, match="token-level"):
        export_merged_model(mole.llm, tmp_path / "hf", decisions)
    assert all(torch.equal(v, mole.state_dict()[k]) for k, v in before.items())
    assert not (tmp_path / "hf").exists()


def test_expert_set_out_of_range(model, tmp_path):
    with pytest.raises(ValueError, match="routes among 3 experts"):
        export_merged_model(model.llm, tmp_path / "hf", expert_set_decision([0, 5]))
    with pytest.raises(ValueError, match="distinct"):
        expert_set_decision([1, 1])
