"""Export a merged, standalone Hugging Face model for one routing.

Instance routing is one choice per sample, so for a fixed choice the experts fold into the base
weights, ``W' = W + Σ_k w_k·(α/r)·B_k A_k`` (Octavius §3.1), and the result is a plain causal LM
that needs neither Octavius nor a router. The choice comes from:

- an expert set: :func:`expert_set_decision` (e.g. experts 0 and 2, weighted 0.5 each), shared
  by every routed layer;
- a prompt (and task): :func:`prompt_routing` runs the model's own routing on the prompt, as
  ``generate()`` would, and records each layer's decision.

:func:`export_merged_model` merges, writes the LLM with ``save_pretrained`` (safetensors) and the
tokenizer, and restores the model's weights exactly. Token-level routing (LLaVA-MoLE) depends on
each token and cannot be merged; it is refused with a clear error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from octavius.adapters import (
    AdaptedLinear,
    BaseRouter,
    RoutingContext,
    RoutingDecision,
    merge_adapters,
    unmerge_adapters,
    use_routing_context,
)

EXPORT_INFO_FILE = "octavius_export.json"


def expert_set_decision(
    experts: Sequence[int], weights: Sequence[float] | None = None
) -> RoutingDecision:
    """An instance decision choosing ``experts`` with ``weights`` (uniform by default).

    Raises:
        ValueError: On an empty or repeated expert list, or weights of another length.
    """
    if not experts or len(set(experts)) != len(experts):
        raise ValueError(f"the expert set must list distinct experts, got {list(experts)}.")
    if weights is None:
        weights = [1.0 / len(experts)] * len(experts)
    if len(weights) != len(experts):
        raise ValueError(f"{len(experts)} experts but {len(weights)} weights.")
    return RoutingDecision(
        level="instance",
        indices=torch.tensor([list(experts)], dtype=torch.long),
        weights=torch.tensor([list(weights)], dtype=torch.float32),
    )


def _check_expert_set(llm: nn.Module, decision: RoutingDecision) -> None:
    top = int(decision.indices.max())
    for name, module in llm.named_modules():
        if isinstance(module, AdaptedLinear) and module.slot is not None:
            count = module.slot.router.num_experts
            if top >= count:
                raise ValueError(
                    f"'{name}' routes among {count} experts; the expert set names expert {top}."
                )


class DecisionCapture:
    """A routing-context recorder keeping each layer's full decision (for merging)."""

    def __init__(self) -> None:
        self.decisions: dict[str, RoutingDecision] = {}

    def __call__(self, layer: str, decision: RoutingDecision, ctx: RoutingContext) -> None:
        self.decisions[layer] = decision.detached()


@torch.no_grad()
def prompt_routing(
    model: nn.Module,
    prompt: str,
    task: str | None = None,
    template: Mapping[str, Any] | str = "VicunaV1",
    tasks: Sequence[str] | Mapping[str, int] | None = None,
) -> dict[str, RoutingDecision]:
    """Each routed layer's decision for a text prompt, as ``MultimodalLLM.generate`` makes it.

    Args:
        model: A ``MultimodalLLM``.
        prompt: The user's instruction (text).
        task: Its task type (selects the system prompt, task id and task definition).
        template: The conversation template the model was trained with.
        tasks: Task names in id order (the datasets' ``tasks``); the built-in list by default.

    Returns:
        Layer name → decision.
    """
    from octavius.data.annotation_records import Turn
    from octavius.data.encode_conversation import EncodeConversation
    from octavius.data.tasks import TASK_DEFINITIONS, normalize_task, task_id_map

    task_name = normalize_task(task) if task else "default"
    encoder = EncodeConversation(
        model.tokenizer, template, max_length=model.max_length, for_generation=True
    )
    encoded = encoder.encode([Turn("user", prompt)], task_name)
    ids = task_id_map(tasks)
    data = {
        "inputs": {
            "input_ids": [torch.tensor(encoded.input_ids)],
            "labels": [torch.tensor(encoded.labels)],
            "question_mask": [torch.tensor(encoded.question_mask)],
            "images": [[]],
            "point_clouds": [[]],
            "task_ids": [ids.get(task_name, -1)],
        },
        "data_samples": [
            {
                "sample_id": "prompt",
                "task_type": task_name,
                "task_definition": TASK_DEFINITIONS.get(task_name, ""),
            }
        ],
    }
    was_training = model.training
    model.eval()
    try:
        data = model.data_preprocessor(data, training=False)
        inputs, samples = data["inputs"], data["data_samples"]
        batch = model.prepare_inputs(inputs, samples, padding_side="left")
        ctx = model.routing_context(batch, inputs, samples)
        capture = DecisionCapture()
        ctx.recorder = capture
        with use_routing_context(ctx):
            model.llm(
                inputs_embeds=batch.inputs_embeds,
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
                use_cache=False,
            )
    finally:
        model.train(was_training)
    return capture.decisions


