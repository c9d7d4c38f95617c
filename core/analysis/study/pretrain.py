"""Stage 0 of the study: pretrain the tiny LLaMA on text of the synthetic world, then freeze it.

The papers LoRA-tune an LLM that already speaks (Vicuna, LLaMA-2). A randomly initialised one
makes the adapters learn the language and the task at once, so the study pretrains its base first:
a LLaMA of width ``hidden_size`` and ``num_layers`` layers, all weights trained with next-token
loss on a deterministic corpus (:func:`pretrain_corpus`) written in the world's language — scene
descriptions in words, then questions about them in the Vicuna template with answers in *every*
convention the tasks use (number words and digits, shape and colour names, sizes, yes / no,
lists of objects). It never sees an image or a point cloud and none of the study's data-set
tags, so what it brings to the study is language, not the tasks.

:func:`pretrain_base` caches the result by its spec (model size, corpus, steps, seed): a second
call returns the directory at once.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from octavius.testing.asset_cache import build_dir
from octavius.testing.synthetic_2d import COLOURS, SHAPES_2D, join_words, random_shapes
from octavius.testing.synthetic_3d import random_objects

__all__ = ["STUDY_SYSTEM_PROMPT", "pretrain_base", "pretrain_corpus"]

_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six")
#: The system prompt of every document, and of every study sample (``configs/study/lora.py``).
STUDY_SYSTEM_PROMPT = "A chat between a curious human and an artificial intelligence assistant."


def _qa(question: str, answer: str) -> str:
    return f"USER: {question} ASSISTANT: {answer}</s>"


def _document(rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        world, where = random_shapes(rng, "easy"), "in the picture"
        shapes = SHAPES_2D
    else:
        world, where = random_objects(rng, "easy"), "in the room"
        shapes = ("cube", "sphere", "cylinder")
    n = len(world)
    names = [f"a {o.colour} {o.shape}" for o in world]
    lines = [f"There {'is' if n == 1 else 'are'} {join_words(names)} {where}."]
    target = world[int(rng.integers(n))]
    colour, shape = list(COLOURS)[int(rng.integers(3))], shapes[int(rng.integers(3))]
    present = {(o.colour, o.shape) for o in world}
    pool = [
        _qa("How many objects are there?", _NUMBERS[n]),
        _qa("How many objects are there? Answer with a digit.", str(n)),
        _qa(f"What colour is the {target.shape}?", target.colour),
        _qa(f"What is the {target.colour} object?", target.shape),
        _qa(f"Is there a {colour} {shape}?", "yes" if (colour, shape) in present else "no"),
        _qa(f"Is there {names[0]}?", "yes"),
    ]
    if hasattr(target, "size_word"):
        pool.append(_qa(f"How big is the {target.shape}?", target.size_word))
    else:
        pool.append(_qa("List the objects.", "; ".join(o.name for o in world)))
    picks = rng.permutation(len(pool))[:3]
    return " ".join([STUDY_SYSTEM_PROMPT, *lines, *(pool[i] for i in picks)])


def pretrain_corpus(num_documents: int, seed: int = 0) -> list[str]:
    """``num_documents`` text documents of the synthetic world (deterministic in ``seed``)."""
    return [_document(np.random.default_rng([seed, 7, i])) for i in range(num_documents)]


def pretrain_base(
    out_dir: str | Path,
    *,
    hidden_size: int = 128,
    num_layers: int = 4,
    num_heads: int = 4,
    intermediate_size: int = 256,
    steps: int = 600,
    batch_size: int = 16,
    seq_len: int = 128,
    lr: float = 3e-3,
    num_documents: int = 4000,
    seed: int = 0,
    threads: int = 2,
    log: Any = print,
) -> Path:
    """Build and pretrain the study's base LLM (cached; see the module docstring).

    Returns:
        the model directory (``from_pretrained``-loadable, tokenizer included), with
        ``pretrain.json``: loss at the start and the end, steps, minutes.
    """
    spec = dict(
        hidden_size=hidden_size, num_layers=num_layers, num_heads=num_heads,
        intermediate_size=intermediate_size, steps=steps, batch_size=batch_size,
        seq_len=seq_len, lr=lr, num_documents=num_documents, seed=seed, corpus_version=3,
    )  # fmt: skip

    def build(tmp: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from octavius.testing.tiny_assets import build_tiny_llama

        start = time.monotonic()
        build_tiny_llama(
            tmp / "init", hidden_size=hidden_size, num_layers=num_layers, num_heads=num_heads,
            num_kv_heads=num_heads // 2, intermediate_size=intermediate_size,
            initializer_range=0.02, seed=seed,
        )  # fmt: skip
        tokenizer = AutoTokenizer.from_pretrained(tmp / "init")
        model = AutoModelForCausalLM.from_pretrained(tmp / "init")
        ids = [
            tokenizer(doc, add_special_tokens=False)["input_ids"]
            for doc in pretrain_corpus(num_documents, seed)
        ]
        stream = torch.tensor([t for doc in ids for t in [tokenizer.bos_token_id, *doc]])
        windows = stream[: len(stream) // seq_len * seq_len].view(-1, seq_len)
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        gen = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        warmup = max(1, steps // 20)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        losses = []
        model.train()
        try:
            for step in range(steps):
                batch = windows[torch.randint(len(windows), (batch_size,), generator=gen)]
                loss = model(input_ids=batch, labels=batch).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(float(loss))
                if step % max(1, steps // 10) == 0 or step == steps - 1:
                    log(f"[study] stage 0 pretraining: step {step + 1}/{steps}, loss {loss:.3f}")
        finally:
            torch.set_num_threads(previous)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tail = losses[-max(1, steps // 20) :]
        report = {
            **spec,
            "parameters": sum(p.numel() for p in model.parameters()),
            "corpus_tokens": int(stream.numel()),
            "loss_first": losses[0],
            "loss_last": sum(tail) / len(tail),
            "minutes": (time.monotonic() - start) / 60,
        }
        (tmp / "pretrain.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        import shutil

        shutil.rmtree(tmp / "init", ignore_errors=True)

    return build_dir(out_dir, "study_base", spec, build)
