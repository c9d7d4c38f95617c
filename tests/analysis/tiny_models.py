"""A tiny adapted causal LM and task batches for the analysis tests."""

from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from octavius.adapters import RoutingContext, inject_adapters, use_routing_context

VOCAB = 48


def tiny_lm(adapters: object, seed: int = 0) -> torch.nn.Module:
    """A 2-layer LLaMA (width 16) with ``adapters`` injected and B factors made non-zero."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=16,
        intermediate_size=24,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=32,
    )
    model = LlamaForCausalLM(config)
    inject_adapters(model, adapters)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("lora_B", "factors_b")):
                param.normal_(0.0, 0.2)
    return model


def task_batch(task: int, b: int = 3, n: int = 7, seed: int = 0) -> dict[str, torch.Tensor]:
    """Token ids of one task: task 0 draws from the low half of the vocabulary, task 1 the top."""
    gen = torch.Generator().manual_seed(seed * 10 + task)
    low, high = (0, VOCAB // 2) if task == 0 else (VOCAB // 2, VOCAB)
    ids = torch.randint(low, high, (b, n), generator=gen)
    return {"ids": ids, "mask": torch.ones(b, n, dtype=torch.long)}


def context(model: torch.nn.Module, batch: dict[str, torch.Tensor], **extra) -> RoutingContext:
    """The routing signals every built-in router reads."""
    question = torch.zeros_like(batch["mask"], dtype=torch.bool)
    question[:, :4] = True
    return RoutingContext(
        attention_mask=batch["mask"],
        question_mask=question,
        inputs_embeds=model.get_input_embeddings()(batch["ids"]),
        **extra,
    )


def lm_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Next-token loss of a batch inside its routing context."""
    with use_routing_context(context(model, batch)):
        return model(input_ids=batch["ids"], attention_mask=batch["mask"], labels=batch["ids"]).loss


def recorded_forward(model: torch.nn.Module):
    """A ``forward(batch, recorder)`` for :func:`octavius.analysis.capture_routing`."""

    def forward(batch: dict[str, torch.Tensor], recorder) -> None:
        with use_routing_context(context(model, batch, recorder=recorder)):
            model(input_ids=batch["ids"], attention_mask=batch["mask"])

    return forward


REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
