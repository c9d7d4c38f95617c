"""import → save_pretrained → from_pretrained gives the same logits, without the original config."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from octavius.models.multimodal_llm import MultimodalLLM
from octavius.models.pretrained_dir import MODEL_FILE, PretrainedDirError
from octavius.weights import import_octavius_release

from .conftest import write
from .test_octavius_release import release_state


def _inputs(model):
    ids = model.tokenizer("Where is the red cube? Answer briefly.", add_special_tokens=False)[
        "input_ids"
    ]
    input_ids = torch.tensor([ids, ids[::-1]])
    return {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "question_mask": torch.ones_like(input_ids, dtype=torch.bool),
        "images": [[], []],
        "point_clouds": [[], []],
    }


@torch.no_grad()
def _logits(model):
    return model(_inputs(model), None, mode="tensor")


def test_round_trip_same_logits(tiny_model, tmp_path):
    import_octavius_release(
        tiny_model, write(tmp_path / "pytorch_model.pt", release_state(tiny_model))
    )
    before = _logits(tiny_model)
    out = tiny_model.save_pretrained(tmp_path / "model", metrics={"vqa/accuracy": 0.5})
    names = {p.name for p in out.iterdir()}
    assert {
        MODEL_FILE,
        "adapters.safetensors",
        "README.md",
        "generation_config.json",
        "assets",
    } <= names
    assert (out / "assets" / "llm" / "config.json").is_file()  # the base LLM travels along
    card = (out / "README.md").read_text()
    assert "InstanceRouter" in card and "vqa/accuracy" in card
    moved = tmp_path / "moved"
    shutil.move(str(out), moved)  # works from anywhere: no absolute path inside
    loaded = MultimodalLLM.from_pretrained(moved)
    torch.testing.assert_close(_logits(loaded), before)
    # The imported experts change the logits, so equality above is not the base model's alone.
    fresh = MultimodalLLM.from_pretrained(moved)
    for name, param in fresh.named_parameters():
        if name.endswith("lora_B"):
            param.data.zero_()
    assert not torch.allclose(_logits(fresh), before, atol=1e-4)


def test_reference_mode_checks_the_base_llm(tiny_assets, tmp_path):
    from octavius.loading import load_model

    from .conftest import model_config

    llm = tmp_path / "llm"
    shutil.copytree(tiny_assets.llm, llm)
    cfg = model_config(tiny_assets)
    cfg["model"]["llm"] = str(llm)
    model = load_model(cfg)
    out = model.save_pretrained(tmp_path / "ref", base_llm="reference")
    document = json.loads((out / MODEL_FILE).read_text())
    assert document["assets"]["llm"]["path"] == str(llm.resolve())
    torch.testing.assert_close(_logits(MultimodalLLM.from_pretrained(out)), _logits(model))
    weights = next(llm.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(PretrainedDirError, match="has changed"):
        MultimodalLLM.from_pretrained(out)
