"""Answers to a batch of prompts through Hugging Face ``generate``, with per-request routing.

``generate_batch`` splices the modality tokens into the prompt embeddings (left-padded, so every
prompt ends at the last column; positions come from the attention mask, so a padded sample
decodes as it would alone) and calls the LLM's own ``generate`` with ``inputs_embeds``: greedy,
sampling (temperature / top-p / top-k), beam search, repetition penalty, stop strings, streamers —
whatever ``transformers.GenerationConfig`` offers. As in LLaVA, only the generated tokens are
returned, and logits processors such as the repetition penalty see the generated tokens only
(the prompt exists as embeddings).

Routing (see :mod:`octavius.inference.routing_plan`): decided once from the prompt and held for
the whole answer, per sample — a batch whose samples route to different experts runs in one
unmerged pass; a request may pin its experts (:mod:`octavius.inference.pinning`); with
``merge=True`` a batch that shares one routing runs merged (``W + ΔW``) and is restored after.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from octavius.adapters.context import use_routing_context
from octavius.data.templates import IGNORE_INDEX
from octavius.inference.pinning import PinnedRouting, parse_pin, pin_routers
from octavius.inference.routing_plan import (
    decide_from_context,
    expand_context,
    expansion,
    has_adapters,
    merged_for_batch,
    shared_decisions,
)
from octavius.inference.routing_report import AnswerRoutingRecorder
from octavius.models.generation import GenerationResult, check_task_limits, task_limits

__all__ = ["generate_batch", "generation_config_for", "seeded"]


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Seed torch's CPU generator inside the block and restore the caller's state after it."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def generation_config_for(model: Any, overrides: Mapping[str, Any]) -> Any:
    """The model's ``GenerationConfig`` updated with ``overrides`` and validated.

    Raises:
        ValueError: for keys ``GenerationConfig`` does not know, naming them.
    """
    config = copy.deepcopy(model.generation_config)
    overrides = dict(overrides)
    if "task_max_new_tokens" in overrides:
        config.task_max_new_tokens = check_task_limits(overrides.pop("task_max_new_tokens"))
    unused = config.update(**overrides)
    if unused:
        raise ValueError(
            f"unknown generation settings {sorted(unused)}; use transformers.GenerationConfig "
            "fields (max_new_tokens, do_sample, temperature, top_p, top_k, num_beams, "
            "repetition_penalty, stop_strings, ...)."
        )
    config.validate()
    if int(config.num_return_sequences or 1) != 1:
        raise ValueError("num_return_sequences must be 1; send the request several times instead.")
    return config


def _trim(row: list[int], eos: set[int]) -> list[int]:
    for i, token in enumerate(row):
        if token in eos:
            return row[:i]
    return row


def _cut_at_stop(text: str, stops: Sequence[str]) -> str:
    cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
    return text[: min(cuts)] if cuts else text


def _unpack(inputs: Mapping[str, Any], data_samples: Any) -> tuple[Mapping[str, Any], Any]:
    if "inputs" in inputs and "input_ids" not in inputs:
        return inputs["inputs"], inputs.get("data_samples", data_samples)
    return inputs, data_samples


@torch.no_grad()
def generate_batch(
    model: Any,
    inputs: Mapping[str, Any],
    data_samples: Sequence[Mapping[str, Any]] | None = None,
    *,
    routing: Sequence[PinnedRouting | Mapping[str, Any] | None] | None = None,
    merge: bool = False,
    return_routing: bool = False,
    streamer: Any = None,
    seed: int | None = None,
    **generation_kwargs: Any,
) -> GenerationResult:
    """Answer a batch of prompts.

    Args:
        model: a :class:`~octavius.models.MultimodalLLM`.
        inputs: the data preprocessor's ``inputs`` (any padding side), or its whole output
            ``{"inputs": ..., "data_samples": ...}``.
        data_samples: the samples' metadata (task names and definitions for routing).
        routing: per sample, a pinned routing (``{"experts": [...], "weights": [...]}``) or
            ``None`` to let the routers decide.
        merge: when every routed layer ends up with one routing shared by the batch, merge the
            experts into the base weights for this call (restored exactly afterwards).
        return_routing: report each answer's experts and weights per layer.
        streamer: a transformers streamer (``TextIteratorStreamer``…); batch of one only.
        seed: seed for sampling, so that the same request gives the same answer.
        **generation_kwargs: ``transformers.GenerationConfig`` fields for this call.

    Returns:
        Texts (cut at the first stop string), token ids (up to the first EOS), and with
        ``return_routing`` the routing of every answer; ``merged`` tells whether it ran merged.
    """
    inputs, data_samples = _unpack(inputs, data_samples)
    labels = inputs.get("labels")
    if labels is not None and bool((torch.as_tensor(labels) != IGNORE_INDEX).any()):
        raise ValueError(
            "generate() got samples that contain responses (labels other than -100); build the "
            "dataset with test_mode=True so it encodes generation prompts."
        )
    config = generation_config_for(model, generation_kwargs)
    batch = model.prepare_inputs(inputs, data_samples, padding_side="left")
    size = batch.attention_mask.shape[0]
    # Each answer stops at its task's limit; the batch decodes up to the longest of them.
    per_task = task_limits(config)
    tasks = [str(s.get("task_type", "")) for s in data_samples] if data_samples else [""] * size
    limits = [min(per_task.get(t, config.max_new_tokens), config.max_new_tokens) for t in tasks]
    config.max_new_tokens = max(limits)
    pins = [parse_pin(p) for p in routing] if routing is not None else None
    if pins is not None and len(pins) != size:
        raise ValueError(f"routing has {len(pins)} entries for a batch of {size} samples.")
    copies = expansion(config.num_beams, config.num_return_sequences)
    llm = model.llm
    with pin_routers(llm, pins):
        ctx = model.routing_context(batch, inputs, data_samples)
        decide_from_context(llm, ctx)
        ctx = expand_context(ctx, copies)
        recorder = AnswerRoutingRecorder(size, copies) if return_routing else None
        ctx.recorder = recorder
        plan = shared_decisions(llm, ctx) if merge and has_adapters(llm) else None
        merging = merged_for_batch(llm, plan) if plan is not None else contextlib.nullcontext()
        with use_routing_context(ctx), merging, seeded(seed):
            out = llm.generate(
                inputs_embeds=batch.inputs_embeds,
                attention_mask=batch.attention_mask,
                generation_config=config,
                streamer=streamer,
                tokenizer=model.tokenizer if config.stop_strings else None,
            )
    eos = config.eos_token_id
    eos = set(eos if isinstance(eos, (list, tuple)) else [] if eos is None else [eos])
    stops = [config.stop_strings] if isinstance(config.stop_strings, str) else config.stop_strings
    token_ids, texts, truncated = [], [], []
    for row, limit in zip(out.tolist(), limits):
        row = row[:limit]
        ids = _trim(row, eos)
        decoded = model.tokenizer.decode(ids, skip_special_tokens=True)
        text = _cut_at_stop(decoded, stops or ())
        token_ids.append(ids)
        texts.append(text.strip())
        truncated.append(len(ids) == len(row) and text == decoded and len(row) >= limit)
    report = recorder.report(plan) if recorder is not None else None
    return GenerationResult(
        texts=texts,
        token_ids=token_ids,
        routing=report,
        merged=plan is not None,
        truncated=truncated,
    )
