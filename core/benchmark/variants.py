"""The benchmarked adapter variants, by name.

All adapted variants target the same linears of every decoder layer — q/k/v/o of attention and
gate/up/down of the MLP, i.e. every linear inside the decoder layers — except LLaVA-MoLE's, whose
MoE sits on the MLP with plain LoRA on attention (its paper's layout). Dropout is 0 everywhere so
no variant pays for a mask the others skip.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from octavius.adapters import inject_adapters
from octavius.benchmark.model import PreparedVariant
from octavius.benchmark.options import ModelSetup

#: Every linear of a LLaMA decoder layer (module-name suffixes).
DECODER_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class VariantUnavailableError(RuntimeError):
    """An optional variant cannot run in this environment; the reason is reported, not raised."""


@dataclass(frozen=True)
class Variant:
    """One benchmarked configuration.

    Attributes:
        name: the variant's name in the JSON and the table.
        summary: one line saying what it is.
        build: adapts a copy of the base model: ``build(model, setup) -> PreparedVariant``.
        optional: when it fails to build or step, record it as skipped with the reason.
        peft_rank: the rank of a peft LoRA baseline (the layer benchmark builds peft's LoRA
            layers with it); ``None`` for every other variant.
        whole_model_only: the variant needs a whole causal LM (the layer benchmark skips it).
    """

    name: str
    summary: str
    build: Callable[[nn.Module, ModelSetup], PreparedVariant]
    optional: bool = False
    peft_rank: int | None = None
    whole_model_only: bool = False


def _frozen_base(model: nn.Module, setup: ModelSetup) -> PreparedVariant:
    model.requires_grad_(False)
    return PreparedVariant.from_model(
        "frozen_base",
        model,
        embeds_require_grad=True,
        info={"note": "no trainable parameters; inputs_embeds require grad so backward runs"},
    )


def _peft_lora(rank: int) -> Callable[[nn.Module, ModelSetup], PreparedVariant]:
    def build(model: nn.Module, setup: ModelSetup) -> PreparedVariant:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            task_type="CAUSAL_LM",
            r=rank,
            lora_alpha=2 * rank,
            lora_dropout=0.0,
            target_modules=list(DECODER_LINEARS),
        )
        peft_model = get_peft_model(model, config)
        adapted = sum(1 for name, _ in peft_model.named_modules() if name.endswith(DECODER_LINEARS))
        return PreparedVariant.from_model(
            f"peft_lora_r{rank}", peft_model, info={"adapted_linears": adapted}
        )

    return build


def _injected(
    name: str, rules: dict[str, Any]
) -> Callable[[nn.Module, ModelSetup], PreparedVariant]:
    def build(model: nn.Module, setup: ModelSetup) -> PreparedVariant:
        report = inject_adapters(model, rules)
        prepared = PreparedVariant.from_model(
            name,
            model,
            info={
                "adapted_linears": len(report.adapted),
                "routers": len(report.routers),
                "adapted_per_rule": dict(report.per_rule),
            },
        )
        if prepared.trainable_params != report.trainable_params:
            raise RuntimeError(
                f"{name}: the model has {prepared.trainable_params} trainable parameters but "
                f"inject_adapters reported {report.trainable_params}."
            )
        return prepared

    return build


def _xlora(model: nn.Module, setup: ModelSetup) -> PreparedVariant:
    from octavius.benchmark.xlora import build_xlora

    return build_xlora(model, setup, targets=DECODER_LINEARS)


_NO_DROPOUT = {"dropout": 0.0}

VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("frozen_base", "no adapters, base frozen", _frozen_base),
        Variant(
            "peft_lora_r32", "peft LoRA r32 on q/k/v/o + gate/up/down", _peft_lora(32), peft_rank=32
        ),
        Variant(
            "peft_lora_r4", "peft LoRA r4 on q/k/v/o + gate/up/down", _peft_lora(4), peft_rank=4
        ),
        Variant(
            "moe_instance_e4_top2_r16",
            "InstanceRouter (global) top-2 of 4 LoRAExperts r16 on q/k/v/o + gate/up/down",
            _injected(
                "moe_instance_e4_top2_r16",
                dict(
                    preset="octavius",
                    experts={"num_experts": 4, "rank": 16, "alpha": 32.0, **_NO_DROPOUT},
                    router={"top_k": 2},
                    targets=list(DECODER_LINEARS),
                ),
            ),
        ),
        Variant(
            "moe_token_e4_top1_r32",
            "TokenRouter (per MLP block) top-1 of 4 LoRAExperts r32 on gate/up/down, LoRA r32 on q/k/v/o",
            _injected(
                "moe_token_e4_top1_r32",
                dict(
                    preset="llava_mole",
                    experts={"num_experts": 4, "rank": 32, "alpha": 64.0, **_NO_DROPOUT},
                    router={"top_k": 1},
                    attention={"rank": 32, "alpha": 64.0, **_NO_DROPOUT},
                ),
            ),
        ),
        Variant(
            "moe_dense_e4_r32",
            "InstanceRouter (global) dense weighted sum of 4 LoRAExperts r32 on q/k/v/o + gate/up/down",
            _injected(
                "moe_dense_e4_r32",
                dict(
                    preset="octavius",
                    experts={"num_experts": 4, "rank": 32, "alpha": 64.0, **_NO_DROPOUT},
                    router={"mode": "dense"},
                    targets=list(DECODER_LINEARS),
                ),
            ),
        ),
        Variant(
            "mixlora_e16_r4",
            "LoRAFactorPool E16 r4 + ConditionalFactorRouter on every decoder linear",
            _injected(
                "mixlora_e16_r4",
                dict(preset="mixlora", experts={"num_factors": 16, "rank": 4, **_NO_DROPOUT}),
            ),
        ),
        Variant(
            "peft_xlora_e4_r32",
            "peft X-LoRA: 4 LoRA r32 adapters on q/k/v/o + gate/up/down, dense token classifier",
            _xlora,
            optional=True,
            whole_model_only=True,
        ),
    )
}

#: The variant names, in reporting order.
VARIANT_NAMES: tuple[str, ...] = tuple(VARIANTS)


def select_variants(names: Sequence[str] | None) -> tuple[str, ...]:
    """Validate a ``--variants`` list (all variants when empty), keeping the given order."""
    if not names:
        return VARIANT_NAMES
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        hints = {n: difflib.get_close_matches(n, VARIANT_NAMES, n=2) for n in unknown}
        raise ValueError(
            f"Unknown benchmark variant(s) {unknown} (closest: {hints}); choose from "
            f"{', '.join(VARIANT_NAMES)}."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"--variants lists a variant twice: {list(names)}.")
    return tuple(names)


def build_variant(name: str, model: nn.Module, setup: ModelSetup) -> PreparedVariant:
    """Adapt ``model`` (a copy of the base model) as variant ``name``.

    Raises:
        VariantUnavailableError: an optional variant failed to build; the message is the reason.
    """
    variant = VARIANTS[name]
    if not variant.optional:
        return variant.build(model, setup)
    try:
        return variant.build(model, setup)
    except Exception as err:
        raise VariantUnavailableError(f"{type(err).__name__}: {err}") from err
