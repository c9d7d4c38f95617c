"""``ExpertLoadHook``: expert (or factor) load of every routed layer while training.

Mixtures of experts can collapse — one expert takes (nearly) every token or sample and the others
stop learning — which the balancing losses (Octavius eq. 2, LLaVA-MoLE eq. 7–8) exist to prevent.
This hook makes it visible during the run: around every training forward it puts a collector on
the routing context (the hook the :class:`~octavius.adapters.recording.RoutingRecorder` uses),
counts per routed layer how often each expert — for MixLoRA's factor routers each A and B factor —
is chosen, and at the log interval reports:

- per layer: the share of each expert, the entropy of the shares (nats; ``log e`` is uniform),
  the largest share, and the layer's auxiliary losses (mean over the interval) — to every
  visualizer backend (TensorBoard: ``expert_load/<layer>/share_<j>`` …) and as a console summary;
- for the log line: ``expert_load/max_share`` (the most loaded expert of any layer),
  ``expert_load/min_entropy`` and ``expert_load/collapsed_layers``;
- a warning naming each layer whose most loaded expert stayed the same and above
  ``collapse_share`` in every iteration of the interval.

Shares count choices: a token (token routing) or a sample (instance routing) choosing ``k``
experts adds one to each of them; padding tokens and dropped assignments (index ``-1``) are left
out. Each process counts its own batches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from mmengine.hooks import Hook, LoggerHook

from octavius.adapters.context import RoutingContext
from octavius.adapters.decision import RoutingDecision
from octavius.registry import HOOKS

__all__ = ["ExpertLoadHook", "LayerLoad", "choice_counts"]

SCALAR_PREFIX = "expert_load"


def choice_counts(
    indices: torch.Tensor, num_choices: int, token_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """How often each choice was made: ``(e,)`` float64 counts.

    Args:
        indices: chosen experts, ``(b, k)`` or ``(b, n, k)``; ``-1`` marks a dropped choice.
        num_choices: ``e``.
        token_mask: ``(b, n)`` true on real tokens (token-level decisions).
    """
    idx = indices.detach()
    if token_mask is not None and idx.dim() == 3 and token_mask.shape == idx.shape[:2]:
        idx = idx[token_mask.to(device=idx.device, dtype=torch.bool)]
    idx = idx.flatten()
    idx = idx[idx >= 0]
    return torch.bincount(idx.cpu(), minlength=num_choices).to(torch.float64)[:num_choices]


@dataclass
class LayerLoad:
    """One routed layer's counts over the current interval."""

    counts: torch.Tensor
    iteration_tops: list[tuple[int, float]] = field(default_factory=list)
    aux: dict[str, list[float]] = field(default_factory=dict)
    current: torch.Tensor | None = None

    def shares(self) -> torch.Tensor:
        total = float(self.counts.sum())
        return self.counts / total if total > 0 else self.counts

    def entropy(self) -> float:
        p = self.shares()
        p = p[p > 0]
        return float(-(p * p.log()).sum())


def _num_choices(decision: RoutingDecision, fallback: torch.Tensor) -> int:
    if decision.probs is not None:
        return int(decision.probs.shape[-1])
    return int(fallback.max().item()) + 1 if fallback.numel() else 1


def _clean(name: str) -> str:
    # mmengine averages keys containing "loss" over a window; these are already interval means.
    return re.sub(r"loss", "aux", name)


