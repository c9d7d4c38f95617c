"""Training on LAMM's precomputed 3D features through ``tools/train.py``, after ``data check``.

The fixture is Octavius's released 3D layout (OpenGVLab/LAMM ``src/datasets/dataset.py``,
``OctaviusDataset.prepare_3d_data``): ``3D_Instruct/lamm_scannet_tr3d/{ins_pc_feat,bbox}/<scene>/
<id>-<name>.npy`` with 768-d features and (8, 3) corners for a scene's proposals,
``lamm_scannet_gt/...`` for the objects samples are about, and a Scan2Inst annotation file
(``scene_id``, ``object_id``, ``object_name``, ``task_type``, ``conversations``).
"""

from __future__ import annotations

import itertools
import json
import math
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch

from octavius.checkpoints.runner_state import read_weights_file
from octavius.cli import main

REPO = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("lamm_features_train_config.py")
FEATURE_DIM = 768  # ULIP Point-BERT features, as LAMM ships them


def _write(root: Path, source: str, scene: str, stem: str, rng: np.random.Generator) -> None:
    low = rng.uniform(-3, 3, size=3)
    high = low + rng.uniform(0.3, 1.5, size=3)
    corners = np.array(list(itertools.product(*zip(low, high))), dtype=np.float32)
    feature = rng.normal(size=FEATURE_DIM).astype(np.float32)
    for kind, array in (("ins_pc_feat", feature), ("bbox", corners)):
        folder = root / source / kind / scene
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{stem}.npy", array)


def _turns(question: str, answer: str) -> list[dict]:
    return [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]


def write_lamm_3d(data_root: Path) -> None:
    """Three scenes of proposals, their ground-truth objects, and Scan2Inst samples about them."""
    rng = np.random.default_rng(0)
    features = data_root / "3D_Instruct"
    samples = []
    for s, count in enumerate((3, 5, 2)):
        scene = f"scene000{s}_00"
        for i in range(count):
            _write(features, "lamm_scannet_tr3d", scene, f"{i}-{('chair', 'table')[i % 2]}", rng)
        _write(features, "lamm_scannet_gt", scene, "7-office_chair", rng)
        samples += [
            {"scene_id": scene, "object_id": 7, "object_name": "office chair",
             "task_type": "classification3d",
             "conversations": _turns("What is this object?", "An office chair.")},
            {"scene_id": scene, "task_type": "VQA3D",
             "conversations": _turns("How many tables are there?", f"{count // 2}.")},
            {"scene_id": scene, "object_id": 7, "object_name": "office chair",
             "task_type": "description3d",
             "conversations": _turns("Describe the object.", "A grey chair by the desk.")},
        ]  # fmt: skip
    (data_root / "meta_file").mkdir(parents=True, exist_ok=True)
    (data_root / "meta_file" / "scan2inst_train.json").write_text(json.dumps(samples))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, assets):
    root = tmp_path_factory.mktemp("lamm_train")
    write_lamm_3d(root / "data")
    env = {"OCTAVIUS_TEST_ASSETS": str(assets.root), "OCTAVIUS_TEST_DATA": str(root / "data")}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        check = main(["data", "check", str(CONFIG)])
        train = runpy.run_path(str(REPO / "tools" / "train.py"))["main"]
        train([str(CONFIG), "--work-dir", str(root / "w")])
    return root, check


def test_data_check_passes_on_lamm_features(trained):
    _, check = trained
    assert check == 0


def test_training_on_lamm_features_is_finite_and_moves_the_3d_path_and_adapters(trained):
    root, _ = trained
    scalars = sorted((root / "w").glob("*/vis_data/scalars.json"))
    records = [json.loads(line) for line in scalars[-1].read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(math.isfinite(r["loss"]) and r["loss"] > 0 for r in records)
    first = read_weights_file(root / "w" / "iter_1")
    last = read_weights_file(root / "w" / "iter_3")
    moved = {k for k in first if not torch.equal(first[k], last[k])}
    assert any(k.endswith("experts.lora_B") for k in moved)
    assert any(k.endswith("experts.lora_A") for k in moved)
    for name in (
        "encoders.point_cloud.fusion.queries",
        "encoders.point_cloud.box_embed.0.weight",
        "encoders.point_cloud.fusion.layers.0.cross_attn.attn.in_proj_weight",
        "projectors.point_cloud.norm.weight",
    ):
        assert name in moved, name
    # The point encoder is frozen and never runs on feature samples: nothing of it is trained.
    assert not any(".point_encoder." in k for k in moved)


def test_collate_and_preprocessor_carry_the_features(trained, assets):
    from octavius.data import InstructionDataset
    from octavius.data.collate import instruction_collate
    from octavius.data.data_preprocessor import InstructionDataPreprocessor

    root, _ = trained
    ds = InstructionDataset(
        "meta_file/scan2inst_train.json", tokenizer=str(assets.llm), data_root=str(root / "data"),
        feature_root="3D_Instruct", add_missing_placeholder=True,
    )  # fmt: skip
    batch = instruction_collate([ds[0], ds[4]])  # a classification and a VQA sample
    tokenizer = ds.encoder.tokenizer
    out = InstructionDataPreprocessor(pad_token_id=tokenizer.pad_token_id)(batch, training=True)
    obj, scene = (items[0] for items in out["inputs"]["point_clouds"])
    assert obj["roi_features"].shape == (1, FEATURE_DIM) and obj["use_instance_boxes"]
    assert scene["roi_features"].shape == (5, FEATURE_DIM) and scene["boxes"].shape == (5, 6)
