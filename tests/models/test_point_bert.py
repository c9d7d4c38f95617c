"""PointBERT: point operations, architecture, checkpoint key mapping and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from octavius.models.base_encoder import BasePointEncoder, build_encoder
from octavius.models.point_ops import (
    farthest_point_sample,
    knn_indices,
    normalize_unit_sphere,
    points_in_boxes,
    sample_indices,
    scene_box,
)
from octavius.models.pointbert_checkpoint import CheckpointMismatchError

TINY = dict(
    type="PointBERT", in_channels=6, trans_dim=32, depth=2, num_heads=2, group_size=8,
    num_group=16, encoder_dims=32, num_points=128,
)  # fmt: skip


def reference_fps(xyz: np.ndarray, k: int) -> list[int]:
    chosen = [0]
    nearest = np.full(len(xyz), np.inf)
    for _ in range(k - 1):
        nearest = np.minimum(nearest, ((xyz - xyz[chosen[-1]]) ** 2).sum(1))
        chosen.append(int(nearest.argmax()))
    return chosen


def test_farthest_point_sample_matches_reference():
    xyz = torch.rand(2, 200, 3)
    index = farthest_point_sample(xyz, 20)
    for b in range(2):
        assert index[b].tolist() == reference_fps(xyz[b].double().numpy(), 20)
    assert len(set(index[0].tolist())) == 20


def test_knn_indices_are_nearest():
    xyz = torch.rand(1, 100, 3)
    centers = xyz[:, :5]
    index = knn_indices(xyz, centers, 7)
    dist = torch.cdist(centers, xyz)[0]
    for g in range(5):
        expected = set(dist[g].argsort()[:7].tolist())
        assert set(index[0, g].tolist()) == expected
        assert index[0, g, 0].item() == g  # a centre is its own nearest point


def test_points_in_boxes_and_scene_box():
    xyz = torch.tensor([[0.0, 0, 0], [0.5, 0.5, 0.5], [0.51, 0, 0], [2, 2, 2], [-0.5, 0, 0]])
    boxes = torch.tensor([[0.0, 0, 0, 1, 1, 1], [2.0, 2, 2, 0.2, 0.2, 0.2]])
    inside = points_in_boxes(xyz, boxes)
    assert inside.tolist() == [[True, True, False, False, True], [False, False, False, True, False]]
    box = scene_box(xyz)
    assert box.tolist() == [[0.75, 1.0, 1.0, 2.5, 2.0, 2.0]]
    assert points_in_boxes(xyz, box).all()


def test_sample_indices_with_and_without_replacement():
    candidates = torch.tensor([3, 7, 9, 12, 20])
    few = sample_indices(candidates, 3, torch.Generator().manual_seed(0))
    assert len(set(few.tolist())) == 3 and set(few.tolist()) <= set(candidates.tolist())
    many = sample_indices(candidates, 12, torch.Generator().manual_seed(0))
    assert many.shape == (12,) and set(many.tolist()) == set(candidates.tolist())
    again = sample_indices(candidates, 12, torch.Generator().manual_seed(0))
    assert torch.equal(many, again)
    with pytest.raises(ValueError, match="empty"):
        sample_indices(torch.zeros(0, dtype=torch.long), 4)


def test_normalize_unit_sphere():
    xyz = torch.rand(3, 50, 3) * 10 + 5
    out = normalize_unit_sphere(xyz)
    torch.testing.assert_close(out.mean(1), torch.zeros(3, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.norm(dim=-1).amax(1), torch.ones(3))


def test_shapes_and_output_modes():
    encoder = build_encoder(TINY, BasePointEncoder)
    assert encoder.feature_dim == 64 and encoder.min_points == 16
    clouds = [torch.rand(90, 6), dict(points=torch.rand(300, 6), scene_id="s")]
    out = encoder(clouds)
    assert out.tokens.shape == (2, 1, 64)
    tokens = build_encoder({**TINY, "output": "tokens", "proj_dim": 24})
    assert tokens.feature_dim == 24 and tokens.out_features == 32
    assert tokens(clouds).tokens.shape == (2, 17, 32)
    with pytest.raises(ValueError, match="in_channels"):
        encoder.encode_points(torch.rand(2, 64, 3))
    with pytest.raises(ValueError, match="in_channels must be 3"):
        build_encoder({**TINY, "in_channels": 4})
    with pytest.raises(ValueError, match="num_points"):
        build_encoder({**TINY, "num_points": 10})


def test_frozen_by_default_and_trainable_on_request():
    encoder = build_encoder(TINY)
    encoder.train()
    assert not encoder.training and not encoder.encoder.first_conv[1].training
    assert not any(p.requires_grad for p in encoder.parameters())
    assert not encoder([torch.rand(64, 6)]).tokens.requires_grad
    trainable = build_encoder({**TINY, "frozen": False}).train()
    assert trainable.training
    out = trainable([torch.rand(64, 6)])
    out.tokens.sum().backward()
    assert trainable.pos_embed[0].weight.grad is not None


def test_eval_resampling_is_reproducible():
    encoder = build_encoder(TINY)
    cloud = dict(points=torch.rand(1000, 6), scene_id="scene0000_00")
    torch.testing.assert_close(encoder([cloud]).tokens, encoder([cloud]).tokens, rtol=0, atol=0)


def test_xyz_only_reads_three_channels():
    encoder = build_encoder({**TINY, "in_channels": 3})
    points = torch.rand(200, 6)
    recoloured = points.clone()
    recoloured[:, 3:] = torch.rand(200, 3)
    torch.testing.assert_close(encoder([points]).tokens, encoder([recoloured]).tokens)


def ulip_checkpoint(encoder) -> dict:
    """The encoder's weights laid out like a ULIP training checkpoint (DDP-wrapped)."""
    state = {
        f"module.point_encoder.{k}": v.clone()
        for k, v in encoder.state_dict().items()
        if k != "proj.weight"
    }
    state["module.pc_projection"] = encoder.proj.weight.detach().t().clone()
    state["module.open_clip_model.logit_scale"] = torch.tensor(1.0)
    state["module.image_projection"] = torch.rand(4, 4)
    return {"state_dict": state, "epoch": 3}


