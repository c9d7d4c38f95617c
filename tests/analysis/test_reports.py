"""The analyses end to end on a configured MultimodalLLM: checkpoint, datasets, JSON and PNG files."""

from __future__ import annotations

import json

import pytest
import torch
from mmengine.config import Config
from safetensors.torch import save_file

from octavius.analysis.report_files import evenly_spaced, interference_report, routing_report
from octavius.analysis.task_batches import build_split_dataset, group_by_task, task_label
from octavius.loading import load_model
from octavius.registry import ENCODERS
from octavius.testing.synthetic import make_synthetic
from octavius.testing.tiny_assets import build_tiny_assets


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    assets = build_tiny_assets()  # cached between runs
    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic(
        root,
        num_images=8,
        num_scenes=4,
        image_size=32,
        tasks=["vqa", "classification"],
        progress=False,
    )
    oas = ENCODERS.get("ObjectAsSceneEncoder").example_config(root)

    def dataset(split):
        common = dict(
            type="InstructionDataset",
            tokenizer=str(assets.llm),
            data_root=str(root),
            image_root="images",
            point_root="scenes",
            test_mode=split == "test",
        )
        return dict(
            type="MixtureDataset",
            datasets=[
                dict(ann_file=f"annotations/{m}_{split}.json", **common) for m in ("2d", "3d")
            ],
        )

    return Config(
        dict(
            model=dict(
                type="MultimodalLLM",
                llm=str(assets.llm),
                encoders=dict(
                    image=dict(type="CLIPImageEncoder", pretrained=str(assets.clip)),
                    point_cloud=dict(type="ObjectAsSceneEncoder", **oas),
                ),
                projector=dict(type="MLPProjector"),
                adapters=dict(preset="octavius", experts=dict(num_experts=4, rank=2, dropout=0.0)),
            ),
            train_dataloader=dict(dataset=dataset("train")),
            test_dataloader=dict(dataset=dataset("test")),
        )
    )


def test_evenly_spaced():
    assert evenly_spaced(list(range(10)), 3) == [0, 4, 9]
    assert evenly_spaced([1, 2], 5) == [1, 2]
    assert evenly_spaced([1, 2], 0) == []


def test_checkpoint_and_datasets(cfg, tmp_path):
    model = load_model(cfg)
    weights = {n: torch.full_like(p, 0.01) for n, p in model.named_parameters() if p.requires_grad}
    save_file(weights, tmp_path / "weights.safetensors")
    loaded = load_model(cfg, tmp_path / "weights.safetensors")
    assert not loaded.training
    for name, param in loaded.named_parameters():
        if param.requires_grad:
            assert torch.equal(param, weights[name]), name
    del weights[next(iter(weights))]
    save_file(weights, tmp_path / "partial.safetensors")
    with pytest.raises(ValueError, match="missing key"):
        load_model(cfg, tmp_path / "partial.safetensors")

    prompts = build_split_dataset(cfg, "test")
    full = build_split_dataset(cfg, "test", with_responses=True)
    assert (prompts[0]["labels"] == -100).all() and (full[0]["labels"] != -100).any()
    groups = group_by_task(prompts, "{dataset}/{task_type}")
    assert sorted(groups) == [
        "2d_test/classification",
        "2d_test/vqa",
        "3d_test/classification",
        "3d_test/vqa",
    ]
    assert task_label({"task_type": "vqa"}) == "vqa"
    with pytest.raises(KeyError, match="reads the field 'modality'"):
        task_label({"task_type": "vqa"}, "{modality}")
    with pytest.raises(KeyError, match=r"no 'val_dataloader\.dataset'"):
        build_split_dataset(cfg, "val")


def test_routing_and_interference_reports(cfg, tmp_path):
    model = load_model(cfg)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("lora_B"):
                param.normal_(0.0, 0.1)
    report = routing_report(model, build_split_dataset(cfg, "test"), tmp_path, batch_size=4)
    data = json.loads((tmp_path / "routing_maps.json").read_text())
    assert data["tasks"] == ["vqa", "classification"]
    (only,) = data["maps"]  # one global instance router for every q/k/v/o
    assert len(only["same_as"]) == 7 and only["quantity"] == "routing weight"
    mean = only["tasks"]["vqa"]["mean"]  # each share is written rounded to 6 decimals
    assert only["tasks"]["vqa"]["samples"] == 3 and abs(sum(mean) - 1) <= len(mean) * 5e-7 + 1e-12
    assert report.files["png"].stat().st_size > 0 and report.files["tsne"].stat().st_size > 0

    train = build_split_dataset(cfg, "train", with_responses=True)
    scores = interference_report(
        model,
        train,
        tmp_path,
        task_key="{dataset}/{task_type}",
        tasks=["2d_train/vqa", "3d_train/vqa"],
        batch_size=2,
        batches_per_task=2,
    )
    assert scores.groups == ["model.layers.0.self_attn", "model.layers.1.self_attn"]
    for part in ("A", "B"):
        torch.testing.assert_close(scores.mean(part).diagonal(), torch.ones(2, dtype=torch.float64))
    saved = json.loads((tmp_path / "interference.json").read_text())
    assert saved["tasks"] == ["2d_train/vqa", "3d_train/vqa"] and saved["num_batches"] == {
        "2d_train/vqa": 2,
        "3d_train/vqa": 2,
    }
    assert (tmp_path / "interference.png").is_file()
    assert (tmp_path / "interference_model.layers.1.self_attn.png").is_file()
