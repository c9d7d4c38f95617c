"""LAMM / Octavius precomputed 3D features: the per-object ``.npy`` layout and the pickle cache.

Fixtures follow OpenGVLab/LAMM ``src/datasets/dataset.py`` (``OctaviusDataset.prepare_3d_data``):
``lamm_scannet_tr3d/{ins_pc_feat,bbox}/<scene>/<id>-<name>.npy`` with 768-d features and (8, 3)
box corners, and ``scan2inst_train.pickle``, the dict of per-sample lists (float16 torch tensors)
LAMM writes with ``pickle.dump``.
"""

from __future__ import annotations

import itertools
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from octavius.data import DataError, InstructionDataset
from octavius.data.lamm_features import (
    load_feature_cache,
    read_object_features,
    read_scene_features,
)
from octavius.data.safe_pickle import load_feature_pickle


def _corners(low: list[float], high: list[float]) -> np.ndarray:
    """The 8 corners of an axis-aligned box, as LAMM's bbox files hold them."""
    return np.array(list(itertools.product(*zip(low, high))), dtype=np.float32)


def _write_object(root: Path, source: str, scene: str, stem: str, value: float, low, high) -> None:
    for kind, array in (
        ("ins_pc_feat", np.full(768, value, np.float32)),
        ("bbox", _corners(low, high)),
    ):
        folder = root / source / kind / scene
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{stem}.npy", array)


def test_scene_proposals_and_the_ground_truth_object(tmp_path):
    _write_object(
        tmp_path, "lamm_scannet_tr3d", "scene0000_00", "1-table", 1.0, [0, 0, 0], [2, 1, 1]
    )
    _write_object(
        tmp_path, "lamm_scannet_tr3d", "scene0000_00", "0-chair", 0.5, [1, 1, 0], [2, 3, 1]
    )
    _write_object(
        tmp_path, "lamm_scannet_gt", "scene0000_00", "3-office_chair", 2.0, [0, 0, 0], [1, 1, 2]
    )
    scene = read_scene_features(tmp_path, "scene0000_00")
    assert scene.names == ("0-chair", "1-table")  # sorted file names, as LAMM orders them
    assert scene.features.shape == (2, 768) and scene.features.dtype == np.float32
    np.testing.assert_allclose(scene.features[:, 0], [0.5, 1.0])
    # (8, 3) corners → centre and size.
    np.testing.assert_allclose(
        scene.boxes, [[1.5, 2.0, 0.5, 1.0, 2.0, 1.0], [1.0, 0.5, 0.5, 2.0, 1.0, 1.0]]
    )
    # The sample's object_name has spaces; the file name has underscores (LAMM's loader).
    obj = read_object_features(tmp_path, "scene0000_00", 3, "office chair")
    np.testing.assert_allclose(obj.boxes, [[0.5, 0.5, 1.0, 1.0, 1.0, 2.0]])
    assert obj.features.shape == (1, 768)


