"""The release's 3D path (``pos_3d_proj``, ``resampler_3d``, ``llama_proj_3d``) in Object-As-Scene.

The fixture has exactly the names and the shape pattern of OpenGVLab/LAMM's ``Octavius`` 3D
modules (``src/model/Octavius/octavius.py`` and ``resampler3d.py``: ``pos_3d_proj =
Sequential(Linear(6, 256), ReLU, Linear(256, hidden_size_rsp_3d))``, ``Resampler3D`` with an
``nn.Embedding`` of queries and ``cross_attn``/``self_attn`` lists of ``MultiHeadAttention``
(``attention.fc_q/k/v/o``, ``layer_norm``), ``llama_proj_3d = Sequential(Linear(hidden_size_rsp_3d,
5120), LayerNorm(5120))``), scaled down: width 32 instead of 768, 4 queries, 2 heads, 2 layers,
the tiny LLM's width instead of 5120. The reference below is the release's forward, written
from its code (``encode_pcl``, ``Resampler3D.forward``, ``MultiHeadAttention.forward``,
``ScaledDotProductAttention.forward``) and run on the file's tensors, not on our modules.
"""

from __future__ import annotations

import collections
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from octavius.data.lamm_features import read_scene_features
from octavius.models.multimodal_llm import MultimodalLLM
from octavius.weights import WeightsImportError, import_octavius_release

from .conftest import model_config, write
from .test_octavius_release import release_state

WIDTH, QUERIES, HEADS, LAYERS = 32, 4, 2, 2  # hidden_size/num_query/num_heads/num_layers_rsp_3d
POINT_BERT = dict(
    type="PointBERT", in_channels=6, trans_dim=16, depth=1, num_heads=2, group_size=8,
    num_group=8, encoder_dims=16, num_points=64,
)  # fmt: skip  # feature_dim = 2 * trans_dim = WIDTH


def config_3d(assets, **encoder) -> dict:
    """The weights-test model plus a release-style Object-As-Scene and LayerNorm projector."""
    cfg = model_config(
        assets,
        projector=dict(
            image=dict(type="LinearProjector"),
            point_cloud=dict(type="LinearProjector", norm=True),
        ),
    )
    cfg["model"]["encoders"]["point_cloud"] = dict(
        type="ObjectAsSceneEncoder", point_encoder=POINT_BERT, num_rois=8, points_per_roi=64,
        num_queries=QUERIES, num_layers=LAYERS, num_heads=HEADS, fusion_block="cross_self",
        dropout=0.1, pe_hidden=256, pe_activation="relu", box_encoding="corners", **encoder,
    )  # fmt: skip
    return cfg


@pytest.fixture()
def model_3d(tiny_assets):
    from octavius.loading import load_model

    return load_model(config_3d(tiny_assets), eval_mode=True)


