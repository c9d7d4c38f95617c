"""Single-LoRA adapters in peft's format, both ways.

peft saves a LoRA adapter as a directory with ``adapter_config.json`` (a ``LoraConfig``) and
``adapter_model.safetensors`` holding, for each adapted module ``M``,
``base_model.model.M.lora_A.weight`` ``(r, d_in)`` and ``base_model.model.M.lora_B.weight``
``(d_out, r)``; the delta is ``(α/r)·B A x`` — exactly one :class:`LoRAExperts` expert
(``lora_A[0]``, ``lora_B[0]ᵀ``, same scale). So:

- :func:`export_peft_adapter` writes the adapters of a Hugging Face causal LM (``model.llm``) in
  that format, loadable with ``peft.PeftModel.from_pretrained(base_model, directory)``. Layers
  with one expert and no router are exported as they are; layers with several experts export a
  chosen expert set, ``Σ_k w_k·(α/r)·B_k A_k``, exactly as one LoRA of rank ``k·r``.
- :func:`import_peft_adapter` injects ``LoRAExperts(num_experts=1)`` into the matching linears
  of a model and loads the weights; :func:`peft_adapter_rules` gives the adapter rules to put in
  a config for the same layout.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
LEGACY_WEIGHTS_FILE = "adapter_model.bin"
PREFIX = "base_model.model."
_SUFFIXES = {".lora_A.weight": "A", ".lora_B.weight": "B"}


class PeftFormatError(ValueError):
    """A peft adapter directory cannot be represented by (or read into) Octavius's LoRA experts."""


def _adapted_layers(llm: nn.Module) -> dict[str, Any]:
    from octavius.adapters import AdaptedLinear

    return {name: m for name, m in llm.named_modules() if isinstance(m, AdaptedLinear)}


