"""What routed each answer: experts and weights per layer, returned with the answer.

Instance-level layers (Octavius eq. 3, MixLoRA eq. 5–9) make one decision per sample; the report
gives its experts (factors, for a factor pool: A's and B's) and weights. Token-level layers
(LLaVA-MoLE eq. 3) choose per token; the report gives, per expert, the share of the sample's
routing weight over its prompt and answer tokens.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch

from octavius.adapters.context import RoutingContext
from octavius.adapters.decision import RoutingDecision

__all__ = ["AnswerRoutingRecorder", "instance_entry"]


def _rounded(values: torch.Tensor) -> list[float]:
    return [round(float(v), 6) for v in values]


def instance_entry(decision: RoutingDecision, row: int) -> dict[str, Any]:
    """The report entry of row ``row`` of an instance-level decision (weight-0 slots dropped)."""
    indices, weights = decision.indices[row], decision.weights[row].float()
    keep = weights != 0 if decision.mode != "dense" else torch.ones_like(weights, dtype=torch.bool)
    entry: dict[str, Any] = {
        "level": "instance",
        "mode": decision.mode,
        "experts": [int(i) for i in indices[keep]],
        "weights": _rounded(weights[keep]),
    }
    factors = decision.factors
    if factors is not None and factors.b_indices is not None:
        entry["b_experts"] = [int(i) for i in factors.b_indices[row]]
        entry["b_weights"] = _rounded(factors.b_weights[row].float())
    return entry


class AnswerRoutingRecorder:
    """A routing-context recorder that keeps, per layer, what each answer was routed with.

    Instance decisions are kept once (the first call: the prompt); token decisions are summed per
    row and expert over every call (prefill and decoding steps).

    Args:
        batch: samples of the call.
        copies: rows per sample (``num_beams`` under beam search; copies share one routing).
    """

    def __init__(self, batch: int, copies: int = 1) -> None:
        self.batch = batch
        self.copies = copies
        self.instance: dict[str, RoutingDecision] = {}
        self.token_weight: dict[str, torch.Tensor] = {}
        self.token_count: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros(batch))

    def __call__(self, layer: str, decision: RoutingDecision, ctx: RoutingContext) -> None:
        if decision.level == "instance":
            self.instance.setdefault(layer, decision.detached())
            return
        indices = decision.indices.detach().cpu()  # (B, n, k)
        weights = decision.weights.detach().float().cpu()
        rows, n, _ = indices.shape
        real = torch.ones(rows, n, dtype=torch.bool)
        mask = ctx.attention_mask
        if mask is not None and tuple(mask.shape) == (rows, n):
            real = mask.detach().bool().cpu()
        valid = (indices >= 0) & real[..., None]
        size = int(indices.max()) + 1 if indices.numel() else 1
        per_row = torch.zeros(rows, max(size, 1))
        per_row.scatter_add_(1, indices.clamp(min=0).flatten(1), (weights * valid).flatten(1))
        sample = per_row.view(self.batch, self.copies, -1).sum(1)
        tokens = real.sum(1).float().view(self.batch, self.copies).sum(1)
        prev = self.token_weight.get(layer)
        if prev is not None and prev.shape[1] < sample.shape[1]:
            prev = torch.nn.functional.pad(prev, (0, sample.shape[1] - prev.shape[1]))
        elif prev is not None and prev.shape[1] > sample.shape[1]:
            sample = torch.nn.functional.pad(sample, (0, prev.shape[1] - sample.shape[1]))
        self.token_weight[layer] = sample if prev is None else prev + sample
        self.token_count[layer] += tokens

    def report(self, merged: dict[str, RoutingDecision] | None = None) -> list[dict[str, Any]]:
        """One ``{layer: entry}`` dict per sample.

        Args:
            merged: decisions of layers that ran merged (they route nothing during the call).
        """
        instance = {**{k: v.detached() for k, v in (merged or {}).items()}, **self.instance}
        out: list[dict[str, Any]] = []
        for i in range(self.batch):
            sample: dict[str, Any] = {}
            for layer, decision in instance.items():
                row = i * self.copies if decision.indices.shape[0] > self.batch else i
                sample[layer] = instance_entry(decision, row)
            for layer, totals in self.token_weight.items():
                total = float(totals[i].sum()) or 1.0
                sample[layer] = {
                    "level": "token",
                    "usage": _rounded(totals[i] / total),
                    "tokens": int(self.token_count[layer][i] / max(self.copies, 1)),
                }
            out.append(dict(sorted(sample.items())))
        return out
