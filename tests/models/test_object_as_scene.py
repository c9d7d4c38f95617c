"""ObjectAsSceneEncoder (Octavius eq. 5–7) and the RoI sources it reads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from octavius.models.base_encoder import build_encoder
from octavius.models.base_roi_source import build_roi_source

POINT_ENCODER = dict(
    type="PointBERT", in_channels=6, trans_dim=32, depth=1, num_heads=2, group_size=8,
    num_group=8, encoder_dims=32, num_points=64,
)  # fmt: skip
CONFIG = dict(
    type="ObjectAsSceneEncoder", point_encoder=POINT_ENCODER, roi_source=dict(type="GTBoxRoISource"),
    num_rois=4, points_per_roi=32, num_queries=3, num_heads=2,
)  # fmt: skip


def scene(num_boxes: int, scene_id: str, use_instance_boxes: bool = False, seed: int = 0) -> dict:
    """Points in a 4×4×2 room; boxes laid along x, each holding points."""
    generator = torch.Generator().manual_seed(seed)
    points = torch.rand(600, 6, generator=generator) * torch.tensor([4.0, 4.0, 2.0, 1, 1, 1])
    boxes = torch.tensor(
        [[0.5 + i, 0.5 + (i % 2) * 2, 1.0, 1.0, 1.0, 2.0] for i in range(num_boxes)]
    )
    return dict(
        points=points,
        boxes=boxes.reshape(-1, 6),
        scene_id=scene_id,
        use_instance_boxes=use_instance_boxes,
    )


def test_output_shape_and_internal_projection():
    encoder = build_encoder({**CONFIG, "out_dim": 20}).eval()
    out = encoder([scene(2, "a"), scene(3, "b")])
    assert out.tokens.shape == (2, 3, 20) and encoder.num_tokens == 3 and encoder.out_features == 20
    assert out.mask.all()


def test_gradients_reach_queries_fusion_and_projection_not_point_bert():
    encoder = build_encoder({**CONFIG, "out_dim": 20}).train()
    assert not encoder.point_encoder.training
    encoder([scene(2, "a"), scene(1, "b")]).tokens.square().sum().backward()
    for name in ("fusion.queries", "fusion.layers.1.attn.in_proj_weight", "fusion.layers.0.mlp.fc2.weight",
                 "box_embed.0.weight", "proj.weight"):  # fmt: skip
        grad = encoder.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert all(p.grad is None and not p.requires_grad for p in encoder.point_encoder.parameters())
    trainable = {n for n, p in encoder.named_parameters() if p.requires_grad}
    assert trainable and not any(n.startswith("point_encoder.") for n in trainable)


def test_batched_equals_each_scene_alone():
    encoder = build_encoder(CONFIG).eval()
    scenes = [
        scene(1, "a", seed=1),
        scene(4, "b", seed=2),
        scene(0, "c", seed=3),
        scene(2, "d", seed=4),
    ]
    batched = encoder(scenes).tokens
    for i, item in enumerate(scenes):
        torch.testing.assert_close(encoder([item]).tokens[0], batched[i], atol=1e-5, rtol=1e-5)
    # and a different batch order gives the same per-scene result
    torch.testing.assert_close(encoder(scenes[::-1]).tokens, batched.flip(0), atol=1e-5, rtol=1e-5)


def test_roi_points_lie_in_their_boxes_and_are_normalised():
    encoder = build_encoder({**CONFIG, "normalize": False}).eval()
    item = scene(3, "a")
    item["boxes"] = torch.cat(
        [item["boxes"][:1], torch.tensor([[10.0, 10, 10, 1, 1, 1]]), item["boxes"][1:]]
    )
    boxes, points = encoder.roi_points(item)
    # the empty box is skipped, the order of the others kept
    torch.testing.assert_close(boxes, item["boxes"][[0, 2, 3]])
    assert points.shape == (3, 32, 6)
    for box, pts in zip(boxes, points):
        assert ((pts[:, :3] - box[:3]).abs() <= box[3:] / 2).all()
        assert any(torch.equal(row, p) for row in item["points"] for p in pts[:1])  # real points
    normalised = build_encoder(CONFIG).eval().roi_points(item)[1]
    torch.testing.assert_close(normalised[..., :3].norm(dim=-1).amax(-1), torch.ones(3))


def test_small_roi_keeps_every_point():
    encoder = build_encoder({**CONFIG, "normalize": False}).eval()
    points = torch.cat([torch.tensor([[0.0, 0, 0, 1, 0, 0], [0.1, 0, 0, 0, 1, 0], [0, 0.1, 0, 0, 0, 1]]),
                        torch.rand(100, 6) + 5])  # fmt: skip
    item = dict(
        points=points,
        boxes=torch.tensor([[0.0, 0, 0, 0.5, 0.5, 0.5]]),
        scene_id="s",
        use_instance_boxes=True,
    )
    _, sampled = encoder.roi_points(item)
    assert {tuple(r) for r in sampled[0].tolist()} == {tuple(r) for r in points[:3].tolist()}


def test_num_rois_keeps_the_first_ones():
    encoder = build_encoder({**CONFIG, "num_rois": 2}).eval()
    item = scene(4, "a")
    boxes, points = encoder.roi_points(item)
    torch.testing.assert_close(boxes, item["boxes"][:2])
    assert points.shape[0] == 2


def test_zero_rois_fall_back_to_the_whole_scene():
    encoder = build_encoder(CONFIG).eval()
    item = scene(0, "empty")
    boxes, points = encoder.roi_points(item)
    assert boxes.shape == (1, 6) and points.shape == (1, 32, 6)
    xyz = item["points"][:, :3]
    torch.testing.assert_close(boxes[0, 3:], xyz.amax(0) - xyz.amin(0))
    assert torch.isfinite(encoder([item, scene(2, "b")]).tokens).all()


def test_eval_sampling_is_seeded_and_training_sampling_is_random():
    encoder = build_encoder(CONFIG).eval()
    item = dict(scene(2, "a"), points=torch.rand(5000, 6) * torch.tensor([4.0, 4.0, 2.0, 1, 1, 1]))
    torch.testing.assert_close(
        encoder.roi_points(item)[1], encoder.roi_points(item)[1], rtol=0, atol=0
    )
    other_seed = build_encoder({**CONFIG, "seed": 1}).eval()
    assert not torch.equal(encoder.roi_points(item)[1], other_seed.roi_points(item)[1])
    encoder.train()
    assert not torch.equal(encoder.roi_points(item)[1], encoder.roi_points(item)[1])


def test_instance_boxes_versus_roi_source(tmp_path):
    np.save(tmp_path / "a.npy", np.array([[3.5, 0.5, 1.0, 1.0, 1.0, 2.0, 0.8]], dtype=np.float32))
    encoder = build_encoder(
        {**CONFIG, "roi_source": dict(type="PrecomputedRoISource", root=str(tmp_path))}
    ).eval()
    detected, _ = encoder.roi_points(scene(2, "a"))
    torch.testing.assert_close(detected, torch.tensor([[3.5, 0.5, 1.0, 1.0, 1.0, 2.0]]))
    given, _ = encoder.roi_points(scene(2, "a", use_instance_boxes=True))
    torch.testing.assert_close(given, scene(2, "a")["boxes"])
    without_source = build_encoder({**CONFIG, "roi_source": None})
    with pytest.raises(ValueError, match="no roi_source"):
        without_source([scene(1, "a")])
    with pytest.raises(ValueError, match="use_instance_boxes but has no 'boxes'"):
        without_source([dict(scene(1, "a", use_instance_boxes=True), boxes=None)])


def test_bad_inputs_and_config():
    encoder = build_encoder(CONFIG)
    with pytest.raises(ValueError, match=r"scene 'x'.*expected \(N, 6\+\)"):
        encoder([dict(scene(1, "x"), points=torch.rand(10, 3))])
    with pytest.raises(ValueError, match=r"the sample's 'boxes' \(scene 'x'\).*\(m, 6\)"):
        encoder([dict(scene(1, "x"), boxes=torch.rand(2, 7), use_instance_boxes=True)])
    with pytest.raises(TypeError, match="dict with 'points'"):
        encoder([torch.rand(10, 6)])
    with pytest.raises(ValueError, match="points_per_roi"):
        build_encoder({**CONFIG, "points_per_roi": 4})
    with pytest.raises(ValueError, match="num_heads"):
        build_encoder({**CONFIG, "num_heads": 5})
    with pytest.raises(TypeError, match="not a BasePointEncoder"):
        build_encoder({**CONFIG, "point_encoder": dict(type="ObjectAsSceneEncoder")})


def test_precomputed_roi_source_format_and_errors(tmp_path):
    rows = np.array([[0, 0, 0, 1, 1, 1, 0.2], [1, 1, 1, 1, 1, 1, 0.9], [2, 2, 2, 1, 1, 1, 0.05],
                     [3, 3, 3, 1, 1, 1, 0.9]], dtype=np.float32)  # fmt: skip
    np.save(tmp_path / "s1.npy", rows)
    source = build_roi_source(
        dict(type="PrecomputedRoISource", root=str(tmp_path), score_threshold=0.1)
    )
    boxes = source(dict(scene_id="s1"))
    assert boxes[:, 0].tolist() == [1.0, 3.0, 0.0]  # by score, ties in file order, 0.05 dropped
    top = build_roi_source(dict(type="PrecomputedRoISource", root=str(tmp_path), max_rois=1))
    assert top(dict(scene_id="s1"))[:, 0].tolist() == [1.0]
    np.save(tmp_path / "none.npy", np.zeros((0, 7), dtype=np.float32))
    assert source(dict(scene_id="none")).shape == (0, 6)

    with pytest.raises(FileNotFoundError, match=r"scene 'absent'.*absent\.npy"):
        source(dict(scene_id="absent"))
    np.save(tmp_path / "six.npy", rows[:, :6])
    with pytest.raises(ValueError, match=r"six\.npy.*shape \(4, 6\).*\(m, 7\)"):
        source(dict(scene_id="six"))
    (tmp_path / "junk.npy").write_text("not an array")
    with pytest.raises(ValueError, match=r"junk\.npy is not a readable"):
        source(dict(scene_id="junk"))
    negative = rows.copy()
    negative[0, 3] = -1
    np.save(tmp_path / "neg.npy", negative)
    with pytest.raises(ValueError, match=r"PrecomputedRoISource \(scene 'neg'\).*negative size"):
        source(dict(scene_id="neg"))
    with pytest.raises(ValueError, match="scene_id"):
        source(dict(points=None))


def test_gt_box_roi_source():
    source = build_roi_source(dict(type="GTBoxRoISource"))
    assert source(dict(boxes=None, scene_id="s")).shape == (0, 6)
    assert source(dict(boxes=[[0, 0, 0, 1, 1, 1]], scene_id="s")).dtype == torch.float32
    strict = build_roi_source(dict(type="GTBoxRoISource", require_boxes=True))
    with pytest.raises(ValueError, match="scene 's' has no 'boxes'"):
        strict(dict(boxes=None, scene_id="s"))


# --------------------------------------------------------------------------- the official release
OFFICIAL = dict(
    CONFIG, num_queries=4, num_layers=1, fusion_block="cross_self", dropout=0.1, pe_hidden=256,
    pe_activation="relu", box_encoding="corners",
)  # fmt: skip


def _lamm_attention(x, kv, block, padding=None):
    """LAMM's ``MultiHeadAttention`` (resampler3d.py) in eval mode, with ``block``'s weights.

    ``q, k, v = fc_q(x), fc_k(kv), fc_v(kv)`` split into heads; ``att = softmax(q kᵀ / √d_k)``
    with padded keys at −∞; ``out = LayerNorm(x + fc_o(att v))``.
    """
    attn = block.attn
    d, h = x.shape[-1], attn.num_heads
    wq, wk, wv = attn.in_proj_weight.chunk(3)
    bq, bk, bv = attn.in_proj_bias.chunk(3)

    def heads(t):
        return t.view(t.shape[0], t.shape[1], h, d // h).transpose(1, 2)

    q, k, v = heads(x @ wq.T + bq), heads(kv @ wk.T + bk), heads(kv @ wv.T + bv)
    att = q @ k.transpose(-1, -2) / (d // h) ** 0.5
    if padding is not None:
        att = att.masked_fill(padding[:, None, None, :], float("-inf"))
    out = (att.softmax(-1) @ v).transpose(1, 2).reshape(x.shape)
    out = out @ attn.out_proj.weight.T + attn.out_proj.bias
    return torch.nn.functional.layer_norm(x + out, (d,), block.norm.weight, block.norm.bias)


def test_paper_config_follows_the_official_release():
    from mmengine.config import Config

    from tests.configs.test_configs import CONFIG_ROOT

    cfg = Config.fromfile(CONFIG_ROOT / "_base_" / "models" / "object_as_scene.py")
    oas = cfg._object_as_scene
    # src/config/Octavius/octavius_2d+3d_e6_bs64.yaml and octavius.py (pos_3d_proj)
    assert (oas.num_queries, oas.num_layers, oas.num_heads) == (16, 1, 8)
    assert (oas.fusion_block, oas.dropout) == ("cross_self", 0.1)
    assert (oas.pe_hidden, oas.pe_activation, oas.box_encoding) == (256, "relu", "corners")


def test_official_block_is_cross_then_self_attention_as_lamm_computes_it():
    encoder = build_encoder(OFFICIAL).eval()
    layer = encoder.fusion.layers[0]
    d = encoder.point_encoder.feature_dim
    kv, queries = torch.randn(2, 5, d), torch.randn(2, 4, d)
    padding = torch.tensor([[False] * 5, [False, False, True, True, True]])
    expected = _lamm_attention(queries, kv, layer.cross_attn, padding)
    expected = _lamm_attention(expected, expected, layer.self_attn)
    torch.testing.assert_close(layer(queries, kv, padding), expected, rtol=1e-5, atol=1e-5)
    # No FFN and no final norm: the output of the last block is the fusion's output.
    assert isinstance(encoder.fusion.norm, torch.nn.Identity)
    assert not any("mlp" in n for n, _ in encoder.fusion.named_parameters())


def test_self_attention_lets_queries_see_each_other_and_cross_only_does_not():
    def response_of_query0_to_query1(config):
        encoder = build_encoder(config).eval()
        item = scene(3, "a")
        before = encoder([item]).tokens[0, 0].clone()
        with torch.no_grad():
            encoder.fusion.queries[0, 1] += 1.0
        return (encoder([item]).tokens[0, 0] - before).abs().max().item()

    assert response_of_query0_to_query1(OFFICIAL) > 1e-4
    assert response_of_query0_to_query1(CONFIG) == 0.0  # ours: queries are independent


def test_positional_embedding_is_relu_mlp_of_width_256_on_box_corners():
    encoder = build_encoder(OFFICIAL)
    first, act, second = encoder.box_embed
    assert (first.in_features, first.out_features) == (6, 256)
    assert isinstance(act, torch.nn.ReLU) and second.in_features == 256
    assert second.out_features == encoder.point_encoder.feature_dim
    boxes = torch.tensor([[1.0, 2.0, 0.5, 2.0, 1.0, 1.0]])  # centre (1, 2, 0.5), size (2, 1, 1)
    corners = torch.tensor([[0.0, 1.5, 0.0, 2.0, 2.5, 1.0]])  # LAMM: concat(min, max) of corners
    torch.testing.assert_close(encoder.encode_boxes(boxes), corners)
    ours = build_encoder(CONFIG)
    assert isinstance(ours.box_embed[1], torch.nn.GELU)
    assert ours.box_embed[0].out_features == ours.point_encoder.feature_dim
    torch.testing.assert_close(ours.encode_boxes(boxes), boxes)


def test_official_queries_and_projections_are_initialised_as_the_release():
    torch.manual_seed(0)
    encoder = build_encoder({**OFFICIAL, "num_queries": 512})
    # nn.Embedding: N(0, 1); ours: trunc-normal with std 0.02.
    assert 0.9 < encoder.fusion.queries.std().item() < 1.1
    attn = encoder.fusion.layers[0].cross_attn.attn
    assert attn.in_proj_bias.abs().max() == 0 and attn.out_proj.bias.abs().max() == 0
    d = attn.embed_dim
    bound = (6.0 / (d + d)) ** 0.5  # Xavier-uniform of each (d, d) projection
    assert (
        attn.in_proj_weight.abs().max() <= bound and attn.in_proj_weight.abs().max() > 0.9 * bound
    )
    with pytest.raises(ValueError, match="fusion_block"):
        build_encoder({**CONFIG, "fusion_block": "self"})
    with pytest.raises(ValueError, match="pe_activation"):
        build_encoder({**CONFIG, "pe_activation": "tanh"})
    with pytest.raises(ValueError, match="box_encoding"):
        build_encoder({**CONFIG, "box_encoding": "xyz"})
