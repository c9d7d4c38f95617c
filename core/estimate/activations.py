"""Activation memory of a decoder layer and of the LM head, traced on proxy tokens.

What a training step keeps for backward is what autograd saves. Rather than a closed formula per
architecture, the estimator runs the model's own code — one decoder layer with its adapters, and
the final norm + LM head + the loss of ``MultimodalLLM.loss`` — under
``torch.autograd.graph.saved_tensors_hooks`` and adds up the distinct storages it saves, leaving
out parameters (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
Models", count the same quantity by hand for GPT layers).

The layer is materialised once on the CPU with uninitialised weights (only that layer: a 13B
Vicuna layer is 0.32 B parameters); it runs on a few proxy tokens and the saved bytes are fitted as
``α·b·n + β·b + γ`` (per token, per sample, per call), which holds for every kernel the
layers use (the fused attention kernels save ``q, k, v, out`` and a log-sum-exp per token, no
``n × n`` matrix). The causal mask, shared by every layer, is added as ``b·n²`` bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from octavius.adapters.context import RoutingContext, use_routing_context

__all__ = ["LinearCost", "fit_saved_bytes", "saved_bytes"]

#: Proxy (batch, tokens) shapes of the three traces that fit ``α·b·n + β·b + γ``.
PROXY_SHAPES = ((1, 16), (1, 32), (2, 16))


@dataclass(frozen=True)
class LinearCost:
    """Bytes as ``per_token · b·n + per_sample · b + fixed``."""

    per_token: float
    per_sample: float
    fixed: float

    def __call__(self, batch: int, tokens: int) -> float:
        return self.per_token * batch * tokens + self.per_sample * batch + self.fixed

    def scaled(self, factor: float) -> LinearCost:
        return LinearCost(self.per_token * factor, self.per_sample * factor, self.fixed * factor)


def saved_bytes(run: Callable[[], object], exclude: Iterable[torch.Tensor] = ()) -> int:
    """Bytes of the distinct storages autograd saves while ``run()`` executes.

    Args:
        run: the forward to trace (its outputs are dropped afterwards).
        exclude: tensors that are not activations (parameters, buffers, shared inputs).
    """
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr and ptr not in skip:
            seen[ptr] = max(seen.get(ptr, 0), storage.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = run()
    del out
    return sum(seen.values())


def fit_saved_bytes(trace: Callable[[int, int], int]) -> LinearCost:
    """Fit ``α·b·n + β·b + γ`` to ``trace(b, n)`` at :data:`PROXY_SHAPES`."""
    (b1, n1), (_, n2), (b3, _) = PROXY_SHAPES
    s1, s2, s3 = (trace(b, n) for b, n in PROXY_SHAPES)
    per_token = (s2 - s1) / (b1 * (n2 - n1))
    per_sample = (s3 - s1 - per_token * (b3 - b1) * n1) / (b3 - b1)
    fixed = s1 - per_token * b1 * n1 - per_sample * b1
    return LinearCost(per_token, per_sample, max(fixed, 0.0))


def lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The next-token loss as ``MultimodalLLM.loss`` computes it (fp32 cross-entropy)."""
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten())


def decoder_layers(llm: nn.Module) -> nn.ModuleList:
    """The decoder layers of a Hugging Face causal LM (the longest ``ModuleList``)."""
    lists = [m for m in llm.modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        raise ValueError(f"{type(llm).__name__} has no nn.ModuleList of decoder layers.")
    return max(lists, key=len)


def _routers_of(module: nn.Module) -> list[nn.Module]:
    routers = []
    for sub in module.modules():
        router = getattr(sub, "shared_router", None)
        if isinstance(router, nn.Module) and all(router is not r for r in routers):
            routers.append(router)
    return routers


def _materialise(module: nn.Module) -> None:
    """Give a meta module CPU storage filled with zeros (values do not change what is saved)."""
    module.to_empty(device="cpu")
    with torch.no_grad():
        for tensor in (*module.parameters(), *module.buffers()):
            tensor.zero_()


def trace_layer_cost(llm: nn.Module, hidden_dtype: torch.dtype) -> LinearCost:
    """Saved bytes of one adapted decoder layer of the meta-device ``llm``, per token/sample.

    Only the first layer (and the routers it uses) is materialised; the causal mask and the
    rotary embeddings are built here, outside the counted storages (the mask is shared by all
    layers and added once by the caller).
    """
    layer = decoder_layers(llm)[0]
    _materialise(layer)
    routers = _routers_of(layer)
    for router in routers:
        if any(p.is_meta for p in router.parameters()):
            _materialise(router)
    rotary_cls = type(getattr(llm, "model", llm).rotary_emb)
    rotary = rotary_cls(config=llm.config)
    hidden = llm.config.hidden_size

    def trace(batch: int, tokens: int) -> int:
        x = torch.zeros(batch, tokens, hidden, dtype=hidden_dtype, requires_grad=True)
        position_ids = torch.arange(tokens)[None].expand(batch, tokens)
        mask = torch.ones(batch, 1, tokens, tokens, dtype=torch.bool).tril()
        with torch.no_grad():
            cos, sin = rotary(x, position_ids)
        ctx = _routing_context(x)

        def run() -> object:
            with use_routing_context(ctx):
                return layer(
                    x,
                    attention_mask=mask,
                    position_ids=position_ids,
                    position_embeddings=(cos, sin),
                )

        return saved_bytes(run, exclude=(*_tensors(layer, *routers), mask, cos, sin))

    return fit_saved_bytes(trace)


def _tensors(*modules: nn.Module) -> list[torch.Tensor]:
    return [t for m in modules for t in (*m.parameters(), *m.buffers())]


def _routing_context(x: torch.Tensor) -> RoutingContext:
    """Every routing signal a router may read, for a proxy batch ``x`` ``(b, n, d)``."""
    batch, tokens, hidden = x.shape
    return RoutingContext(
        attention_mask=torch.ones(batch, tokens, dtype=torch.long),
        question_mask=torch.ones(batch, tokens, dtype=torch.bool),
        inputs_embeds=x,
        task_ids=torch.zeros(batch, dtype=torch.long),
        task_names=["task"] * batch,
        task_definitions=["task"] * batch,
        text_encoder=lambda texts: torch.zeros(len(texts), hidden),
    )


def trace_head_cost(llm: nn.Module, hidden_dtype: torch.dtype) -> LinearCost:
    """Saved bytes of the final norm, the LM head and the fp32 loss of ``MultimodalLLM.loss``."""
    norm = getattr(llm, "model", llm).norm
    head = llm.get_output_embeddings()
    for module in (norm, head):
        _materialise(module)
    hidden = llm.config.hidden_size

    def trace(batch: int, tokens: int) -> int:
        x = torch.zeros(batch, tokens, hidden, dtype=hidden_dtype, requires_grad=True)
        labels = torch.zeros(batch, tokens, dtype=torch.long)
        return saved_bytes(lambda: lm_loss(head(norm(x)), labels), exclude=_tensors(norm, head))

    return fit_saved_bytes(trace)