def release_3d_state(hidden: int, seed: int = 1) -> collections.OrderedDict:
    """The 3D tensors of the release's ``pytorch_model.pt``, named and shaped as LAMM's modules."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=g) * 0.2

    state = collections.OrderedDict()
    state["pos_3d_proj.0.weight"], state["pos_3d_proj.0.bias"] = rand(256, 6), rand(256)
    state["pos_3d_proj.2.weight"], state["pos_3d_proj.2.bias"] = rand(WIDTH, 256), rand(WIDTH)
    state["resampler_3d.query_embed.weight"] = torch.randn(QUERIES, WIDTH, generator=g)
    for kind in ("cross_attn", "self_attn"):
        for i in range(LAYERS):
            block = f"resampler_3d.{kind}.{i}."
            for fc in ("fc_q", "fc_k", "fc_v", "fc_o"):  # h * d_k = WIDTH
                state[f"{block}attention.{fc}.weight"] = rand(WIDTH, WIDTH)
                state[f"{block}attention.{fc}.bias"] = rand(WIDTH)
            state[f"{block}layer_norm.weight"] = 1 + rand(WIDTH)
            state[f"{block}layer_norm.bias"] = rand(WIDTH)
    state["llama_proj_3d.0.weight"], state["llama_proj_3d.0.bias"] = (
        rand(hidden, WIDTH),
        rand(hidden),
    )
    state["llama_proj_3d.1.weight"], state["llama_proj_3d.1.bias"] = 1 + rand(hidden), rand(hidden)
    return state


def full_release_state(model) -> collections.OrderedDict:
    """The 2D tensors of ``release_state`` with the 3D ones above."""
    state = collections.OrderedDict(
        (k, v)
        for k, v in release_state(model).items()
        if not k.startswith(("pos_3d_proj", "resampler_3d", "llama_proj_3d"))
    )
    state.update(release_3d_state(model.llm.config.hidden_size))
    return state


def lamm_attention(w, block, queries, keys, values, attention_mask=None):
    """LAMM ``MultiHeadAttention.forward`` (no identity-map reordering, eval: no dropout)."""
    b_s, nq = queries.shape[:2]
    nk = keys.shape[1]
    d_k = WIDTH // HEADS

    def fc(name, x):
        return F.linear(x, w[f"{block}attention.{name}.weight"], w[f"{block}attention.{name}.bias"])

    q = fc("fc_q", queries).view(b_s, nq, HEADS, d_k).permute(0, 2, 1, 3)
    k = fc("fc_k", keys).view(b_s, nk, HEADS, d_k).permute(0, 2, 3, 1)
    v = fc("fc_v", values).view(b_s, nk, HEADS, d_k).permute(0, 2, 1, 3)
    att = torch.matmul(q, k) / np.sqrt(d_k)
    if attention_mask is not None:
        att = att.masked_fill(attention_mask == 0, -np.inf)
    att = torch.softmax(att, -1)
    if attention_mask is not None:
        att = att.masked_fill(attention_mask == 0, 0)
    out = torch.matmul(att, v).permute(0, 2, 1, 3).contiguous().view(b_s, nq, HEADS * d_k)
    out = fc("fc_o", out)
    return F.layer_norm(
        queries + out, (WIDTH,), w[f"{block}layer_norm.weight"], w[f"{block}layer_norm.bias"]
    )


def lamm_encode_pcl(w, embeds, pos, mask):
    """LAMM ``Octavius.encode_pcl`` after the task-type switch: ``(b, n, C)``, ``(b, n, 6)``, ``(b, n)``."""
    pos_embed = F.linear(
        F.relu(F.linear(pos, w["pos_3d_proj.0.weight"], w["pos_3d_proj.0.bias"])),
        w["pos_3d_proj.2.weight"],
        w["pos_3d_proj.2.bias"],
    )
    x = embeds + pos_embed
    mask = mask.unsqueeze(1).repeat(1, QUERIES, 1).unsqueeze(1).repeat(1, HEADS, 1, 1)
    out = w["resampler_3d.query_embed.weight"].unsqueeze(0).repeat(x.shape[0], 1, 1)
    for i in range(LAYERS):
        out = lamm_attention(w, f"resampler_3d.cross_attn.{i}.", out, x, x, attention_mask=mask)
        out = lamm_attention(w, f"resampler_3d.self_attn.{i}.", out, out, out)
    out = F.linear(out, w["llama_proj_3d.0.weight"], w["llama_proj_3d.0.bias"])
    hidden = out.shape[-1]
    return F.layer_norm(out, (hidden,), w["llama_proj_3d.1.weight"], w["llama_proj_3d.1.bias"])


def write_lamm_scene(root, scene_id: str, count: int, seed: int) -> None:
    """``lamm_scannet_tr3d/{ins_pc_feat,bbox}/<scene>/<id>-<name>.npy`` as LAMM ships them."""
    rng = np.random.default_rng(seed)
    for kind in ("ins_pc_feat", "bbox"):
        (root / "lamm_scannet_tr3d" / kind / scene_id).mkdir(parents=True)
    for i in range(count):
        stem = f"{i}-chair"
        feat = rng.normal(size=WIDTH).astype(np.float32)
        low = rng.uniform(-2, 2, size=3)
        high = low + rng.uniform(0.2, 1.0, size=3)
        corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1])
                            for z in (low[2], high[2])])  # fmt: skip
        np.save(root / "lamm_scannet_tr3d" / "ins_pc_feat" / scene_id / f"{stem}.npy", feat)
        np.save(root / "lamm_scannet_tr3d" / "bbox" / scene_id / f"{stem}.npy", corners)


def lamm_batch(root, scenes: list[str]):
    """What LAMM's ``get_3d_data`` + collate give: zero-padded features, min/max corners, mask."""
    loaded = []
    for scene_id in scenes:
        folder = root / "lamm_scannet_tr3d"
        stems = sorted(p.stem for p in (folder / "ins_pc_feat" / scene_id).glob("*.npy"))
        feats = [np.load(folder / "ins_pc_feat" / scene_id / f"{s}.npy") for s in stems]
        corners = [np.load(folder / "bbox" / scene_id / f"{s}.npy") for s in stems]
        pos = [np.concatenate([c.min(axis=0), c.max(axis=0)]) for c in corners]
        loaded.append((torch.tensor(np.stack(feats)), torch.tensor(np.stack(pos)).float()))
    n = max(f.shape[0] for f, _ in loaded)
    embeds, pos, mask = (
        torch.zeros(len(scenes), n, WIDTH),
        torch.zeros(len(scenes), n, 6),
        torch.zeros(len(scenes), n),
    )
    for i, (f, p) in enumerate(loaded):
        embeds[i, : len(f)], pos[i, : len(f)], mask[i, : len(f)] = f, p, 1
    return embeds, pos, mask