def _lora_factors(
    name: str, layer: Any, experts: Sequence[int] | None, weights: Sequence[float] | None
) -> tuple[torch.Tensor, torch.Tensor, int, float]:
    """``(A (r', d_in), B (d_out, r'), r', α')`` of one layer with ``α'/r' = α/r``."""
    bank = layer.experts
    if not all(hasattr(bank, a) for a in ("lora_A", "lora_B", "rank", "alpha")):
        raise PeftFormatError(
            f"'{name}' uses {type(bank).__name__}; only LoRAExperts can be written in peft's LoRA "
            "format (export the merged model instead)."
        )
    if layer.slot is None and bank.num_experts == 1:
        chosen, w = [0], [1.0]
    elif experts is None:
        raise PeftFormatError(
            f"'{name}' has {bank.num_experts} routed experts; peft holds one LoRA per layer. Pass "
            "the expert set to export (experts=[...], expert_weights=[...])."
        )
    else:
        chosen, w = list(experts), list(weights or [1.0 / len(experts)] * len(experts))
        bad = [i for i in chosen if not 0 <= i < bank.num_experts]
        if bad:
            raise PeftFormatError(
                f"'{name}' has experts 0..{bank.num_experts - 1}; the chosen set names {bad}."
            )
    with torch.no_grad():
        idx = torch.tensor(chosen, dtype=torch.long, device=bank.lora_A.device)
        scale = torch.tensor(w, dtype=bank.lora_A.dtype, device=bank.lora_A.device)
        lora_a = (bank.lora_A[idx] * scale[:, None, None]).reshape(-1, bank.in_features)
        lora_b = bank.lora_B[idx].reshape(-1, bank.out_features).T
    # peft scales by lora_alpha / r; keeping α'/r' = α/r keeps the delta identical.
    return lora_a, lora_b, len(chosen) * bank.rank, float(bank.alpha) * len(chosen)


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def export_peft_adapter(
    llm: nn.Module,
    out_dir: str | os.PathLike,
    *,
    experts: Sequence[int] | None = None,
    expert_weights: Sequence[float] | None = None,
    base_model_name_or_path: str | None = None,
) -> Path:
    """Write the LoRA adapters of ``llm`` as a peft adapter directory.

    Args:
        llm: A Hugging Face model with adapters injected (for a ``MultimodalLLM``, its ``llm``).
        out_dir: The directory to write (created).
        experts: For layers with several routed experts: the expert indices to export.
        expert_weights: Their weights (uniform by default).
        base_model_name_or_path: Recorded in the config (the LLM's path by default).

    Returns:
        ``out_dir``.

    Raises:
        PeftFormatError: When the model has no adapters, a layer is not ``LoRAExperts``, or a
            routed layer gets no expert set.
    """
    from peft import LoraConfig

    layers = _adapted_layers(llm)
    if not layers:
        raise PeftFormatError(f"{type(llm).__name__} has no adapters to export.")
    if expert_weights is not None and (experts is None or len(expert_weights) != len(experts)):
        raise PeftFormatError("expert_weights needs one weight per entry of experts.")
    tensors: dict[str, torch.Tensor] = {}
    ranks: dict[str, int] = {}
    alphas: dict[str, int | float] = {}
    dropouts: list[float] = []
    for name, layer in layers.items():
        lora_a, lora_b, rank, alpha = _lora_factors(name, layer, experts, expert_weights)
        tensors[f"{PREFIX}{name}.lora_A.weight"] = lora_a.detach().contiguous().cpu()
        tensors[f"{PREFIX}{name}.lora_B.weight"] = lora_b.detach().contiguous().cpu()
        ranks[name], alphas[name] = rank, _number(alpha)
        dropouts.append(float(getattr(layer.experts.dropout, "p", 0.0)))
    rank = Counter(ranks.values()).most_common(1)[0][0]
    alpha = Counter(alphas.values()).most_common(1)[0][0]
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        target_modules=sorted(layers),
        rank_pattern={n: r for n, r in ranks.items() if r != rank},
        alpha_pattern={n: a for n, a in alphas.items() if a != alpha},
        lora_dropout=Counter(dropouts).most_common(1)[0][0],
        bias="none",
        fan_in_fan_out=any(layer.transposed for layer in layers.values()),
        task_type="CAUSAL_LM",
        base_model_name_or_path=base_model_name_or_path
        or getattr(getattr(llm, "config", None), "_name_or_path", None),
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(out))
    save_file(tensors, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    from octavius.export.model_card import write_model_card

    write_model_card(
        out,
        title="Octavius LoRA adapter (peft format)",
        kind=(
            "A peft LoRA adapter: single-expert layers as they are, routed layers as the expert "
            f"set {list(experts) if experts is not None else '–'} with weights "
            f"{list(expert_weights) if expert_weights is not None else 'uniform'}."
        ),
        usage=(
            "from peft import PeftModel\nfrom transformers import AutoModelForCausalLM\n\n"
            f'base = AutoModelForCausalLM.from_pretrained("{config.base_model_name_or_path}")\n'
            f'model = PeftModel.from_pretrained(base, "{out.name}")'
        ),
        base_model=config.base_model_name_or_path,
        model=llm,
    )
    return out


def read_peft_adapter(adapter_dir: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config and, per module name, ``{"A": (r, d_in), "B": (d_out, r)}`` of a peft adapter.

    Raises:
        FileNotFoundError: When the directory lacks the config or the weights.
        PeftFormatError: For a non-LoRA adapter or options LoRA experts cannot represent (DoRA,
            biases, modules_to_save, …), or unexpected weight names; the message names the file.
    """
    root = Path(adapter_dir)
    cfg_file = root / CONFIG_FILE
    if not cfg_file.is_file():
        raise FileNotFoundError(f"{cfg_file} not found: not a peft adapter directory.")
    config = json.loads(cfg_file.read_text(encoding="utf-8"))
    if config.get("peft_type") != "LORA":
        raise PeftFormatError(f"{cfg_file}: peft_type is {config.get('peft_type')!r}, not 'LORA'.")
    unsupported = {
        "use_dora": config.get("use_dora"),
        "bias": config.get("bias") not in (None, "none") and config.get("bias"),
        "modules_to_save": config.get("modules_to_save"),
        "lora_bias": config.get("lora_bias"),
        "target_parameters": config.get("target_parameters"),
    }
    bad = {k: v for k, v in unsupported.items() if v}
    if bad:
        raise PeftFormatError(
            f"{cfg_file}: {bad} cannot be represented by LoRA experts; only plain LoRA adapters "
            "(no DoRA, biases, modules_to_save or parameter targets) are imported."
        )
    if (root / WEIGHTS_FILE).is_file():
        weights_file = root / WEIGHTS_FILE
        raw = load_file(str(weights_file))
    elif (root / LEGACY_WEIGHTS_FILE).is_file():
        weights_file = root / LEGACY_WEIGHTS_FILE
        raw = torch.load(weights_file, map_location="cpu", weights_only=True)
    else:
        raise FileNotFoundError(f"{root}: neither {WEIGHTS_FILE} nor {LEGACY_WEIGHTS_FILE} found.")
    modules: dict[str, dict[str, torch.Tensor]] = {}
    strange = []
    for key, tensor in raw.items():
        suffix = next((s for s in _SUFFIXES if key.endswith(s)), None)
        if suffix is None or not key.startswith(PREFIX):
            strange.append(key)
            continue
        module = key[len(PREFIX) : -len(suffix)]
        modules.setdefault(module, {})[_SUFFIXES[suffix]] = tensor
    incomplete = sorted(m for m, ab in modules.items() if set(ab) != {"A", "B"})
    if strange or incomplete:
        raise PeftFormatError(
            f"{weights_file}: unexpected keys {strange[:5]} / modules without both lora_A and "
            f"lora_B {incomplete[:5]}; expected '{PREFIX}<module>.lora_A.weight' and '.lora_B.weight'."
        )
    return config, modules


def _pattern_value(patterns: dict[str, Any], name: str, default: Any) -> Any:
    from peft.utils.other import get_pattern_key

    key = get_pattern_key(list(patterns), name)
    return patterns.get(key, default)


def _rank_alpha(config: dict[str, Any], name: str, rank: int) -> float:
    alpha = float(_pattern_value(config.get("alpha_pattern") or {}, name, config["lora_alpha"]))
    # rsLoRA scales by α/√r; an expert scales by alpha/r, so alpha = α·√r keeps the delta.
    return alpha * math.sqrt(rank) if config.get("use_rslora") else alpha


def peft_adapter_rules(adapter_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Adapter rules (see :mod:`octavius.adapters.rules`) reproducing a peft adapter's layout.

    One rule per (rank, α) group, each ``LoRAExperts(num_experts=1)`` without a router on the
    exact module names the adapter has weights for.
    """
    config, modules = read_peft_adapter(adapter_dir)
    groups: dict[tuple[int, float], list[str]] = {}
    for name, ab in sorted(modules.items()):
        rank = int(ab["A"].shape[0])
        groups.setdefault((rank, _rank_alpha(config, name, rank)), []).append(name)
    dropout = float(config.get("lora_dropout") or 0.0)
    return [
        dict(
            name=f"peft_{i}",
            targets=names,
            experts=dict(
                type="LoRAExperts", num_experts=1, rank=rank, alpha=_number(alpha), dropout=dropout
            ),
            router=None,
        )
        for i, ((rank, alpha), names) in enumerate(sorted(groups.items()))
    ]


def import_peft_adapter(llm: nn.Module, adapter_dir: str | os.PathLike) -> Any:
    """Inject ``LoRAExperts(num_experts=1)`` into ``llm`` and load a peft adapter's weights.

    Args:
        llm: The Hugging Face model the adapter was trained on (no adapters injected yet).
        adapter_dir: A peft adapter directory.

    Returns:
        The :class:`~octavius.adapters.AdapterReport` of the injection (only the adapters are
        left trainable, as after any injection).

    Raises:
        PeftFormatError: When a module named in the adapter is missing from ``llm`` or has other
            shapes (the adapter belongs to another base model).
    """
    from octavius.adapters import inject_adapters
    from octavius.adapters.layer import linear_features

    _, modules = read_peft_adapter(adapter_dir)
    source = Path(adapter_dir) / WEIGHTS_FILE
    known = dict(llm.named_modules())
    absent = sorted(m for m in modules if m not in known)
    if absent:
        raise PeftFormatError(
            f"{source} has LoRA weights for modules {absent[:5]} that {type(llm).__name__} does "
            "not have; the adapter was trained on another base model."
        )
    for name, ab in modules.items():
        try:
            d_in, d_out = linear_features(known[name])
        except TypeError as err:
            raise PeftFormatError(f"{source}: '{name}' is not a linear layer ({err})") from None
        rank = ab["A"].shape[0]
        if ab["A"].shape != (rank, d_in) or ab["B"].shape != (d_out, rank):
            raise PeftFormatError(
                f"{source}: '{name}' has lora_A {list(ab['A'].shape)} and lora_B "
                f"{list(ab['B'].shape)}, which do not fit the layer ({d_in}→{d_out}); the "
                "adapter belongs to another model."
            )
    report = inject_adapters(llm, peft_adapter_rules(adapter_dir))
    with torch.no_grad():
        for name, ab in modules.items():
            bank = llm.get_submodule(name).experts
            bank.lora_A[0].copy_(ab["A"])
            bank.lora_B[0].copy_(ab["B"].T)
    return report
