"""tools/export.py on the tiny config: merged HF model, peft export, peft import round trip."""

from __future__ import annotations

import json
import runpy

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from octavius.checkpoints.checkpoint import save_checkpoint
from octavius.export.peft_io import peft_adapter_rules
from octavius.loading import build_model, load_model

from .tiny_setup import CONFIG, REPO, assets_root, load_tiny_config, randomize_adapters

EXPORT = REPO / "tools" / "export.py"
IDS = torch.tensor([[5, 17, 42, 99, 7, 256, 3, 64]])


@torch.no_grad()
def _logits(llm):
    return llm(input_ids=IDS).logits


def test_export_cli_round_trip(tmp_path, tmp_path_factory, monkeypatch, capsys):
    assets = assets_root(tmp_path_factory)
    cfg = load_tiny_config(monkeypatch, assets, tmp_path / "data")
    model = build_model(cfg)
    randomize_adapters(model, seed=4, scale=0.2)
    ckpt = save_checkpoint(tmp_path / "iter_1", model)
    export = runpy.run_path(str(EXPORT))["main"]

    export(["merged", str(CONFIG), str(ckpt), str(tmp_path / "hf"),
            "--prompt", "How many objects are there?", "--task", "vqa"])  # fmt: skip
    info = json.loads((tmp_path / "hf" / "octavius_export.json").read_text())
    assert info["prompt"] == "How many objects are there?" and len(info["routing"]) == 8
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    assert _logits(merged).shape == (1, IDS.shape[1], merged.config.vocab_size)

    export(["peft", str(CONFIG), str(ckpt), str(tmp_path / "peft"), "--experts", "0", "1"])
    base = AutoModelForCausalLM.from_pretrained(assets / "llama")
    expected = _logits(PeftModel.from_pretrained(base, str(tmp_path / "peft")).eval())

    capsys.readouterr()
    export(["import-peft", str(CONFIG), str(tmp_path / "peft"), str(tmp_path / "imported"),
            "--base-checkpoint", str(ckpt)])  # fmt: skip
    assert "LoRAExperts" in capsys.readouterr().out
    rules = peft_adapter_rules(tmp_path / "peft")
    cfg2 = load_tiny_config(monkeypatch, assets, tmp_path / "data", **{"model.adapters": rules})
    imported = load_model(cfg2, tmp_path / "imported")  # strict: every trainable weight present
    torch.testing.assert_close(_logits(imported.llm), expected, atol=1e-5, rtol=1e-5)
    for name in ("weight", "bias"):
        assert torch.equal(
            getattr(imported.projectors.image.proj, name),
            getattr(model.projectors.image.proj, name),
        )
