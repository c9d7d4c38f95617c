"""CLIPImageEncoder on a tiny CLIP vision tower saved to a temporary directory."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from transformers import CLIPImageProcessor, CLIPVisionModel

from octavius.models.base_encoder import build_encoder
from octavius.testing.tiny_assets import build_tiny_clip


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    # 32-px images, 8-px patches: 16 patch tokens; 2 layers of width 32
    return str(build_tiny_clip(tmp_path_factory.mktemp("clip") / "clip", seed=3))


def image(seed: int) -> Image.Image:
    generator = torch.Generator().manual_seed(seed)
    pixels = (torch.rand(45, 60, 3, generator=generator) * 255).to(torch.uint8).numpy()
    return Image.fromarray(pixels)


def test_preprocess_follows_the_processor_config(clip_dir):
    encoder = build_encoder(dict(type="CLIPImageEncoder", pretrained=clip_dir))
    pixels = encoder.preprocess(image(0))
    expected = CLIPImageProcessor.from_pretrained(clip_dir)(images=image(0), return_tensors="pt")[
        "pixel_values"
    ][0]
    assert pixels.shape == (3, 32, 32)
    torch.testing.assert_close(pixels, expected)
    assert encoder.preprocess(image(0).convert("L")).shape == (3, 32, 32)
    torch.testing.assert_close(encoder([image(0)]).tokens, encoder([pixels]).tokens)
    with pytest.raises(ValueError, match=r"input 1 is \(3, 64, 64\); expected a \(3, 32, 32\)"):
        encoder([pixels, torch.zeros(3, 64, 64)])


@pytest.mark.parametrize(
    ("feature_layer", "use_cls", "tokens"),
    [(-2, False, 16), (-2, True, 17), (-1, False, 16), (0, True, 17)],
)
def test_feature_layer_and_cls(clip_dir, feature_layer, use_cls, tokens):
    encoder = build_encoder(
        dict(
            type="CLIPImageEncoder",
            pretrained=clip_dir,
            feature_layer=feature_layer,
            use_cls=use_cls,
        )
    )
    pixels = [encoder.preprocess(image(i)) for i in range(2)]
    out = encoder(pixels)
    assert out.tokens.shape == (2, tokens, 32) and encoder.num_tokens == tokens
    reference = CLIPVisionModel.from_pretrained(clip_dir).eval()
    states = reference(pixel_values=torch.stack(pixels), output_hidden_states=True).hidden_states
    expected = states[feature_layer] if use_cls else states[feature_layer][:, 1:]
    torch.testing.assert_close(out.tokens, expected)


def test_frozen_by_default_and_trainable_on_request(clip_dir):
    encoder = build_encoder(dict(type="CLIPImageEncoder", pretrained=clip_dir)).train()
    assert not encoder.model.training
    assert not any(p.requires_grad for p in encoder.parameters())
    pixels = [encoder.preprocess(image(0))]
    assert not encoder(pixels).tokens.requires_grad

    trainable = build_encoder(
        dict(type="CLIPImageEncoder", pretrained=clip_dir, frozen=False)
    ).train()
    assert trainable.model.training
    trainable(pixels).tokens.sum().backward()
    grads = {n: p.grad for n, p in trainable.model.named_parameters()}
    assert next(g for n, g in grads.items() if "patch_embedding" in n) is not None
    assert grads["post_layernorm.weight"] is None  # the penultimate layer never reaches it


def test_clear_errors(clip_dir, tmp_path):
    with pytest.raises(OSError, match=r"CLIPImageEncoder 'pretrained'"):
        build_encoder(dict(type="CLIPImageEncoder", pretrained=str(tmp_path / "missing")))
    with pytest.raises(ValueError, match=r"feature_layer=5 is out of range.*2 layers"):
        build_encoder(dict(type="CLIPImageEncoder", pretrained=clip_dir, feature_layer=5))
    for dtype in ("float17", "Tensor"):
        with pytest.raises(ValueError, match=f"dtype '{dtype}' is not a torch dtype"):
            build_encoder(dict(type="CLIPImageEncoder", pretrained=clip_dir, dtype=dtype))
