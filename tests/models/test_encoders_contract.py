"""Contract tests run on every registered encoder and RoI source, built from its example_config()."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from octavius.models.base_encoder import BaseEncoder, EncoderOutput, build_encoder
from octavius.models.base_roi_source import BaseRoISource, build_roi_source
from octavius.registry import ENCODERS, ROI_SOURCES

ENCODERS.import_from_location()
ROI_SOURCES.import_from_location()

ENCODER_NAMES = sorted(ENCODERS.module_dict)
ROI_SOURCE_NAMES = sorted(ROI_SOURCES.module_dict)


def example_scene(num_points: int = 400) -> dict:
    """A scene of points in [0, 3]³ with two boxes, named like the examples' files."""
    generator = torch.Generator().manual_seed(1)
    points = torch.rand(num_points, 6, generator=generator) * torch.tensor([3, 3, 3, 1, 1, 1])
    boxes = torch.tensor([[0.5, 0.5, 0.5, 1.0, 1.0, 1.0], [2.0, 2.0, 1.5, 2.0, 2.0, 3.0]])
    return dict(points=points, boxes=boxes, scene_id="example_scene", use_instance_boxes=False)


def example_inputs(encoder: BaseEncoder, batch: int) -> list:
    if encoder.modality == "image":
        images = [Image.new("RGB", (40 + 8 * i, 36), (40 * i, 100, 200)) for i in range(batch)]
        return [encoder.preprocess(image) for image in images]
    return [example_scene(300 + 50 * i) for i in range(batch)]


def test_builtins_are_registered():
    assert {"CLIPImageEncoder", "PointBERT", "ObjectAsSceneEncoder"} <= set(ENCODER_NAMES)
    assert {"GTBoxRoISource", "PrecomputedRoISource"} <= set(ROI_SOURCE_NAMES)


def build_example_encoder(name: str, root) -> BaseEncoder:
    cls = ENCODERS.get(name)
    try:
        cfg = cls.example_config(root)
    except ImportError as err:  # an optional extra is missing
        pytest.skip(f"{name}: {err}")
    return build_encoder(dict(type=name, **cfg))


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_encoder_contract(name, tmp_path):
    encoder = build_example_encoder(name, tmp_path)
    assert isinstance(encoder, BaseEncoder)
    assert encoder.modality in ("image", "point_cloud")
    encoder.eval()
    out = encoder(example_inputs(encoder, batch=2))
    assert isinstance(out, EncoderOutput)
    assert out.tokens.shape == (2, encoder.num_tokens, encoder.out_features)
    assert out.mask.dtype == torch.bool and out.mask.shape == (2, encoder.num_tokens)
    assert torch.isfinite(out.tokens).all()
    # one item alone gives what it gives in the batch: no leakage across samples
    single = encoder(example_inputs(encoder, batch=2)[1:])
    torch.testing.assert_close(single.tokens[0], out.tokens[1], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_encoder_frozen_parts_stay_in_eval(name, tmp_path):
    encoder = build_example_encoder(name, tmp_path)
    encoder.train()
    for module in encoder._frozen_modules:
        assert not module.training
        assert not any(p.requires_grad for p in module.parameters())


@pytest.mark.parametrize("name", ROI_SOURCE_NAMES)
def test_roi_source_contract(name, tmp_path):
    cls = ROI_SOURCES.get(name)
    try:
        cfg = cls.example_config(tmp_path)
    except ImportError as err:
        pytest.skip(f"{name}: {err}")
    source = build_roi_source(dict(type=name, **cfg))
    assert isinstance(source, BaseRoISource)
    boxes = source(example_scene())
    assert boxes.dtype == torch.float32 and boxes.dim() == 2 and boxes.shape[1] == 6
    assert (boxes[:, 3:] >= 0).all()
    assert name in repr(source)


def test_build_helpers_check_kinds():
    with pytest.raises(TypeError, match="'type' key"):
        build_encoder({"pretrained": "x"})
    with pytest.raises(TypeError, match="'type' key"):
        build_roi_source(["GTBoxRoISource"])
    with pytest.raises(KeyError, match="GTBoxRoISource"):
        build_roi_source(dict(type="GTBoxRoiSource"))
