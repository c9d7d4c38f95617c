"""Tiny causal LMs of the four supported architectures and routing contexts for them."""

from __future__ import annotations

import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from octavius.adapters import RoutingContext

VOCAB = 64
ARCHITECTURES = ("llama", "qwen2", "mistral", "gpt2")


def tiny_causal_lm(arch: str, hidden: int = 32, layers: int = 2) -> torch.nn.Module:
    """A randomly initialised causal LM of ``arch`` with a tiny config."""
    common = dict(
        vocab_size=VOCAB,
        hidden_size=hidden,
        intermediate_size=48,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    if arch == "llama":
        return LlamaForCausalLM(LlamaConfig(**common))
    if arch == "qwen2":
        return Qwen2ForCausalLM(Qwen2Config(**common))
    if arch == "mistral":
        return MistralForCausalLM(MistralConfig(**common, sliding_window=None))
    if arch == "gpt2":
        return GPT2LMHeadModel(
            GPT2Config(vocab_size=VOCAB, n_embd=hidden, n_layer=layers, n_head=4, n_positions=64)
        )
    raise ValueError(arch)


def batch(b: int = 2, n: int = 9, seed: int = 0) -> dict[str, torch.Tensor]:
    """Token ids, a left-padded attention mask and a question mask over a few real tokens."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (b, n), generator=gen)
    attention_mask = torch.ones(b, n, dtype=torch.long)
    attention_mask[1:, :2] = 0
    question_mask = torch.zeros(b, n, dtype=torch.bool)
    question_mask[:, 3:7] = True
    question_mask[-1, 3] = False
    return {"ids": ids, "attention_mask": attention_mask, "question_mask": question_mask}


def context_for(model: torch.nn.Module, data: dict[str, torch.Tensor], **extra) -> RoutingContext:
    """A routing context with every signal the built-in routers read."""
    b = data["ids"].shape[0]
    return RoutingContext(
        attention_mask=data["attention_mask"],
        question_mask=data["question_mask"],
        inputs_embeds=model.get_input_embeddings()(data["ids"]),
        task_ids=torch.arange(b) % 2,
        task_names=[f"task{i % 2}" for i in range(b)],
        task_definitions=[f"definition of task {i % 2}" for i in range(b)],
        **extra,
    )


def randomise_lora_b(model: torch.nn.Module, std: float = 0.05) -> None:
    """Give every zero-initialised B a random value, so adapters change the output."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.requires_grad and (name.endswith("lora_B") or name.endswith("factors_b")):
                param.normal_(0.0, std)