def test_round_trip_through_files(tmp_path):
    source = build_encoder({**TINY, "proj_dim": 16})
    clouds = [torch.rand(200, 6), torch.rand(150, 6)]
    expected = source(clouds).tokens

    plain = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, plain)
    ulip = tmp_path / "ulip.pt"
    torch.save(ulip_checkpoint(source), ulip)
    pointbert = tmp_path / "pointbert.pth"
    base = {f"module.transformer_q.{k}": v for k, v in source.state_dict().items()}
    base["module.transformer_q.lm_head.weight"] = torch.rand(3, 3)
    base["module.transformer_k.norm.weight"] = torch.rand(3)
    base["module.dvae.encoder.weight"] = torch.rand(3)
    torch.save({"base_model": base}, pointbert)

    for path in (plain, ulip, pointbert):
        loaded = build_encoder({**TINY, "proj_dim": 16, "checkpoint": str(path)})
        torch.testing.assert_close(loaded(clouds).tokens, expected, rtol=0, atol=0)
        assert not any(p.requires_grad for p in loaded.parameters())
    # without a projection the ULIP pc_projection is dropped, not an error
    no_proj = build_encoder({**TINY, "checkpoint": str(ulip)})
    torch.testing.assert_close(no_proj.norm.weight, source.norm.weight)


def test_mismatched_checkpoint_lists_keys(tmp_path):
    source = build_encoder(TINY)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    state.pop("norm.weight")
    state["blocks.blocks.9.attn.qkv.weight"] = torch.zeros(1)
    path = tmp_path / "bad.safetensors"
    save_file(state, path)
    with pytest.raises(CheckpointMismatchError) as err:
        build_encoder({**TINY, "checkpoint": str(path)})
    message = str(err.value)
    assert str(path) in message
    assert "Missing keys (1): norm.weight" in message
    assert "Unexpected keys (1): blocks.blocks.9.attn.qkv.weight" in message

    wider = tmp_path / "wider.safetensors"
    save_file(
        {
            k: v.contiguous()
            for k, v in build_encoder({**TINY, "trans_dim": 48}).state_dict().items()
        },
        wider,
    )
    with pytest.raises(
        CheckpointMismatchError,
        match=r"Shape mismatches.*norm1\.weight \(48,\) vs \(32,\).*\(18 more\)",
    ):
        build_encoder({**TINY, "checkpoint": str(wider)})
    with pytest.raises(FileNotFoundError, match="'checkpoint'"):
        build_encoder({**TINY, "checkpoint": str(tmp_path / "absent.pt")})


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "args": object()}, path)
    with pytest.raises(CheckpointMismatchError, match="pickled objects"):
        build_encoder({**TINY, "checkpoint": str(path)})