@HOOKS.register_module()
class ExpertLoadHook(Hook):
    """Log expert shares, their entropy and the balancing losses of every routed layer.

    Args:
        interval: iterations per report; the ``LoggerHook``'s interval when ``None``.
        collapse_share: warn when one expert's share of a layer exceeds this in every iteration
            of an interval (0.9: 90 %).
        layers: optional regular expression; only matching layer names are counted.
        console_layers: how many layers the console summary lists (the least balanced first);
            every layer always goes to the visualizer backends.
    """

    priority = "NORMAL"  # before LoggerHook (BELOW_NORMAL), so the summary is in its line

    def __init__(
        self,
        interval: int | None = None,
        collapse_share: float = 0.9,
        layers: str | None = None,
        console_layers: int = 8,
    ) -> None:
        if interval is not None and interval < 1:
            raise ValueError(f"ExpertLoadHook: interval must be >= 1, got {interval}.")
        if not 0.0 < collapse_share <= 1.0:
            raise ValueError(
                f"ExpertLoadHook: collapse_share must be in (0, 1], got {collapse_share}."
            )
        if console_layers < 0:
            raise ValueError(f"ExpertLoadHook: console_layers must be >= 0, got {console_layers}.")
        self.interval = interval
        self.collapse_share = collapse_share
        self.layers = re.compile(layers) if layers else None
        self.console_layers = console_layers
        self.loads: dict[str, LayerLoad] = {}
        self._active = False
        self._seen: set[int] = set()
        self._wrapped: Any = None

    # ------------------------------------------------------------------ collecting
    def __call__(self, layer: str, decision: RoutingDecision, ctx: RoutingContext) -> None:
        """The routing-context recorder: count one routed call of ``layer``."""
        if not self._active or (self.layers is not None and not self.layers.search(layer)):
            return
        mask = ctx.attention_mask if decision.level == "token" else None
        groups = {layer: (decision.indices, _num_choices(decision, decision.indices))}
        b_indices = decision.factors.b_indices if decision.factors is not None else None
        if isinstance(b_indices, torch.Tensor):
            groups = {
                f"{layer}/A": groups[layer],
                f"{layer}/B": (b_indices, _num_choices_b(decision, b_indices)),
            }
        for name, (indices, num) in groups.items():
            load = self.loads.get(name)
            if load is None:
                load = self.loads[name] = LayerLoad(counts=torch.zeros(num, dtype=torch.float64))
            if num > load.counts.numel():  # routers without probabilities: grow as seen
                load.counts = torch.cat(
                    [load.counts, load.counts.new_zeros(num - load.counts.numel())]
                )
            counts = choice_counts(indices, load.counts.numel(), mask)
            load.counts += counts
            load.current = counts if load.current is None else load.current + counts
        key = next(iter(groups))
        for loss_name, value in decision.aux_losses.items():
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                self.loads[key].aux.setdefault(loss_name, []).append(float(value.detach()))

    def before_train(self, runner: Any) -> None:
        """Put the collector on every routing context the model creates."""
        model = getattr(runner.model, "module", runner.model)
        if self.interval is None:
            loggers = [h for h in runner.hooks if isinstance(h, LoggerHook)]
            self.interval = loggers[0].interval if loggers else 10
        if not hasattr(model, "routing_context") or self._wrapped is model:
            return
        original = model.routing_context
        hook = self

        def routing_context(*args: Any, **kwargs: Any) -> RoutingContext:
            ctx = original(*args, **kwargs)
            previous = ctx.recorder
            if previous is None:
                ctx.recorder = hook
            else:

                def both(layer: str, decision: RoutingDecision, c: RoutingContext) -> None:
                    previous(layer, decision, c)
                    hook(layer, decision, c)

                ctx.recorder = both
            return ctx

        model.routing_context = routing_context
        self._wrapped = model

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        self._active = True

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        """Close the iteration's counts; report at the interval."""
        self._active = False
        for load in self.loads.values():
            if load.current is not None and float(load.current.sum()) > 0:
                shares = load.current / load.current.sum()
                top = int(shares.argmax())
                load.iteration_tops.append((top, float(shares[top])))
            load.current = None
        if self.every_n_train_iters(runner, self.interval) or self.is_last_train_iter(runner):
            self.report(runner)

    # ------------------------------------------------------------------ reporting
    def collapsed(self, load: LayerLoad) -> int | None:
        """The expert that held more than ``collapse_share`` in every iteration, if any."""
        tops = load.iteration_tops
        if not tops:
            return None
        expert = tops[0][0]
        if all(t == expert and share > self.collapse_share for t, share in tops):
            return expert
        return None

    def report(self, runner: Any) -> dict[str, dict[str, float]]:
        """Log the interval's numbers and start a new interval; returns them by layer."""
        table: dict[str, dict[str, float]] = {}
        collapsed: list[tuple[str, int, float]] = []
        for name, load in self.loads.items():
            if float(load.counts.sum()) == 0:
                continue
            shares = load.shares()
            row = {f"share_{j}": float(s) for j, s in enumerate(shares)}
            row["entropy"] = load.entropy()
            row["max_share"] = float(shares.max())
            for loss_name, values in load.aux.items():
                row[_clean(loss_name)] = sum(values) / len(values)
            table[name] = row
            expert = self.collapsed(load)
            if expert is not None:
                collapsed.append((name, expert, min(s for _, s in load.iteration_tops)))
        self.loads = {}
        if not table:
            return table
        step = runner.iter + 1
        scalars = {
            f"{SCALAR_PREFIX}/{layer}/{key}": value
            for layer, row in table.items()
            for key, value in row.items()
        }
        runner.visualizer.add_scalars(scalars, step=step)
        hub = runner.message_hub
        hub.update_scalar(
            f"train/{SCALAR_PREFIX}/max_share", max(r["max_share"] for r in table.values())
        )
        hub.update_scalar(
            f"train/{SCALAR_PREFIX}/min_entropy", min(r["entropy"] for r in table.values())
        )
        hub.update_scalar(f"train/{SCALAR_PREFIX}/collapsed_layers", float(len(collapsed)))
        self._log_summary(runner, table, step)
        for name, expert, share in collapsed:
            runner.logger.warning(
                f"expert load: layer {name} has collapsed onto expert {expert} (at least "
                f"{share:.0%} of its choices in every iteration up to {step}, threshold "
                f"collapse_share={self.collapse_share:.0%}); raise the balancing-loss weight "
                "(model.aux_loss_weights) or check the router's learning rate."
            )
        return table

    def _log_summary(
        self, runner: Any, table: Mapping[str, Mapping[str, float]], step: int
    ) -> None:
        if not self.console_layers:
            return
        worst = sorted(table.items(), key=lambda kv: -kv[1]["max_share"])[: self.console_layers]
        lines = [
            f"expert load at iteration {step} ({len(table)} routed layers, least balanced first):"
        ]
        for name, row in worst:
            shares = " ".join(f"{row[k]:.2f}" for k in row if k.startswith("share_"))
            extras = " ".join(
                f"{k}={v:.4g}"
                for k, v in row.items()
                if not k.startswith("share_") and k not in ("entropy", "max_share")
            )
            lines.append(
                f"  {name}: shares [{shares}] entropy {row['entropy']:.3f} {extras}".rstrip()
            )
        runner.logger.info("\n".join(lines))


def _num_choices_b(decision: RoutingDecision, b_indices: torch.Tensor) -> int:
    probs = decision.factors.b_probs if decision.factors is not None else None
    if isinstance(probs, torch.Tensor):
        return int(probs.shape[-1])
    return int(b_indices.max().item()) + 1 if b_indices.numel() else 1
