"""N peft LoRA adapters as the N experts of one bank (X-LoRA's layout).

X-LoRA (Buehler & Buehler, 2024) keeps several separately trained LoRA adapters of one base
model and mixes them with a learned gate. Here every adapted linear gets one
:class:`~octavius.plugins.experts.lora_experts.LoRAExperts` bank whose expert ``k`` is adapter
``k`` — ``E_k(x) = (α_k/r_k)·B_k A_k x`` exactly — and a router (Octavius's instance gate by
default, trained from scratch) chooses among them.

Adapters may differ in rank and α. A bank has one rank ``r`` and one scale ``α/r``, so each
module's bank takes the largest rank of its adapters; smaller ``A_k``/``B_k`` are padded with zero
rows/columns (``B A`` is unchanged) and, when the scales differ, ``B_k`` carries
``(α_k/r_k) / (α/r)`` so every expert's delta is the adapter's own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from octavius.export.peft_io import PeftFormatError, _number, _rank_alpha, read_peft_adapter

__all__ = ["import_peft_bank", "peft_bank_rules"]


def _read_all(
    adapter_dirs: Sequence[str | os.PathLike],
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    if len(adapter_dirs) < 1:
        raise PeftFormatError("import_peft_bank needs at least one peft adapter directory.")
    adapters = [read_peft_adapter(d) for d in adapter_dirs]
    first = set(adapters[0][1])
    for directory, (_, modules) in zip(adapter_dirs[1:], adapters[1:]):
        if set(modules) != first:
            only_here = sorted(set(modules) - first)[:5]
            only_first = sorted(first - set(modules))[:5]
            raise PeftFormatError(
                f"{directory} adapts other modules than {adapter_dirs[0]} (only here: {only_here}; "
                f"only there: {only_first}); the experts of one bank must adapt the same linears."
            )
    return adapters


def _layout(
    adapters: list[tuple[dict[str, Any], dict[str, Any]]],
) -> dict[str, tuple[int, float, list[float]]]:
    """Per module: the bank's rank and α, and each adapter's scale ``α_k/r_k``."""
    layout = {}
    for module in sorted(adapters[0][1]):
        ranks, alphas = [], []
        for config, modules in adapters:
            rank = int(modules[module]["A"].shape[0])
            ranks.append(rank)
            alphas.append(_rank_alpha(config, module, rank))
        scales = [a / r for a, r in zip(alphas, ranks)]
        rank = max(ranks)
        alpha = alphas[0] * rank / ranks[0] if len(set(scales)) == 1 else float(rank)
        layout[module] = (rank, alpha, scales)
    return layout


def peft_bank_rules(
    adapter_dirs: Sequence[str | os.PathLike],
    router: Mapping[str, Any] | None = None,
    sharing: str = "global",
) -> list[dict[str, Any]]:
    """Adapter rules for a bank of ``len(adapter_dirs)`` experts on the adapters' modules.

    Args:
        adapter_dirs: peft LoRA adapter directories of one base model.
        router: router config; an Octavius top-2 ``InstanceRouter`` (top-1 for two adapters or
            fewer) by default.
        sharing: router sharing of the rules (``"global"``: one gate for the model).
    """
    adapters = _read_all(adapter_dirs)
    n = len(adapters)
    if router is None:
        router = dict(type="InstanceRouter", top_k=2 if n > 2 else 1)
    dropout = float(adapters[0][0].get("lora_dropout") or 0.0)
    groups: dict[tuple[int, float], list[str]] = {}
    for module, (rank, alpha, _) in _layout(adapters).items():
        groups.setdefault((rank, alpha), []).append(module)
    return [
        dict(
            name=f"peft_bank_{i}",
            targets=modules,
            experts=dict(
                type="LoRAExperts", num_experts=n, rank=rank, alpha=_number(alpha), dropout=dropout
            ),
            router=dict(router),
            sharing=sharing,
        )
        for i, ((rank, alpha), modules) in enumerate(sorted(groups.items()))
    ]


def import_peft_bank(
    llm: nn.Module,
    adapter_dirs: Sequence[str | os.PathLike],
    router: Mapping[str, Any] | None = None,
    sharing: str = "global",
) -> tuple[Any, list[dict[str, Any]]]:
    """Inject one bank per adapted linear into ``llm`` and load adapter ``k`` as expert ``k``.

    Args:
        llm: the Hugging Face model the adapters were trained on, without adapters.
        adapter_dirs: peft LoRA adapter directories (same base model, same target modules).
        router: see :func:`peft_bank_rules`.
        sharing: see :func:`peft_bank_rules`.

    Returns:
        The injection's :class:`~octavius.adapters.AdapterReport` and the rules (to put in the
        config that loads the saved weights, as ``model.adapters=dict(rules=...)``).

    Raises:
        PeftFormatError: when the adapters adapt different modules, name modules ``llm`` lacks,
            or have shapes that do not fit them (naming the directory and the module).
    """
    from octavius.adapters import inject_adapters
    from octavius.adapters.layer import linear_features

    adapters = _read_all(adapter_dirs)
    known = dict(llm.named_modules())
    for directory, (_, modules) in zip(adapter_dirs, adapters):
        for module, ab in modules.items():
            if module not in known:
                raise PeftFormatError(
                    f"{directory}: LoRA weights for '{module}', which {type(llm).__name__} does "
                    "not have; the adapter was trained on another base model."
                )
            d_in, d_out = linear_features(known[module])
            rank = ab["A"].shape[0]
            if ab["A"].shape != (rank, d_in) or ab["B"].shape != (d_out, rank):
                raise PeftFormatError(
                    f"{directory}: '{module}' has lora_A {list(ab['A'].shape)} and lora_B "
                    f"{list(ab['B'].shape)}, which do not fit the layer ({d_in}→{d_out})."
                )
    rules = peft_bank_rules(adapter_dirs, router, sharing)
    report = inject_adapters(llm, rules)
    layout = _layout(adapters)
    with torch.no_grad():
        for module, (rank, alpha, scales) in layout.items():
            bank = llm.get_submodule(module).experts
            bank.lora_A.zero_()
            bank.lora_B.zero_()
            for k, (_, modules) in enumerate(adapters):
                a, b = modules[module]["A"], modules[module]["B"]
                r = a.shape[0]
                bank.lora_A[k, :r].copy_(a)
                bank.lora_B[k, :r].copy_(b.T * (scales[k] / (alpha / rank)))
    return report, rules


def adapter_names(adapter_dirs: Sequence[str | os.PathLike]) -> list[str]:
    """Expert names for a report: the adapter directories' names."""
    return [Path(d).name for d in adapter_dirs]
