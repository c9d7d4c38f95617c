"""LLaVA's ``mm_projector.bin`` (keys ``model.mm_projector.0.weight`` …) as the image projector."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from octavius.loading import load_model
from octavius.weights import WeightsImportError, import_llava_projector

from .conftest import model_config, write


def _llava_mlp(d_in: int, d: int) -> nn.Sequential:
    """LLaVA's build_vision_projector('mlp2x_gelu'): Linear, GELU, Linear."""
    return nn.Sequential(nn.Linear(d_in, d), nn.GELU(), nn.Linear(d, d))


def _get_w(weights: dict, keyword: str) -> dict:
    """llava_arch.py initialize_vision_modules' key stripping."""
    return {k.split(keyword + ".")[1]: v for k, v in weights.items() if keyword in k}


def test_mlp2x_gelu_projector_matches_llava(tiny_assets, tmp_path):
    model = load_model(model_config(tiny_assets, projector="MLPProjector"))
    d_in, d = model.projectors["image"].in_features, model.projectors["image"].out_features
    reference = _llava_mlp(d_in, d)
    state = {f"model.mm_projector.{k}": v for k, v in reference.state_dict().items()}
    state["model.embed_tokens.weight"] = torch.zeros(10, d)  # mm_use_im_start_end
    report = import_llava_projector(model, write(tmp_path / "mm_projector.bin", state))
    assert "model.embed_tokens.weight" in report.ignored
    check = _llava_mlp(d_in, d)
    check.load_state_dict(
        _get_w(torch.load(tmp_path / "mm_projector.bin", weights_only=True), "mm_projector")
    )
    h = torch.randn(2, 3, d_in)
    torch.testing.assert_close(model.projectors["image"](h), check(h))


def test_linear_projector_file(tiny_assets, tmp_path):
    model = load_model(model_config(tiny_assets))
    d_in, d = model.projectors["image"].in_features, model.projectors["image"].out_features
    linear = nn.Linear(d_in, d)
    state = {"model.mm_projector.weight": linear.weight, "model.mm_projector.bias": linear.bias}
    import_llava_projector(model, write(tmp_path / "mm_projector.bin", state))
    h = torch.randn(4, d_in)
    torch.testing.assert_close(model.projectors["image"](h), linear(h))


def test_mlp_file_into_linear_projector_names_the_keys(tiny_assets, tmp_path):
    model = load_model(model_config(tiny_assets))
    d_in, d = model.projectors["image"].in_features, model.projectors["image"].out_features
    state = {f"model.mm_projector.{k}": v for k, v in _llava_mlp(d_in, d).state_dict().items()}
    with pytest.raises(WeightsImportError) as err:
        import_llava_projector(model, write(tmp_path / "mm_projector.bin", state))
    text = str(err.value)
    assert "model.mm_projector.0.weight → projectors.image.mlp.0.weight" in text
    assert "projectors.image.proj.weight" in text  # missing
