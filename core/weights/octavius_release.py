"""The official Octavius release checkpoint (OpenGVLab/LAMM) as Octavius weights.

LAMM's ``DeepSpeedAgent.save_model`` writes ``pytorch_model.pt`` with ``torch.save`` of every
trainable parameter of its ``Octavius`` model (``src/model/Octavius/octavius.py``):

========================================================================  ====================
release key                                                               ours
========================================================================  ====================
``llama_model.base_model.model.<M>.lora_moe_A.default``  ``(E, d_in, r)``  ``llm.<M>.experts.lora_A`` ``(E, r, d_in)`` (transposed)
``llama_model.base_model.model.<M>.lora_moe_B.default``  ``(E, r, d_out)`` ``llm.<M>.experts.lora_B`` (scaled, below)
``gating_network.w_gating``                               ``(d, E)``       ``<router>.gate.weight`` ``(E, d)`` (transposed)
``llama_proj.weight`` / ``.bias``                          ``(d, 1024)``    ``projectors.image.proj.*``
``pos_3d_proj.*``, ``resampler_3d.*``, ``llama_proj_3d.*``  3D path          see below
========================================================================  ====================

The release's ``MoeLinear.forward`` adds ``Σ_e g_e (x A_e) B_e`` with no ``lora_alpha / r``
factor, while a :class:`~octavius.plugins.experts.lora_experts.LoRAExperts` bank scales its
delta by ``alpha / rank``; ``B`` is divided by that scale so the delta is the same (the release
trains with ``r = alpha = 32``, a scale of 1). The gate, ``softmax(mean_n(x_n W))`` over the
question's token embeddings (``Top2Gating`` with ``reduce_token=True``), equals
:class:`~octavius.plugins.routers.instance.InstanceRouter`'s ``softmax(W z^qu)`` with
``W = w_gatingᵀ`` (a mean of linear maps is the linear map of the mean); the release's random
dropping of the second expert at training time is a training policy, not a weight.

The release's 3D path reads precomputed object features through ``pos_3d_proj`` (a 6→256→768
ReLU MLP), ``resampler_3d`` (post-norm cross- and self-attention with ``fc_q/k/v/o``) and
``llama_proj_3d`` (a linear and a LayerNorm). Object-As-Scene here is built differently
(a pre-norm cross-attention :class:`~octavius.models.query_fusion.QueryFusion` over live
Point-BERT features), so those tensors have no counterpart: they are reported as ignored, by
name, and the point-cloud encoder keeps its own weights (or those of ``base_checkpoint``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from octavius.weights.key_map import KeyMapReport, KeyRule, load_mapped, map_keys
from octavius.weights.tensor_file import read_tensor_file

__all__ = ["RELEASE_3D_KEYS", "import_octavius_release", "octavius_release_rules"]

_PEFT_PREFIX = r"llama_model\.base_model\.model\."
#: The release's 3D-path tensors (no counterpart here, see the module docstring).
RELEASE_3D_KEYS = {
    r"(pos_3d_proj|resampler_3d|llama_proj_3d)\..*": (
        "the release's 3D resampler (post-norm cross/self-attention over precomputed object "
        "features) has no counterpart in ObjectAsSceneEncoder; the point-cloud encoder keeps "
        "its own weights"
    ),
}


def _instance_routers(model: nn.Module) -> list[str]:
    from octavius.plugins.routers.instance import InstanceRouter

    return [n for n, m in model.named_modules() if isinstance(m, InstanceRouter)]


def _expert_banks(model: nn.Module) -> dict[str, Any]:
    from octavius.adapters import AdaptedLinear

    return {n: m.experts for n, m in model.named_modules() if isinstance(m, AdaptedLinear)}


def octavius_release_rules(model: nn.Module) -> list[KeyRule]:
    """The key rules from the release's names to ``model``'s (a ``MultimodalLLM``)."""
    banks = _expert_banks(model)

    def scale_b(tensor: Tensor, target: str) -> Tensor:
        bank = banks.get(target.removesuffix(".experts.lora_B"))
        scale = float(getattr(bank, "scale", 1.0))
        return tensor / scale

    routers = _instance_routers(model)
    return [
        KeyRule(
            _PEFT_PREFIX + r"(.+)\.lora_moe_A\.default",
            r"llm.\1.experts.lora_A",
            lambda t, _: t.transpose(1, 2).contiguous(),
            "LoRA-MoE A (E, d_in, r) → (E, r, d_in)",
        ),
        KeyRule(
            _PEFT_PREFIX + r"(.+)\.lora_moe_B\.default",
            r"llm.\1.experts.lora_B",
            scale_b,
            "LoRA-MoE B (E, r, d_out), divided by the bank's alpha/rank",
        ),
        KeyRule(
            r"gating_network\.w_gating",
            lambda _: [f"{r}.gate.weight" for r in routers] or ["<no InstanceRouter>.gate.weight"],
            lambda t, _: t.T.contiguous(),
            "instance gate (d, E) → (E, d), into every InstanceRouter",
        ),
        KeyRule(r"llama_proj\.(weight|bias)", r"projectors.image.proj.\1", None, "image projector"),
    ]


def expected_release_params(model: nn.Module) -> list[str]:
    """The parameters a release checkpoint fills: experts, instance gates, image projector."""
    names = []
    for layer in _expert_banks(model):
        names += [f"{layer}.experts.lora_A", f"{layer}.experts.lora_B"]
    names += [f"{r}.gate.weight" for r in _instance_routers(model)]
    params = dict(model.named_parameters())
    names += [
        n for n in ("projectors.image.proj.weight", "projectors.image.proj.bias") if n in params
    ]
    return names


def import_octavius_release(
    model: nn.Module, path: str | os.PathLike, *, strict: bool = True
) -> KeyMapReport:
    """Load the release's ``pytorch_model.pt`` into ``model`` (read with ``weights_only=True``).

    Args:
        model: a ``MultimodalLLM`` built with the release's layout (LoRA-MoE on the attention
            projections, an ``InstanceRouter``, a ``LinearProjector`` for images), e.g. from
            ``configs/octavius_2d3d.py``.
        path: the release file.
        strict: every expert, gate and image-projector parameter must come from the file.

    Returns:
        The report (mapped, ignored, and — when not strict — missing keys).

    Raises:
        octavius.weights.WeightsImportError: naming every unmatched, unknown, mis-shaped or
            (strict) missing key; the model is unchanged then.
    """
    weights = read_tensor_file(path)
    params = dict(model.named_parameters())
    tensors, report = map_keys(
        weights,
        octavius_release_rules(model),
        params,
        source=str(Path(path)),
        expected=expected_release_params(model),
        ignore=RELEASE_3D_KEYS,
    )
    return load_mapped(model, tensors, report, strict=strict)
