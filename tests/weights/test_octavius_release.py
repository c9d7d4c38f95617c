"""The official Octavius release checkpoint, as LAMM saves it, imported into our model.

The fixture is built with the release's exact key names and shape pattern
(``src/model/Octavius/octavius.py``, ``moe/layer.py``, ``resampler3d.py`` of OpenGVLab/LAMM) and
saved as ``DeepSpeedAgent.save_model`` saves it: ``torch.save`` of a dict of trainable
parameters. The references below recompute the release's own forward formulas.
"""

from __future__ import annotations

import collections

import pytest
import torch
import torch.nn.functional as F

from octavius.adapters import AdaptedLinear, RoutingContext
from octavius.export import expert_set_decision, merged_state_dict
from octavius.plugins.routers.instance import InstanceRouter
from octavius.weights import WeightsImportError, import_octavius_release

from .conftest import NUM_EXPERTS, write

PEFT = "llama_model.base_model.model."


def release_state(model, rank: int = 4, seed: int = 0) -> collections.OrderedDict:
    """Tensors named and shaped as in the released ``pytorch_model.pt`` (random values)."""
    g = torch.Generator().manual_seed(seed)
    state = collections.OrderedDict()
    for name, module in model.llm.named_modules():
        if isinstance(module, AdaptedLinear):
            d_in, d_out = module.experts.in_features, module.experts.out_features
            state[f"{PEFT}{name}.lora_moe_A.default"] = (
                torch.randn(NUM_EXPERTS, d_in, rank, generator=g) * 0.1
            )
            state[f"{PEFT}{name}.lora_moe_B.default"] = (
                torch.randn(NUM_EXPERTS, rank, d_out, generator=g) * 0.1
            )
    hidden = model.llm.config.hidden_size
    state["gating_network.w_gating"] = torch.randn(hidden, NUM_EXPERTS, generator=g)
    clip = model.projectors["image"].in_features
    state["llama_proj.weight"] = torch.randn(hidden, clip, generator=g)
    state["llama_proj.bias"] = torch.randn(hidden, generator=g)
    # The 3D path (Resampler3D with hidden 768 in the release; smaller here, same names).
    state["pos_3d_proj.0.weight"] = torch.randn(256, 6, generator=g)
    state["pos_3d_proj.2.weight"] = torch.randn(32, 256, generator=g)
    state["resampler_3d.query_embed.weight"] = torch.randn(16, 32, generator=g)
    state["resampler_3d.cross_attn.0.attention.fc_q.weight"] = torch.randn(32, 32, generator=g)
    state["resampler_3d.self_attn.0.layer_norm.weight"] = torch.ones(32)
    state["llama_proj_3d.0.weight"] = torch.randn(hidden, 32, generator=g)
    state["llama_proj_3d.1.weight"] = torch.ones(hidden)
    return state


def test_release_layer_delta_is_reproduced(tiny_model, tmp_path):
    # Our bank here scales by alpha/rank = 2 while MoeLinear.forward applies no scaling: the
    # import must fold that in for the delta to match.
    state = release_state(tiny_model)
    report = import_octavius_release(tiny_model, write(tmp_path / "pytorch_model.pt", state))
    assert report.ok and "pos_3d_proj.0.weight" in report.ignored
    gate = torch.zeros(NUM_EXPERTS)
    gate[1], gate[4] = 0.7, 0.3
    merged = merged_state_dict(tiny_model.llm, expert_set_decision([1, 4], [0.7, 0.3]))
    x = torch.randn(1, 5, tiny_model.llm.config.hidden_size)
    for name in ("model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.v_proj"):
        layer = tiny_model.llm.get_submodule(name)
        base = F.linear(x, layer.base_layer.weight)
        a = state[f"{PEFT}{name}.lora_moe_A.default"]
        b = state[f"{PEFT}{name}.lora_moe_B.default"]
        # LAMM moe/layer.py MoeLinear.forward, verbatim formulas:
        out = torch.einsum("bnd,edh->bneh", x, a)
        out = torch.einsum("bneh,ehd->bned", out, b)
        out = torch.einsum("bned,be->bned", out, gate[None]).sum(dim=2)
        torch.testing.assert_close(
            F.linear(x, merged[f"{name}.weight"]), base + out, atol=1e-5, rtol=1e-4
        )


def test_release_gate_chooses_like_top2gating(tiny_model, tmp_path):
    state = release_state(tiny_model)
    import_octavius_release(tiny_model, write(tmp_path / "pytorch_model.pt", state))
    router = next(m for m in tiny_model.modules() if isinstance(m, InstanceRouter))
    x = torch.randn(3, 7, tiny_model.llm.config.hidden_size)
    ctx = RoutingContext(
        attention_mask=torch.ones(3, 7, dtype=torch.long),
        question_mask=torch.ones(3, 7, dtype=torch.bool),
        inputs_embeds=x,
    )
    decision = router(x, ctx)
    # LAMM Top2Gating.forward(reduce_token=True): softmax of the token mean of x·W, top-2, renormalised.
    raw = torch.einsum("bnd,de->bne", x, state["gating_network.w_gating"]).mean(1).softmax(-1)
    top = raw.topk(2, dim=-1)
    torch.testing.assert_close(decision.indices, top.indices)
    torch.testing.assert_close(decision.weights, top.values / top.values.sum(-1, keepdim=True))


def test_image_projector_is_the_release_llama_proj(tiny_model, tmp_path):
    state = release_state(tiny_model)
    import_octavius_release(tiny_model, write(tmp_path / "pytorch_model.pt", state))
    h = torch.randn(2, 4, tiny_model.projectors["image"].in_features)
    expected = F.linear(h, state["llama_proj.weight"], state["llama_proj.bias"])
    torch.testing.assert_close(tiny_model.projectors["image"](h), expected)


def test_mismatched_release_names_every_key(tiny_model, tmp_path):
    state = release_state(tiny_model)
    key = f"{PEFT}model.layers.0.self_attn.q_proj.lora_moe_A.default"
    state["llama_model.base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight"] = (
        state.pop(key)
    )
    state["gating_network.w_gating"] = torch.randn(5, NUM_EXPERTS)
    before = tiny_model.llm.model.layers[0].self_attn.k_proj.experts.lora_A.clone()
    with pytest.raises(WeightsImportError) as err:
        import_octavius_release(tiny_model, write(tmp_path / "bad.pt", state))
    text = str(err.value)
    assert "bad.pt" in text
    assert "q_proj.lora_A.default.weight" in text  # unmatched source key
    assert "gating_network.w_gating" in text and "[6, 5]" in text  # mis-shaped
    assert "model.layers.0.self_attn.q_proj.experts.lora_A" in text  # missing target
    torch.testing.assert_close(
        tiny_model.llm.model.layers[0].self_attn.k_proj.experts.lora_A, before
    )
