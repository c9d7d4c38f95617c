"""The model's parts built on the meta device: parameter counts without reading a weight.

Every part is built by the code a run uses — ``AutoModelForCausalLM.from_config`` and
:func:`octavius.adapters.inject_adapters` for the LLM, the registered encoder and projector classes
— under ``torch.device("meta")``, from the models' configs (``config.json`` of the checkpoint
directories, or configs given by the caller), so trainable and frozen counts are exact.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from octavius.estimate.published import PUBLISHED_CLIPS, PUBLISHED_LLMS

__all__ = [
    "EncoderPart",
    "EstimateConfigError",
    "ParamBytes",
    "build_encoder_on_meta",
    "build_llm_on_meta",
    "llm_config_of",
    "param_bytes",
]

#: Checkpoint-path keys an encoder config may hold; dropped when it is built on the meta device.
_WEIGHT_KEYS = ("checkpoint",)


class EstimateConfigError(ValueError):
    """The config cannot be estimated; the message names the key and what to change."""


@dataclass
class ParamBytes:
    """Parameter counts and bytes of a module, split into frozen and trainable."""

    frozen_params: int = 0
    frozen_bytes: int = 0
    trainable_params: int = 0
    trainable_bytes: int = 0

    def __add__(self, other: ParamBytes) -> ParamBytes:
        return ParamBytes(
            self.frozen_params + other.frozen_params,
            self.frozen_bytes + other.frozen_bytes,
            self.trainable_params + other.trainable_params,
            self.trainable_bytes + other.trainable_bytes,
        )


def param_bytes(module: nn.Module) -> ParamBytes:
    """Frozen and trainable parameters of ``module`` (shared parameters counted once)."""
    out = ParamBytes()
    for param in module.parameters():
        size = param.numel() * param.element_size()
        if param.requires_grad:
            out.trainable_params += param.numel()
            out.trainable_bytes += size
        else:
            out.frozen_params += param.numel()
            out.frozen_bytes += size
    return out


def dtype_of(name: str | torch.dtype | None, key: str) -> torch.dtype:
    """``'bfloat16'`` / ``'bf16'`` / a dtype → the torch dtype; float32 for ``None``."""
    if name is None:
        return torch.float32
    if isinstance(name, torch.dtype):
        return name
    alias = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}.get(name, name)
    dtype = getattr(torch, alias, None)
    if not isinstance(dtype, torch.dtype):
        raise EstimateConfigError(f"{key}: {name!r} is not a dtype name (e.g. 'bfloat16').")
    return dtype


def llm_config_of(llm: Any, override: Any = None) -> tuple[Any, torch.dtype, dict[str, Any]]:
    """The LLM's Hugging Face config, its weight dtype and the remaining ``llm`` options.

    A checkpoint directory that does not exist but is named like a published checkpoint
    (:data:`~octavius.estimate.published.PUBLISHED_LLMS`, e.g. ``checkpoints/vicuna-13b-v0``)
    is sized from the published config.

    Args:
        llm: the model config's ``llm`` (a path or ``dict(pretrained=..., dtype=...)``).
        override: a ``PretrainedConfig``, a ``config.json`` path, a published name or a dict of
            the config's fields, used instead of the checkpoint directory's ``config.json``.
    """
    from transformers import AutoConfig, PretrainedConfig

    options = {"pretrained": llm} if isinstance(llm, (str, os.PathLike)) else dict(llm or {})
    path = options.pop("pretrained", None)
    dtype = dtype_of(options.pop("dtype", None), "model.llm.dtype")
    if isinstance(override, PretrainedConfig):
        return override, dtype, options
    if isinstance(override, str) and override in PUBLISHED_LLMS:
        override = PUBLISHED_LLMS[override]
    if isinstance(override, Mapping):
        fields = dict(override)
        return AutoConfig.for_model(fields.pop("model_type", "llama"), **fields), dtype, options
    source = str(override if override is not None else path)
    if os.path.isfile(source):
        source = os.path.dirname(source) or "."
    if not os.path.exists(os.path.join(source, "config.json")):
        published = PUBLISHED_LLMS.get(os.path.basename(os.path.normpath(source)))
        if published is None:
            raise EstimateConfigError(
                f"model.llm: no config.json under {source!r}; the estimate reads the LLM's "
                "config (not its weights). Point `llm` at the checkpoint directory or pass "
                f"--llm-config PATH/config.json (or one of {sorted(PUBLISHED_LLMS)})."
            )
        fields = dict(published)
        return AutoConfig.for_model(fields.pop("model_type"), **fields), dtype, options
    return AutoConfig.from_pretrained(source), dtype, options


def build_llm_on_meta(
    config: Any,
    dtype: torch.dtype,
    adapters: Any = None,
    freeze_llm: bool = True,
) -> tuple[nn.Module, Any]:
    """The causal LM on the meta device with its adapters injected.

    Returns:
        The model and the adapter report (``None`` without adapters).
    """
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        llm = AutoModelForCausalLM.from_config(config, dtype=dtype)
        if freeze_llm:
            llm.requires_grad_(False)
        report = None
        if adapters is not None:
            from octavius.adapters import inject_adapters

            report = inject_adapters(llm, copy.deepcopy(adapters))
    return llm, report


@dataclass
class EncoderPart:
    """One modality encoder and its projector as the estimate sees them.

    Attributes:
        modality: ``"image"`` or ``"point_cloud"``.
        params: the encoder's parameters (frozen / trainable).
        projector: the projector's parameters.
        num_tokens: tokens per item handed to the LLM.
        out_features: the encoder's token width.
        dtype: the encoder's weight dtype.
        kept_per_item: bytes the encoder keeps per item until the LLM runs (features, and the
            hidden states a frozen CLIP tower returns with ``output_hidden_states``).
        working_per_item: peak transient bytes per item inside the encoder's forward.
        saved_per_item: bytes autograd saves per item (trainable parts: fusion, projector).
    """

    modality: str
    params: ParamBytes
    projector: ParamBytes
    num_tokens: int
    out_features: int
    dtype: torch.dtype
    kept_per_item: float = 0.0
    working_per_item: float = 0.0
    saved_per_item: float = 0.0
    notes: list[str] = field(default_factory=list)


def _clip_part(cfg: Mapping[str, Any], override: Any, dtype: torch.dtype | None) -> nn.Module:
    from transformers import CLIPVisionConfig, CLIPVisionModel

    if override is None:
        path = str(cfg.get("pretrained"))
        override = PUBLISHED_CLIPS.get(os.path.basename(os.path.normpath(path)), path)
    if isinstance(override, str) and override in PUBLISHED_CLIPS:
        override = PUBLISHED_CLIPS[override]
    if isinstance(override, str):
        if os.path.isfile(override):
            override = os.path.dirname(override) or "."
        if not os.path.exists(os.path.join(override, "config.json")):
            raise EstimateConfigError(
                f"model.encoders.image.pretrained: no config.json under {override!r}; point it "
                "at the CLIP checkpoint directory or pass --encoder-config image=PATH/config.json "
                f"(or one of {sorted(PUBLISHED_CLIPS)})."
            )
    if isinstance(override, Mapping):
        config = CLIPVisionConfig(**override)
    elif isinstance(override, CLIPVisionConfig):
        config = override
    else:
        config = CLIPVisionConfig.from_pretrained(str(override))
    weight_dtype = dtype or dtype_of(cfg.get("dtype"), "model.encoders.image.dtype")
    with torch.device("meta"):
        model = CLIPVisionModel(config).to(weight_dtype)
    if cfg.get("frozen", True):
        model.requires_grad_(False)
    return model


def build_encoder_on_meta(
    modality: str,
    cfg: Mapping[str, Any],
    projector_cfg: Any,
    llm_hidden: int,
    frozen_dtype: torch.dtype | None = None,
    override: Any = None,
    freeze_projector: bool = False,
) -> EncoderPart:
    """Count one encoder and its projector, and size what it keeps per item.

    Args:
        modality: the ``model.encoders`` key.
        cfg: the encoder's config.
        projector_cfg: the model's ``projector`` config (one for all, or per modality).
        llm_hidden: the LLM's hidden size (the projector's output).
        frozen_dtype: dtype of the frozen encoder weights when overridden (``--dtype``).
        override: for a CLIP tower, its config (instead of ``pretrained/config.json``).
        freeze_projector: the model's ``freeze_projectors``.
    """
    from octavius.models.projectors import build_projector

    kind = cfg.get("type")
    if kind == "CLIPImageEncoder":
        tower = _clip_part(cfg, override, frozen_dtype)
        config = tower.config
        tokens = (config.image_size // config.patch_size) ** 2 + int(bool(cfg.get("use_cls")))
        width, layers = config.hidden_size, config.num_hidden_layers
        elem = next(tower.parameters()).element_size()
        seq = (config.image_size // config.patch_size) ** 2 + 1
        kept = seq * width * elem  # the chosen layer's hidden states, until the projector
        # output_hidden_states holds every layer's states during the tower's forward.
        working = ((layers + 1) * width + 4 * width + config.intermediate_size) * seq * elem
        params = param_bytes(tower)
        out_features = width
        dtype = next(tower.parameters()).dtype
    else:
        encoder = _generic_encoder(modality, cfg, frozen_dtype)
        params = param_bytes(encoder)
        tokens, out_features = int(encoder.num_tokens), int(encoder.out_features)
        dtype = next(encoder.parameters()).dtype
        kept, working = _point_cloud_sizes(encoder, dtype)
    proj_cfg = projector_cfg
    if isinstance(projector_cfg, Mapping) and "type" not in projector_cfg:
        proj_cfg = projector_cfg[modality]
    with torch.device("meta"):
        projector = build_projector(proj_cfg, in_features=out_features, out_features=llm_hidden)
    if freeze_projector:
        projector.requires_grad_(False)
    proj = param_bytes(projector)
    # The projector casts the features to its dtype and saves that copy for its weight gradient.
    saved = tokens * out_features * next(projector.parameters()).element_size()
    return EncoderPart(
        modality=modality,
        params=params,
        projector=proj,
        num_tokens=tokens,
        out_features=out_features,
        dtype=dtype,
        kept_per_item=kept,
        working_per_item=working,
        saved_per_item=saved,
    )


def _strip_weights(cfg: Any) -> Any:
    if isinstance(cfg, Mapping):
        return {k: _strip_weights(v) for k, v in cfg.items() if k not in _WEIGHT_KEYS}
    return cfg


def _generic_encoder(modality: str, cfg: Mapping[str, Any], dtype: torch.dtype | None) -> nn.Module:
    from octavius.models.base_encoder import build_encoder

    spec = _strip_weights(dict(cfg))
    if "roi_source" in spec:
        spec["roi_source"] = None
    try:
        with torch.device("meta"):
            encoder = build_encoder(spec)
    except (NotImplementedError, RuntimeError):
        # Constructors that compute with tensors (e.g. drop-path rates) cannot run on meta;
        # point encoders are small enough to build for real, still without their weights.
        try:
            encoder = build_encoder(spec)
        except Exception as err:  # a third-party encoder that needs its files at construction
            raise EstimateConfigError(
                f"model.encoders.{modality} ({cfg.get('type')}): cannot be built without its "
                f"weight files ({type(err).__name__}: {err})."
            ) from None
    if dtype is not None:
        for param in encoder.parameters():
            if not param.requires_grad:
                param.data = param.data.to(dtype)
    return encoder


def _point_cloud_sizes(encoder: nn.Module, dtype: torch.dtype) -> tuple[float, float]:
    """Kept and transient bytes per scene of an Object-As-Scene-like encoder (approximate).

    The frozen point encoder runs without gradient on ``roi_chunk`` RoIs at a time: its
    transient peak is one transformer block over those RoIs' groups (``4·w`` for q/k/v/out and
    ``4·w`` for the MLP per group token); what stays is one feature per RoI.
    """
    point = getattr(encoder, "point_encoder", encoder)
    groups = int(getattr(point, "num_group", 1))
    width = int(getattr(point, "trans_dim", getattr(point, "feature_dim", 1)))
    rois = int(getattr(encoder, "num_rois", 1))
    chunk = min(int(getattr(encoder, "roi_chunk", rois)), rois)
    elem = torch.empty((), dtype=dtype).element_size()
    working = chunk * groups * width * 8 * elem
    kept = rois * int(getattr(point, "feature_dim", width)) * 4
    return float(kept), float(working)
