"""The benchmarked model, its batch, and one timed training step.

Every variant is a copy of one base model that shares the base's (frozen) weights, so holding all
variants in one process costs one set of base weights plus the adapters, and every variant
multiplies exactly the same numbers.
"""

from __future__ import annotations

import copy
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from octavius.adapters.context import RoutingContext, use_routing_context
from octavius.benchmark.options import ModelSetup


def build_base_model(setup: ModelSetup, seed: int = 0) -> LlamaForCausalLM:
    """A randomly initialised fp32 LLaMA causal LM of the given size, in training mode.

    ``use_cache`` is off (training; peft's X-LoRA refuses a model with the cache on).
    """
    config = LlamaConfig(
        hidden_size=setup.hidden_size,
        num_hidden_layers=setup.num_layers,
        num_attention_heads=setup.num_heads,
        num_key_value_heads=setup.num_heads,
        intermediate_size=setup.intermediate_size,
        vocab_size=setup.vocab_size,
        max_position_embeddings=max(2048, setup.seq_len),
        use_cache=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.float32)
    return model.train()


def describe_model(model: LlamaForCausalLM) -> dict[str, Any]:
    """Architecture facts of the base model for the benchmark's ``setup``."""
    config = model.config
    return {
        "architecture": type(model).__name__,
        "hidden_size": config.hidden_size,
        "num_layers": config.num_hidden_layers,
        "num_heads": config.num_attention_heads,
        "num_kv_heads": config.num_key_value_heads,
        "intermediate_size": config.intermediate_size,
        "vocab_size": config.vocab_size,
        "tie_word_embeddings": bool(config.tie_word_embeddings),
        "attn_implementation": config._attn_implementation,
        "total_params": sum(p.numel() for p in model.parameters()),
    }


def clone_with_shared_weights(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whose parameters and buffers are the original tensors.

    Adapters replace modules in the copy only; the shared base weights are frozen by every
    variant and never updated (the benchmark takes no optimizer step).
    """
    memo = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    return copy.deepcopy(model, memo)


@dataclass
class StepBatch:
    """One batch: token ids (also the labels), attention mask, question mask.

    Attributes:
        input_ids: ``(b, n)`` random token ids.
        attention_mask: ``(b, n)`` all ones (no padding).
        question_mask: ``(b, n)`` the first half of the tokens — what an instance router pools.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    question_mask: torch.Tensor = field(repr=False)


def make_batch(setup: ModelSetup, seed: int = 0) -> StepBatch:
    """The batch every variant is timed on (seeded, identical across processes)."""
    generator = torch.Generator().manual_seed(seed)
    shape = (setup.batch_size, setup.seq_len)
    input_ids = torch.randint(0, setup.vocab_size, shape, generator=generator)
    question_mask = torch.zeros(shape, dtype=torch.bool)
    question_mask[:, : setup.seq_len // 2] = True
    return StepBatch(input_ids, torch.ones(shape, dtype=torch.long), question_mask)


@dataclass
class PreparedVariant:
    """A model with one variant's adapters, ready to be stepped.

    Attributes:
        name: the variant's name.
        model: the adapted model (a peft model, or the LLaMA model with adapters injected).
        trainable_params: parameters with ``requires_grad``, counted on the model.
        embeds_require_grad: make the input embeddings a leaf that requires grad, so a model
            without trainable parameters still runs its backward pass through the whole graph.
        info: extra facts reported with the variant (adapted linears, routers, notes).
    """

    name: str
    model: nn.Module
    trainable_params: int
    embeds_require_grad: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_model(cls, name: str, model: nn.Module, **kwargs: Any) -> PreparedVariant:
        """Wrap ``model`` in training mode and count its trainable parameters."""
        model.train()
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return cls(name=name, model=model, trainable_params=trainable, **kwargs)


def train_step(variant: PreparedVariant, batch: StepBatch) -> float:
    """One forward + backward of the LM loss, in milliseconds; gradients are cleared after.

    The step runs inside a routing context carrying the input embeddings, the attention mask
    and the question mask (the first half of the tokens), as the multimodal model sets it.
    No optimizer step is taken or timed.
    """
    model = variant.model
    start = time.perf_counter()
    embeds = model.get_input_embeddings()(batch.input_ids)  # (b, n, d)
    if variant.embeds_require_grad:
        embeds = embeds.detach().requires_grad_(True)
    ctx = RoutingContext(
        attention_mask=batch.attention_mask,
        question_mask=batch.question_mask,
        inputs_embeds=embeds,
    )
    with use_routing_context(ctx):
        out = model(
            inputs_embeds=embeds, attention_mask=batch.attention_mask, labels=batch.input_ids
        )
        out.loss.backward()
    elapsed = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    return 1000.0 * elapsed