def our_items(root, scenes: list[str]) -> list[dict]:
    """The point-cloud items our loader makes of the same files."""
    items = []
    for scene_id in scenes:
        found = read_scene_features(root, scene_id)
        items.append(
            dict(
                roi_features=torch.from_numpy(found.features),
                boxes=torch.from_numpy(found.boxes),
                scene_id=scene_id,
                use_instance_boxes=False,
            )
        )
    return items


def test_release_3d_keys_all_map_onto_object_as_scene(model_3d, tmp_path):
    state = full_release_state(model_3d)
    report = import_octavius_release(model_3d, write(tmp_path / "pytorch_model.pt", state))
    assert report.ok and not report.ignored
    three_d = [k for k in state if k.startswith(("pos_3d_proj", "resampler_3d", "llama_proj_3d"))]
    assert set(three_d) <= set(report.mapped)
    assert report.mapped["resampler_3d.self_attn.1.attention.fc_k.weight"] == [
        "encoders.point_cloud.fusion.layers.1.self_attn.attn.in_proj_weight"
    ]
    attn = model_3d.encoders["point_cloud"].fusion.layers[0].cross_attn.attn
    block = "resampler_3d.cross_attn.0.attention."
    torch.testing.assert_close(
        attn.in_proj_weight.detach(),
        torch.cat([state[f"{block}fc_{x}.weight"] for x in "qkv"]),
    )