def _plain_key(name: str, adapted: set[str]) -> str:
    for layer in adapted:
        prefix = f"{layer}.base_layer."
        if name.startswith(prefix):
            return f"{layer}.{name[len(prefix) :]}"
    return name


def merged_state_dict(
    llm: nn.Module, decisions: RoutingDecision | Mapping[str, RoutingDecision] | None
) -> dict[str, torch.Tensor]:
    """The LLM's state dict with the experts merged in and adapter/router entries removed.

    The model itself is merged only while the merged weights are copied and is restored bit
    for bit afterwards.

    Raises:
        ValueError: When a routed layer has no decision, or its routing is token-level.
    """
    adapted = {n for n, m in llm.named_modules() if isinstance(m, AdaptedLinear)}
    dropped = [f"{n}.experts." for n in adapted]
    dropped += [f"{n}." for n, m in llm.named_modules() if isinstance(m, BaseRouter)]
    if isinstance(decisions, RoutingDecision):
        _check_expert_set(llm, decisions)
    merge_adapters(llm, decisions, exact=True)
    try:
        state = {}
        for name, tensor in llm.state_dict().items():
            if any(name.startswith(p) for p in dropped):
                continue
            plain = _plain_key(name, adapted)
            state[plain] = tensor.detach().clone() if plain != name else tensor.detach()
    finally:
        unmerge_adapters(llm)
    return state


def export_merged_model(
    llm: nn.Module,
    out_dir: str | os.PathLike,
    decisions: RoutingDecision | Mapping[str, RoutingDecision] | None,
    tokenizer: Any = None,
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``llm`` with ``decisions`` merged in as a standalone Hugging Face model directory.

    Args:
        llm: A Hugging Face causal LM with adapters injected (``MultimodalLLM.llm``).
        out_dir: The directory (``config.json``, ``model.safetensors``, tokenizer files,
            ``octavius_export.json`` describing the routing).
        decisions: One decision for every routed layer (:func:`expert_set_decision`), a mapping
            layer → decision (:func:`prompt_routing`), or ``None`` when no layer is routed.
        tokenizer: Saved beside the model when given.
        info: Extra provenance recorded in ``octavius_export.json``.

    Returns:
        ``out_dir``, loadable with ``AutoModelForCausalLM.from_pretrained``.

    Raises:
        ValueError: When the merged keys differ from those of a plain model of the same config.
    """
    from transformers import AutoModelForCausalLM

    state = merged_state_dict(llm, decisions)
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(llm.config, dtype=llm.dtype)
    expected = set(plain.state_dict())
    if set(state) != expected:
        raise ValueError(
            f"the merged weights do not match a plain {type(plain).__name__}: missing "
            f"{sorted(expected - set(state))[:5]}, unexpected {sorted(set(state) - expected)[:5]}."
        )
    plain.load_state_dict(state, strict=True, assign=True)
    plain.generation_config = llm.generation_config
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(str(out))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out))
    record: dict[str, Any] = {"format": "octavius-merged-export", **dict(info or {})}
    if isinstance(decisions, RoutingDecision):
        record["experts"] = decisions.indices[0].tolist()
        record["weights"] = decisions.weights[0].tolist()
    elif decisions:
        record["routing"] = {
            layer: {"indices": d.indices[0].tolist(), "weights": d.weights[0].tolist()}
            for layer, d in decisions.items()
        }
    (out / EXPORT_INFO_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    from octavius.export.model_card import write_model_card

    write_model_card(
        out,
        title="Octavius merged model",
        kind=(
            "A plain Hugging Face causal LM: the LoRA experts of one routing choice are merged "
            f"into the base weights (the choice is in `{EXPORT_INFO_FILE}`); no Octavius needed."
        ),
        usage=f'from transformers import AutoModelForCausalLM\n\nmodel = AutoModelForCausalLM.from_pretrained("{out.name}")',
        base_model=getattr(llm.config, "_name_or_path", None),
        model=llm,
        extra=[
            f"Routing merged: `{json.dumps({k: v for k, v in record.items() if k != 'format'})[:2000]}`"
        ],
    )
    return out
