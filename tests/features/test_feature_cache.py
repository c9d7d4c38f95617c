"""The frozen-feature cache: cached training equals live training; stale or foreign caches fail.

The reference is live training of the same quickstart model on the same batches: reading the
frozen encoders' outputs from the cache must give the same loss at every step (1e-5), and
training from the cache must not run the frozen encoders at all.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from octavius.benchmark.features import Trainer, _rebase, cached_config, quickstart_config
from octavius.data.errors import DataError
from octavius.features import FeatureCacheError, FeatureStore, build_feature_cache
from octavius.features.feature_store import INDEX_FILE
from octavius.models.base_encoder import build_encoder

STEPS = 3


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("feature_cache")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = quickstart_config(root, num_images=8, num_scenes=4)
    cfg.model["encoders"]["point_cloud"]["train_resampling"] = False
    report = build_feature_cache(cfg, root / "cache", progress=False)
    return cfg, root, report


def _copy(setup, tmp_path: Path):
    """The setup's data, assets and cache copied under ``tmp_path`` (free to damage)."""
    cfg, root, _ = setup
    shutil.copytree(root, tmp_path, dirs_exist_ok=True)
    copy = type(cfg)(_rebase(cfg.to_dict(), str(root), str(tmp_path)))
    # Scene entries name the RoI files they were computed from: the moved ones are new files.
    report = build_feature_cache(copy, tmp_path / "cache", progress=False)
    assert report["encoded"]["image"] == 0 and report["rebuilt"] == []
    return copy, tmp_path / "cache"


def test_the_cache_holds_every_training_image_and_scene(setup):
    _, root, report = setup
    index = json.loads((root / "cache" / INDEX_FILE).read_text())
    assert report["encoded"] == {m: len(index["entries"][m]) for m in ("image", "point_cloud")}
    assert all(n > 0 for n in report["encoded"].values())
    assert {s["file"] for s in index["shards"]} == {
        p.name for p in (root / "cache").glob("*.safetensors")
    }


def test_cached_training_equals_live_training(setup):
    cfg, root, _ = setup
    live = Trainer(cfg)
    cached = Trainer(cached_config(cfg, root / "cache"))

    def frozen_encoder_ran(*args, **kwargs):
        raise AssertionError("a frozen encoder ran while training from the cache")

    cached.model.encoders["image"].model.forward = frozen_encoder_ran
    cached.model.encoders["point_cloud"].point_encoder.encode_points = frozen_encoder_ran
    for step in range(STEPS):
        picks = live.batch_indices(step, 4)
        assert cached.step(picks) == pytest.approx(live.step(picks), abs=1e-5)
    for (name, a), b in zip(live.model.named_parameters(), cached.model.parameters()):
        if a.requires_grad:
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0, msg=name)


def test_an_edited_image_misses_the_cache_until_it_is_rebuilt(setup, tmp_path):
    cfg, cache = _copy(setup, tmp_path)
    trainer = Trainer(cached_config(cfg, cache))
    part = trainer.parts[0]  # the 2D dataset
    path = Path(part.get_data_info(0)["image_paths"][0])
    Image.new("RGB", (32, 32), (255, 0, 0)).save(path)
    with pytest.raises(DataError, match="no image entry") as err:
        part[0]
    assert str(path) in str(err.value)
    report = build_feature_cache(cfg, cache, progress=False)
    assert report["encoded"]["image"] == 1 and report["encoded"]["point_cloud"] == 0
    trainer = Trainer(cached_config(cfg, cache))
    assert trainer.parts[0][0]["images"][0].source == str(path)


def test_a_changed_encoder_config_is_refused_then_rebuilt(setup, tmp_path):
    cfg, cache = _copy(setup, tmp_path)
    cfg.model["encoders"]["image"]["feature_layer"] = -1  # was the penultimate layer
    trainer = Trainer(cached_config(cfg, cache))
    with pytest.raises(ValueError, match=r"stale for model\.encoders\.image") as err:
        trainer.step(trainer.batch_indices(0, 2))
    assert "cache_features.py" in str(err.value)
    report = build_feature_cache(cfg, cache, progress=False)
    assert report["rebuilt"] == ["image"] and report["encoded"]["point_cloud"] == 0
    trainer = Trainer(cached_config(cfg, cache))
    assert torch.isfinite(torch.tensor(trainer.step(trainer.batch_indices(0, 2))))


def test_a_changed_roi_file_is_refused(setup, tmp_path):
    cfg, cache = _copy(setup, tmp_path)
    trainer = Trainer(cached_config(cfg, cache))
    scenes = trainer.parts[1]
    index = next(i for i in range(len(scenes)) if scenes.get_data_info(i)["object_id"] is None)
    scene_id = scenes.get_data_info(index)["scene_id"]
    roi_file = Path(cfg.model["encoders"]["point_cloud"]["roi_source"]["root"]) / f"{scene_id}.npy"
    roi_file.write_bytes(roi_file.read_bytes() + b"\0")
    with pytest.raises(DataError, match="changed or is gone") as err:
        scenes[index]
    assert str(roi_file) in str(err.value)


def test_a_corrupt_shard_is_refused_by_name(setup, tmp_path):
    _, cache = _copy(setup, tmp_path)
    store = FeatureStore(cache)
    modality, entries = "image", store.index["entries"]["image"]
    key = next(iter(entries))
    shard = cache / store.index["shards"][entries[key]["shard"]]["file"]
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(FeatureCacheError, match="checksum") as err:
        FeatureStore(cache).read(modality, key)
    assert str(shard) in str(err.value)


def test_a_foreign_shard_is_refused_by_name(setup, tmp_path):
    _, cache = _copy(setup, tmp_path)
    index = json.loads((cache / INDEX_FILE).read_text())
    key, entry = next(iter(index["entries"]["image"].items()))
    shard = cache / index["shards"][entry["shard"]]["file"]
    tensors = {f"{key}/{n}": torch.zeros(2, 2) for n in entry["tensors"]}
    save_file(tensors, shard, metadata={"format": "something-else"})
    from octavius.features.fingerprint import file_sha256

    index["shards"][entry["shard"]]["sha256"] = file_sha256(shard)  # a consistent index
    (cache / INDEX_FILE).write_text(json.dumps(index))
    with pytest.raises(FeatureCacheError, match="another cache") as err:
        FeatureStore(cache).read("image", key)
    assert str(shard) in str(err.value)


def test_a_directory_without_index_is_not_a_cache(tmp_path):
    with pytest.raises(FeatureCacheError, match=r"cache_features\.py"):
        FeatureStore(tmp_path)


def test_trainable_encoders_cannot_be_cached(setup):
    cfg, _, _ = setup
    image = build_encoder(dict(cfg.model["encoders"]["image"], frozen=False))
    with pytest.raises(ValueError, match="frozen=True"):
        image.frozen_module()
    scene = dict(cfg.model["encoders"]["point_cloud"])
    scene["point_encoder"] = dict(scene["point_encoder"], frozen=False)
    with pytest.raises(ValueError, match="point encoder trains"):
        build_encoder(scene).frozen_features([])