def test_our_fusion_equals_the_release_forward(model_3d, tmp_path):
    state = full_release_state(model_3d)
    import_octavius_release(model_3d, write(tmp_path / "pytorch_model.pt", state))
    scenes = ["scene0000_00", "scene0001_00"]
    for seed, (scene_id, count) in enumerate(zip(scenes, (3, 6))):
        write_lamm_scene(tmp_path, scene_id, count, seed)
    expected = lamm_encode_pcl(state, *lamm_batch(tmp_path, scenes))
    with torch.no_grad():
        tokens, valid = model_3d.encode_modality("point_cloud", our_items(tmp_path, scenes))
    assert tokens.shape == (2, QUERIES, model_3d.llm.config.hidden_size) and valid.all()
    torch.testing.assert_close(tokens, expected, rtol=1e-4, atol=1e-4)
    # The second scene alone gives the same tokens: padding in the batch changes nothing.
    with torch.no_grad():
        alone, _ = model_3d.encode_modality("point_cloud", our_items(tmp_path, scenes[1:]))
    torch.testing.assert_close(alone[0], expected[1], rtol=1e-4, atol=1e-4)


def test_mis_shaped_missing_and_misplaced_3d_keys_are_named(tiny_assets, model_3d, tmp_path):
    state = full_release_state(model_3d)
    state["resampler_3d.cross_attn.0.attention.fc_k.weight"] = torch.randn(WIDTH, WIDTH + 1)
    del state["resampler_3d.self_attn.1.attention.fc_v.bias"]
    before = model_3d.encoders["point_cloud"].fusion.queries.detach().clone()
    with pytest.raises(WeightsImportError) as err:
        import_octavius_release(model_3d, write(tmp_path / "bad.pt", state))
    text = str(err.value)
    assert "resampler_3d.cross_attn.0.attention.fc_k.weight" in text and "part 2 of 3" in text
    assert "fusion.layers.1.self_attn.attn.in_proj_bias (part(s) [3] of 3" in text
    torch.testing.assert_close(model_3d.encoders["point_cloud"].fusion.queries, before)
    # Our other fusion block has no place for the release's resampler: every key is named.
    from octavius.loading import load_model

    cross_cfg = config_3d(tiny_assets)
    cross_cfg["model"]["encoders"]["point_cloud"].update(fusion_block="cross")
    cross = load_model(cross_cfg, eval_mode=True)
    with pytest.raises(WeightsImportError) as err:
        import_octavius_release(cross, write(tmp_path / "full.pt", full_release_state(cross)))
    text = str(err.value)
    assert "40 source key(s) naming parameters the model lacks" in text  # every resampler block
    assert (
        "resampler_3d.cross_attn.0.attention.fc_k.bias →"
        " encoders.point_cloud.fusion.layers.0.cross_attn.attn.in_proj_bias" in text
    )


def _inputs(model, items):
    ids = model.tokenizer("Describe the room.", add_special_tokens=False)["input_ids"]
    row = [*ids[:2], model.placeholder_ids["point_cloud"], *ids[2:]]
    input_ids = torch.tensor([row, row])
    return {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "question_mask": torch.ones_like(input_ids, dtype=torch.bool),
        "images": [[], []],
        "point_clouds": [[item] for item in items],
    }


def test_round_trip_with_the_3d_path_same_logits(model_3d, tmp_path):
    import_octavius_release(
        model_3d, write(tmp_path / "pytorch_model.pt", full_release_state(model_3d))
    )
    scenes = ["scene0000_00", "scene0001_00"]
    for seed, (scene_id, count) in enumerate(zip(scenes, (2, 5))):
        write_lamm_scene(tmp_path, scene_id, count, seed)
    items = our_items(tmp_path, scenes)
    with torch.no_grad():
        before = model_3d(_inputs(model_3d, items), None, mode="tensor")
    out = model_3d.save_pretrained(tmp_path / "model")
    moved = tmp_path / "moved"
    shutil.move(str(out), moved)
    loaded = MultimodalLLM.from_pretrained(moved)
    with torch.no_grad():
        torch.testing.assert_close(loaded(_inputs(loaded, items), None, mode="tensor"), before)
        # The imported 3D weights matter: other queries give other logits.
        loaded.encoders["point_cloud"].fusion.queries.add_(1.0)
        changed = loaded(_inputs(loaded, items), None, mode="tensor")
    assert not torch.allclose(changed, before, atol=1e-4)
