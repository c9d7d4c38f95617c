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
``pos_3d_proj.*``, ``resampler_3d.*``, ``llama_proj_3d.*``  3D path          ``encoders.point_cloud.*``, ``projectors.point_cloud.*`` (below)
========================================================================  ====================

The release's ``MoeLinear.forward`` adds ``Σ_e g_e (x A_e) B_e`` with no ``lora_alpha / r``
factor, while a :class:`~octavius.plugins.experts.lora_experts.LoRAExperts` bank scales its
delta by ``alpha / rank``; ``B`` is divided by that scale so the delta is the same (the release
trains with ``r = alpha = 32``, a scale of 1). The gate, ``softmax(mean_n(x_n W))`` over the
question's token embeddings (``Top2Gating`` with ``reduce_token=True``), equals
:class:`~octavius.plugins.routers.instance.InstanceRouter`'s ``softmax(W z^qu)`` with
``W = w_gatingᵀ`` (a mean of linear maps is the linear map of the mean); the release's random
dropping of the second expert at training time is a training policy, not a weight.

The release's 3D path (``encode_pcl``) reads precomputed object features through
``pos_3d_proj`` (``Linear(6, 256) → ReLU → Linear(256, 768)`` on the boxes' min/max corners),
``resampler_3d`` (``Resampler3D``: 16 ``nn.Embedding`` queries, per layer a post-norm
cross-attention to the objects then a self-attention among the queries, each
``MultiHeadAttention`` with separate ``fc_q/k/v/o`` linears and a ``layer_norm``) and
``llama_proj_3d`` (``Linear(768, d) → LayerNorm(d)``). They load into an
:class:`~octavius.plugins.encoders.object_as_scene.ObjectAsSceneEncoder` built as the release
(``fusion_block='cross_self'``, ``pe_hidden=256``, ``pe_activation='relu'``,
``box_encoding='corners'``; ``configs/_base_/models/object_as_scene.py``) and a point-cloud
``LinearProjector(norm=True)``:

==========================================================  ==========================================
release key                                                 ours (under ``encoders.point_cloud.``)
==========================================================  ==========================================
``pos_3d_proj.{0,2}.{weight,bias}``                         ``box_embed.{0,2}.*``
``resampler_3d.query_embed.weight`` ``(q, d)``              ``fusion.queries`` ``(1, q, d)``
``resampler_3d.<X>_attn.<i>.attention.fc_{q,k,v}.*``        ``fusion.layers.<i>.<X>_attn.attn.in_proj_*``
                                                            (the three stacked, q then k then v)
``resampler_3d.<X>_attn.<i>.attention.fc_o.*``              ``fusion.layers.<i>.<X>_attn.attn.out_proj.*``
``resampler_3d.<X>_attn.<i>.layer_norm.*``                  ``fusion.layers.<i>.<X>_attn.norm.*``
``llama_proj_3d.0.*`` / ``llama_proj_3d.1.*``               ``projectors.point_cloud.proj.*`` / ``.norm.*``
==========================================================  ==========================================

(``<X>`` is ``cross`` or ``self``.) ``nn.MultiheadAttention`` computes exactly the release's
``ScaledDotProductAttention`` (``softmax(q kᵀ / √d_k) v`` per head, padded objects at −∞) with its
packed in-projection ``[W_q; W_k; W_v]``. A model without a point-cloud encoder (a 2D config)
ignores these keys, by name; a point-cloud encoder built otherwise (``fusion_block='cross'``, a
projector without norm) fails the import, naming every key that has no place in it. The frozen
Point-BERT is not in the release file: it comes from ``point_bert_path`` (or is not used at all
when the samples carry LAMM's precomputed features, see ``ObjectAsSceneEncoder``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from octavius.weights.key_map import KeyMapReport, KeyRule, load_mapped, map_keys
from octavius.weights.tensor_file import read_tensor_file

__all__ = [
    "RELEASE_3D_KEYS",
    "expected_3d_params",
    "import_octavius_release",
    "octavius_release_rules",
    "release_3d_rules",
]

_PEFT_PREFIX = r"llama_model\.base_model\.model\."
_ENCODER_3D = "encoders.point_cloud."
_PROJECTOR_3D = "projectors.point_cloud."
#: The release's 3D-path tensors, ignored when the model has no point-cloud encoder.
RELEASE_3D_KEYS = {
    r"(pos_3d_proj|resampler_3d|llama_proj_3d)\..*": (
        "the model has no point-cloud encoder, so the release's 3D path (pos_3d_proj,"
        " resampler_3d, llama_proj_3d) has nowhere to go"
    ),
}
_RESAMPLER_BLOCK = r"resampler_3d\.(cross|self)_attn\.(\d+)\."
_OUR_BLOCK = _ENCODER_3D + r"fusion.layers.\2.\1_attn."


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
        *release_3d_rules(),
    ]


def _has_point_cloud_encoder(model: nn.Module) -> bool:
    encoders = getattr(model, "encoders", None)
    return isinstance(encoders, nn.ModuleDict) and "point_cloud" in encoders


def release_3d_rules() -> list[KeyRule]:
    """The key rules of the release's 3D path (``pos_3d_proj``, ``resampler_3d``, ``llama_proj_3d``)."""
    rules = [
        KeyRule(
            r"pos_3d_proj\.([02])\.(weight|bias)",
            _ENCODER_3D + r"box_embed.\1.\2",
            None,
            "box positional embedding f_PE",
        ),
        KeyRule(
            r"resampler_3d\.query_embed\.weight",
            _ENCODER_3D + "fusion.queries",
            lambda t, _: t.unsqueeze(0),
            "learnable queries (q, d) → (1, q, d)",
        ),
    ]
    for index, name in enumerate(("fc_q", "fc_k", "fc_v")):
        rules.append(
            KeyRule(
                _RESAMPLER_BLOCK + rf"attention\.{name}\.(weight|bias)",
                _OUR_BLOCK + r"attn.in_proj_\3",
                None,
                f"{name} → chunk {index + 1} of the packed in-projection",
                part=(index, 3),
            )
        )
    rules += [
        KeyRule(
            _RESAMPLER_BLOCK + r"attention\.fc_o\.(weight|bias)",
            _OUR_BLOCK + r"attn.out_proj.\3",
            None,
            "attention output projection",
        ),
        KeyRule(
            _RESAMPLER_BLOCK + r"layer_norm\.(weight|bias)",
            _OUR_BLOCK + r"norm.\3",
            None,
            "post-norm LayerNorm",
        ),
        KeyRule(
            r"llama_proj_3d\.0\.(weight|bias)",
            _PROJECTOR_3D + r"proj.\1",
            None,
            "point-cloud projector linear",
        ),
        KeyRule(
            r"llama_proj_3d\.1\.(weight|bias)",
            _PROJECTOR_3D + r"norm.\1",
            None,
            "point-cloud projector LayerNorm",
        ),
    ]
    return rules


def expected_3d_params(model: nn.Module) -> list[str]:
    """The 3D parameters a release file fills: Object-As-Scene's ``f_PE`` and fusion, the projector.

    Empty without a point-cloud encoder. The point encoder (frozen Point-BERT) and an internal
    ``out_dim`` projection are not in the release.
    """
    if not _has_point_cloud_encoder(model):
        return []
    from octavius.plugins.encoders.object_as_scene import ObjectAsSceneEncoder

    names = []
    encoder = model.encoders["point_cloud"]
    if isinstance(encoder, ObjectAsSceneEncoder):
        names += [
            _ENCODER_3D + n
            for n, _ in encoder.named_parameters()
            if n.startswith(("box_embed.", "fusion."))
        ]
    projectors = getattr(model, "projectors", None)
    if isinstance(projectors, nn.ModuleDict) and "point_cloud" in projectors:
        names += [_PROJECTOR_3D + n for n, _ in projectors["point_cloud"].named_parameters()]
    return names


def expected_release_params(model: nn.Module) -> list[str]:
    """The parameters a release checkpoint fills: experts, gates, projectors, the 3D fusion."""
    names = []
    for layer in _expert_banks(model):
        names += [f"{layer}.experts.lora_A", f"{layer}.experts.lora_B"]
    names += [f"{r}.gate.weight" for r in _instance_routers(model)]
    params = dict(model.named_parameters())
    names += [
        n for n in ("projectors.image.proj.weight", "projectors.image.proj.bias") if n in params
    ]
    return names + expected_3d_params(model)


def import_octavius_release(
    model: nn.Module, path: str | os.PathLike, *, strict: bool = True
) -> KeyMapReport:
    """Load the release's ``pytorch_model.pt`` into ``model`` (read with ``weights_only=True``).

    Args:
        model: a ``MultimodalLLM`` built with the release's layout (LoRA-MoE on the attention
            projections, an ``InstanceRouter``, a ``LinearProjector`` for images and, for the 3D
            keys, the release-style Object-As-Scene with a ``LinearProjector(norm=True)``), e.g.
            from ``configs/octavius_2d3d.py``.
        path: the release file.
        strict: every expert, gate, projector and (with a point-cloud encoder) ``f_PE`` and
            fusion parameter must come from the file.

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
        ignore=None if _has_point_cloud_encoder(model) else RELEASE_3D_KEYS,
    )
    return load_mapped(model, tensors, report, strict=strict)
