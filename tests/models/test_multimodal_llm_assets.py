"""Tiny assets (built once, reloaded through the real loaders) and the projectors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer, CLIPImageProcessor, CLIPVisionModel

from octavius.models.projectors import LinearProjector, MLPProjector, build_projector
from octavius.registry import ENCODERS, PROJECTORS
from octavius.testing.tiny_assets import build_tiny_assets, build_tiny_llama, build_tiny_point_bert


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return build_tiny_assets(tmp_path_factory.mktemp("assets"))


def test_assets_load_through_from_pretrained(assets):
    tok = AutoTokenizer.from_pretrained(assets.llm)
    llm = AutoModelForCausalLM.from_pretrained(assets.llm)
    assert llm.config.num_hidden_layers == 2 and llm.config.hidden_size == 64
    assert llm.get_input_embeddings().num_embeddings == len(tok)
    for token in ("<s>", "</s>", "<pad>", "<unk>", "<image>", "<point_cloud>"):
        assert len(tok(token, add_special_tokens=False)["input_ids"]) == 1
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<s>", "</s>", "<pad>")
    text = "USER: <image>\nWhat is the red square at [0.12, 0.50]? ASSISTANT: ünïcode ok"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    tower = CLIPVisionModel.from_pretrained(assets.clip)
    pixels = CLIPImageProcessor.from_pretrained(assets.clip)(
        torch.zeros(3, 50, 40), return_tensors="pt"
    )["pixel_values"]
    assert pixels.shape == (1, 3, 32, 32)
    assert tower(pixel_values=pixels).last_hidden_state.shape == (1, 1 + 16, 32)


def test_assets_are_cached_and_rebuilt_on_a_new_spec(assets, tmp_path):
    weights = assets.llm / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    again = build_tiny_assets(assets.root)
    assert again == assets and weights.stat().st_mtime_ns == stamp
    smaller = build_tiny_llama(assets.root / "llama_copy", hidden_size=32)
    assert AutoModelForCausalLM.from_pretrained(smaller).config.hidden_size == 32
    rebuilt = build_tiny_llama(smaller, hidden_size=48)
    assert AutoModelForCausalLM.from_pretrained(rebuilt).config.hidden_size == 48


def test_tiny_point_bert_loads_through_the_checkpoint_loader(tmp_path):
    path = build_tiny_point_bert(tmp_path / "pb.safetensors")
    cls = ENCODERS.get("PointBERT")
    cfg = cls.example_config(tmp_path)
    torch.manual_seed(123)  # a different random init: loading must overwrite it
    loaded = cls(**cfg, checkpoint=path)
    torch.manual_seed(0)
    reference = cls(**cfg)
    for (name, a), (_, b) in zip(loaded.state_dict().items(), reference.state_dict().items()):
        assert torch.equal(a, b), name
    assert build_tiny_point_bert(path) == path
    with pytest.raises(ValueError, match=r"\.safetensors"):
        build_tiny_point_bert(tmp_path / "pb.pt")


def test_projectors():
    x = torch.randn(2, 5, 12)
    mlp = PROJECTORS.build(dict(type="MLPProjector", in_features=12, out_features=8))
    assert [type(m) for m in mlp.mlp] == [nn.Linear, nn.GELU, nn.Linear]
    assert mlp.mlp[0].out_features == 8 and mlp(x).shape == (2, 5, 8)
    torch.testing.assert_close(mlp(x), mlp.mlp[2](torch.nn.functional.gelu(mlp.mlp[0](x))))
    lin = build_projector("LinearProjector", in_features=12, out_features=8)
    assert isinstance(lin, LinearProjector) and lin(x).shape == (2, 5, 8)
    assert isinstance(
        build_projector(
            dict(type="MLPProjector", hidden_features=4, num_layers=3),
            in_features=12,
            out_features=8,
        ),
        MLPProjector,
    )
    with pytest.raises(ValueError, match="in_features must be a positive int"):
        LinearProjector(0, 8)
    with pytest.raises(TypeError, match="'type' key"):
        build_projector(dict(in_features=1))
