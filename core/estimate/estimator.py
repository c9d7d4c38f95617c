"""Per-device training memory of a config, without loading a weight.

``estimate_memory(cfg)`` builds the LLM, its adapters, the encoders and the projectors on the meta
device (:mod:`octavius.estimate.components`), traces one decoder layer and the LM head on proxy
tokens for the bytes autograd saves (:mod:`octavius.estimate.activations`), and adds them up for
one device of a data-parallel strategy (:mod:`octavius.estimate.strategies`):

- frozen weights (LLM, frozen encoders) in their dtype;
- trainable parameters (adapters, routers, projectors, fusion, ``adapters.trainable``), their
  gradients and AdamW's two moments, in the parameters' dtype (fp32);
- activations: ``L`` decoder layers (or, with gradient checkpointing, each layer's input plus one
  layer recomputed in backward), the LM head and the fp32 loss with its gradient, the causal mask;
- the encoders' features (and their own forward peak, when it is the larger one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from octavius.estimate.activations import LinearCost, trace_head_cost, trace_layer_cost
from octavius.estimate.components import (
    EncoderPart,
    EstimateConfigError,
    ParamBytes,
    build_encoder_on_meta,
    build_llm_on_meta,
    dtype_of,
    llm_config_of,
    param_bytes,
)
from octavius.estimate.strategies import sharding_of

__all__ = ["EstimateOptions", "MemoryEstimate", "estimate_memory"]

GIB = 1024**3
#: AdamW keeps two moments per trainable parameter, in the parameter's dtype.
ADAM_STATES = 2


@dataclass
class EstimateOptions:
    """What the estimate is for.

    Args:
        gpus: data-parallel devices.
        strategy: ``ddp``, ``fsdp``, ``zero2`` or ``zero3``.
        dtype: dtype of the frozen weights (LLM and encoders) instead of the config's.
        seq_len: tokens per sample after splicing; the training set's ``max_length`` if unset.
        micro_batch: samples per device and step; ``train_dataloader.batch_size`` if unset.
        gradient_checkpointing: recompute decoder layers in backward; the config's if unset.
        device_gb: device memory sizes (GiB) to find the largest micro-batch for.
        reserve_gb: memory the runtime holds besides tensors (CUDA context, allocator cache).
        llm_config: the LLM's config instead of ``config.json`` of ``model.llm``.
        encoder_configs: per modality, an encoder's model config (CLIP) instead of its files.
    """

    gpus: int = 1
    strategy: str = "ddp"
    dtype: str | None = None
    seq_len: int | None = None
    micro_batch: int | None = None
    gradient_checkpointing: bool | None = None
    device_gb: Sequence[float] = ()
    reserve_gb: float = 0.0
    llm_config: Any = None
    encoder_configs: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class MemoryEstimate:
    """The estimate of one device, in bytes, with what it was computed for."""

    components: dict[str, float]
    micro_batch: int
    seq_len: int
    gpus: int
    strategy: str
    accumulation: int
    gradient_checkpointing: bool
    trainable_params: int
    frozen_params: int
    largest_micro_batch: dict[float, int] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.components.values())

    @property
    def tokens_per_step(self) -> int:
        """Tokens per optimizer step over every device (padding included, at ``seq_len``)."""
        return self.micro_batch * self.seq_len * self.gpus * self.accumulation


@dataclass
class _Model:
    """Everything of the model the estimate needs, sizes per sample left as costs."""

    llm: ParamBytes
    layer_params: float
    num_layers: int
    hidden: int
    hidden_elem: int
    vocab: int
    layer: LinearCost
    head: LinearCost
    encoders: list[EncoderPart]


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    value = cfg.get(key, default) if isinstance(cfg, Mapping) else getattr(cfg, key, default)
    return default if value is None else value


def _train_max_length(cfg: Any) -> int | None:
    loader = _get(cfg, "train_dataloader", {})
    dataset = _get(loader, "dataset", {})
    lengths = [_get(d, "max_length") for d in (*_get(dataset, "datasets", []), dataset)]
    lengths = [int(x) for x in lengths if x]
    return max(lengths) if lengths else None


#: Traced models by (model config, dtype, config overrides): strategies and device sizes of
#: one model share the trace.
_MODELS: dict[str, _Model] = {}


def _build(model_cfg: Mapping[str, Any], options: EstimateOptions) -> _Model:
    key = repr((model_cfg, options.dtype, options.llm_config, dict(options.encoder_configs)))
    if key not in _MODELS:
        _MODELS.clear()  # one model at a time: a traced layer holds its weights
        _MODELS[key] = _trace_model(model_cfg, options)
    return _MODELS[key]


def _trace_model(model_cfg: Mapping[str, Any], options: EstimateOptions) -> _Model:
    config, llm_dtype, _ = llm_config_of(model_cfg.get("llm"), options.llm_config)
    if options.dtype is not None:
        llm_dtype = dtype_of(options.dtype, "--dtype")
    llm, _ = build_llm_on_meta(
        config, llm_dtype, model_cfg.get("adapters"), bool(model_cfg.get("freeze_llm", True))
    )
    from octavius.estimate.activations import decoder_layers

    layers = decoder_layers(llm)
    layer_params = sum(p.numel() * p.element_size() for p in layers[0].parameters())
    encoders = []
    for modality, enc_cfg in dict(model_cfg.get("encoders") or {}).items():
        encoders.append(
            build_encoder_on_meta(
                modality,
                enc_cfg,
                model_cfg.get("projector", "LinearProjector"),
                config.hidden_size,
                dtype_of(options.dtype, "--dtype") if options.dtype else None,
                options.encoder_configs.get(modality),
                bool(model_cfg.get("freeze_projectors", False)),
            )
        )
    hidden_elem = torch.empty((), dtype=llm_dtype).element_size()
    return _Model(
        llm=param_bytes(llm),
        layer_params=float(layer_params),
        num_layers=len(layers),
        hidden=config.hidden_size,
        hidden_elem=hidden_elem,
        vocab=llm.get_output_embeddings().out_features,
        layer=trace_layer_cost(llm, llm_dtype),
        head=trace_head_cost(llm, llm_dtype),
        encoders=encoders,
    )


def _activations(model: _Model, batch: int, tokens: int, checkpointing: bool) -> dict[str, float]:
    layer = model.layer(batch, tokens)
    if checkpointing:
        layers = model.num_layers * batch * tokens * model.hidden * model.hidden_elem + layer
    else:
        layers = model.num_layers * layer
    # Backward of the loss: the fp32 gradient of the flattened logits and the gradient of the
    # slice they were taken from live at once.
    head = model.head(batch, tokens) + 2 * batch * tokens * model.vocab * 4
    mask = batch * tokens * tokens  # the boolean causal mask, shared by every layer
    kept = sum(e.kept_per_item + e.saved_per_item for e in model.encoders) * batch
    llm_peak = layers + head + mask + kept
    encoder_peak = sum(e.working_per_item for e in model.encoders) * batch
    return {
        "activations: decoder layers": layers + mask,
        "activations: LM head and loss": head,
        "activations: encoder features": kept + max(0.0, encoder_peak - llm_peak),
    }


def _components(
    model: _Model, options: EstimateOptions, batch: int, tokens: int, checkpointing: bool
) -> dict[str, float]:
    shard = sharding_of(options.strategy, options.gpus)
    frozen = model.llm.frozen_bytes + sum(e.params.frozen_bytes for e in model.encoders)
    trainable = model.llm.trainable_bytes + sum(
        e.params.trainable_bytes + e.projector.trainable_bytes for e in model.encoders
    )
    comps = {
        "frozen weights": frozen / shard.params,
        "trainable parameters": trainable / shard.params,
        "gradients": trainable / shard.grads,
        "optimizer state": ADAM_STATES * trainable / shard.optimizer,
    }
    comps.update(_activations(model, batch, tokens, checkpointing))
    if shard.grad_buckets:
        comps["DDP gradient buckets"] = float(trainable)
    if shard.gathers_layers:
        comps["gathered layers"] = 2 * model.layer_params * (1 - 1 / shard.params)
    if options.reserve_gb:
        comps["runtime reserve"] = options.reserve_gb * GIB
    return comps


def estimate_memory(cfg: Any, options: EstimateOptions | None = None) -> MemoryEstimate:
    """Estimate the per-device training memory of the config ``cfg`` (mmengine ``Config``).

    Raises:
        EstimateConfigError: a part of the config cannot be sized (the message names its key).
    """
    options = options or EstimateOptions()
    model_cfg = _get(cfg, "model")
    if not isinstance(model_cfg, Mapping) or model_cfg.get("type") != "MultimodalLLM":
        raise EstimateConfigError("model: the estimate sizes MultimodalLLM configs only.")
    model_cfg = dict(model_cfg)
    tokens = options.seq_len or _train_max_length(cfg)
    if not tokens:
        raise EstimateConfigError(
            "train_dataloader.dataset.max_length is not set; pass --seq-len N."
        )
    batch = options.micro_batch or int(_get(_get(cfg, "train_dataloader", {}), "batch_size", 1))
    checkpointing = options.gradient_checkpointing
    if checkpointing is None:
        checkpointing = bool(model_cfg.get("gradient_checkpointing", False))
    accumulation = int(_get(_get(cfg, "optim_wrapper", {}), "accumulative_counts", 1))
    model = _build(model_cfg, options)
    comps = _components(model, options, batch, tokens, checkpointing)
    estimate = MemoryEstimate(
        components=comps,
        micro_batch=batch,
        seq_len=int(tokens),
        gpus=options.gpus,
        strategy=options.strategy,
        accumulation=accumulation,
        gradient_checkpointing=checkpointing,
        trainable_params=model.llm.trainable_params
        + sum(e.params.trainable_params + e.projector.trainable_params for e in model.encoders),
        frozen_params=model.llm.frozen_params + sum(e.params.frozen_params for e in model.encoders),
    )
    for size in options.device_gb:
        estimate.largest_micro_batch[float(size)] = _largest_batch(
            model, options, tokens, checkpointing, float(size) * GIB
        )
    return estimate


def _largest_batch(
    model: _Model, options: EstimateOptions, tokens: int, checkpointing: bool, budget: float
) -> int:
    """The largest micro-batch whose estimate fits ``budget`` bytes (0 when none does)."""

    def fits(batch: int) -> bool:
        return sum(_components(model, options, batch, tokens, checkpointing).values()) <= budget

    if not fits(1):
        return 0
    low, high = 1, 2
    while fits(high) and high < 1 << 16:
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low