def test_feature_file_holding_objects_is_refused_by_name(tmp_path):
    _write_object(
        tmp_path, "lamm_scannet_tr3d", "scene0000_00", "0-chair", 0.5, [0, 0, 0], [1, 1, 1]
    )
    bad = tmp_path / "lamm_scannet_tr3d" / "ins_pc_feat" / "scene0000_00" / "0-chair.npy"
    np.save(bad, np.array([{"feature": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(
        DataError, match=r"0-chair\.npy does not hold a plain numeric array"
    ) as info:
        read_scene_features(tmp_path, "scene0000_00")
    assert info.value.reason == "unsafe_features"


def _official_cache() -> dict:
    """Two samples as LAMM's prepare_3d_data writes them (float16 torch tensors)."""
    scene_feats = torch.ones(3, 768, dtype=torch.float16)
    scene_pos = torch.tensor([[0, 0, 0, 2, 2, 2]] * 3, dtype=torch.float16)  # min, max
    return {
        "caption_list": [
            [{"from": "human", "value": "What is it?"}, {"from": "gpt", "value": "A chair."}],
            [{"from": "human", "value": "How many?"}, {"from": "gpt", "value": "Two."}],
        ],
        "task_type_list": ["classification3d", "VQA3D"],
        "vision_embeds_3d_ref_list": [torch.full((768,), 0.5, dtype=torch.float16), torch.zeros(768, dtype=torch.float16)],
        "vision_embeds_3d_scene_prop_list": [scene_feats, scene_feats],
        "vision_pos_3d_ref_list": [torch.tensor([1, 1, 0, 2, 3, 1], dtype=torch.float16), torch.zeros(6, dtype=torch.float16)],
        "vision_pos_3d_scene_prop_list": [scene_pos, scene_pos],
        "max_proposal_num": 3,
        "scene_id_list": ["scene0000_00", "scene0000_00"],
    }  # fmt: skip


def test_official_cache_reads_without_general_unpickling(tmp_path):
    path = tmp_path / "scan2inst_train.pickle"
    path.write_bytes(pickle.dumps(_official_cache()))
    cache = load_feature_cache(path)
    assert cache["task_type_list"] == ["classification3d", "VQA3D"]
    assert cache["max_proposal_num"] == 3
    ref = cache["vision_embeds_3d_ref_list"][0]
    assert isinstance(ref, np.ndarray) and ref.dtype == np.float32 and ref.shape == (768,)
    np.testing.assert_allclose(ref, 0.5)
    # LAMM's [min, max] corners become centre and size.
    np.testing.assert_allclose(cache["vision_pos_3d_ref_list"][0], [1.5, 2.0, 0.5, 1.0, 2.0, 1.0])
    assert cache["vision_pos_3d_scene_prop_list"][1].shape == (3, 6)


class _Payload:
    """What a tampered feature file could carry: a callable run at unpickling time."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_pickle_with_code_is_refused_before_running_it(tmp_path):
    marker = tmp_path / "ran"
    cache = _official_cache()
    cache["vision_embeds_3d_ref_list"][0] = _Payload(marker)
    path = tmp_path / "scan2inst_train.pickle"
    path.write_bytes(pickle.dumps(cache))
    with pytest.raises(DataError, match=r"scan2inst_train\.pickle.*refers to posix\.mkdir") as info:
        load_feature_cache(path)
    assert info.value.reason == "unsafe_pickle"
    assert not marker.exists()


def test_cache_entry_that_is_not_an_array_names_the_key(tmp_path):
    cache = _official_cache()
    cache["vision_embeds_3d_scene_prop_list"][1] = "features.npy"
    path = tmp_path / "scanqa.pickle"
    path.write_bytes(pickle.dumps(cache))
    with pytest.raises(
        DataError, match=r"scanqa\.pickle.*'vision_embeds_3d_scene_prop_list'\[1\] is str"
    ):
        load_feature_cache(path)


def test_object_arrays_inside_a_pickle_are_refused(tmp_path):
    path = tmp_path / "features.pickle"
    path.write_bytes(pickle.dumps({"feats": np.array([1, "a"], dtype=object)}))
    with pytest.raises(DataError, match=r"features\.pickle.*\['feats'\] is an object array"):
        load_feature_pickle(path)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_arrays_round_trip_in_every_protocol(tmp_path, protocol):
    value = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [np.int64(3), (1, "x")]}
    path = tmp_path / "plain.pickle"
    path.write_bytes(pickle.dumps(value, protocol=protocol))
    loaded = load_feature_pickle(path)
    np.testing.assert_array_equal(loaded["a"], value["a"])
    assert loaded["b"] == [3, (1, "x")]


def test_scan2inst_samples_read_the_features(tmp_path, tokenizer_path):
    """Octavius's encode_pcl: object samples get their object's feature, VQA3D the proposals."""
    features = tmp_path / "3D_Instruct"
    _write_object(
        features, "lamm_scannet_tr3d", "scene0000_00", "0-chair", 0.5, [1, 1, 0], [2, 3, 1]
    )
    _write_object(
        features, "lamm_scannet_tr3d", "scene0000_00", "1-table", 1.0, [0, 0, 0], [2, 1, 1]
    )
    _write_object(
        features, "lamm_scannet_gt", "scene0000_00", "3-office_chair", 2.0, [0, 0, 0], [1, 1, 2]
    )
    conversation = [{"from": "human", "value": "What is it?"}, {"from": "gpt", "value": "A chair."}]
    samples = [
        {"scene_id": "scene0000_00", "object_id": 3, "object_name": "office chair",
         "task_type": "classification3d", "conversations": conversation},
        {"scene_id": "scene0000_00", "task_type": "VQA3D", "conversations": conversation},
        {"scene_id": "scene0000_00", "object_id": 5, "object_name": "lamp",
         "task_type": "description3d", "conversations": conversation},
    ]  # fmt: skip
    ann = tmp_path / "scan2inst_train.json"
    ann.write_text(json.dumps(samples[:2]), encoding="utf-8")
    kwargs = dict(
        tokenizer=tokenizer_path, data_root=str(tmp_path), feature_root="3D_Instruct",
        add_missing_placeholder=True,
    )  # fmt: skip
    ds = InstructionDataset("scan2inst_train.json", **kwargs)
    obj, scene = ds[0]["point_clouds"][0], ds[1]["point_clouds"][0]
    assert obj["use_instance_boxes"] and obj["roi_features"].shape == (1, 768)
    np.testing.assert_allclose(obj["roi_features"].numpy(), 2.0)
    np.testing.assert_allclose(obj["boxes"].numpy(), [[0.5, 0.5, 1.0, 1.0, 1.0, 2.0]])
    assert not scene["use_instance_boxes"] and scene["roi_features"].shape == (2, 768)
    np.testing.assert_allclose(scene["roi_features"][:, 0].numpy(), [0.5, 1.0])
    ann.write_text(json.dumps(samples[2:]), encoding="utf-8")
    with pytest.raises(DataError, match=r"scan2inst_train\.json:#0.*5-lamp\.npy"):
        InstructionDataset("scan2inst_train.json", **kwargs)
