"""Per-task gradients of the LoRA A and B parameters, and the interference scores built on them.

MixLoRA (§3.2, Fig. 2 and 7) measures task interference on the gradients of LoRA A and of LoRA B
per layer. :func:`collect_task_gradients` runs one backward pass per batch of each task and keeps,
per parameter group, the flattened gradient of the A parameters and of the B parameters:

- a plain LoRA or a LoRA expert bank (``LoRAExperts``): ``lora_A`` and ``lora_B`` of every expert;
- a factor pool (``LoRAFactorPool``): every one of the ``E`` factors (MixLoRA: "we record gradients
  concerning all E factors"); factors a batch does not select get a zero gradient.

Groups say which adapted linears form one ``θ`` of eq. 2: each linear (``"module"``), each block —
the linears with one parent module, e.g. a layer's self-attention or its MLP as in Fig. 2
(``"block"``), each decoder layer (``"layer"``), or the whole model (``"model"``).
:func:`task_interference` turns the gradients into :class:`InterferenceScores`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from octavius.adapters.layer import AdaptedLinear
from octavius.analysis.interference import Estimator, interference_matrix

__all__ = [
    "FACTOR_PARAMETERS",
    "GROUPINGS",
    "InterferenceScores",
    "adapter_factor_parameters",
    "collect_task_gradients",
    "task_interference",
]

#: Attribute names of the A and B parameters of the built-in expert banks.
FACTOR_PARAMETERS: dict[str, tuple[str, str]] = {
    "LoRAExperts": ("lora_A", "lora_B"),
    "LoRAFactorPool": ("factors_a", "factors_b"),
}
GROUPINGS = ("module", "block", "layer", "model")
PARTS = ("A", "B")
_LAYER = re.compile(r"^(.*?(?:^|\.)(?:layers|h)\.\d+)(?:\.|$)")


def _factor_names(bank: nn.Module, layer: str) -> tuple[str, str]:
    names = getattr(bank, "factor_parameter_names", None) or FACTOR_PARAMETERS.get(
        type(bank).__name__
    )
    if names is None:
        for pair in FACTOR_PARAMETERS.values():
            if all(isinstance(getattr(bank, n, None), nn.Parameter) for n in pair):
                names = pair
                break
    if names is None:
        raise TypeError(
            f"{layer}: the expert bank {type(bank).__name__} has no known LoRA A / B parameters; "
            f"give it a `factor_parameter_names = ('<A attr>', '<B attr>')` attribute or add it "
            "to octavius.analysis.task_gradients.FACTOR_PARAMETERS."
        )
    return names


def _group_of(name: str, group_by: str) -> str:
    if group_by == "module":
        return name
    if group_by == "block":
        return name.rpartition(".")[0] or name
    if group_by == "layer":
        match = _LAYER.match(name)
        return match.group(1) if match else (name.rpartition(".")[0] or name)
    return "model"


def adapter_factor_parameters(
    model: nn.Module, group_by: str = "block", layers: str | None = None
) -> dict[str, dict[str, list[nn.Parameter]]]:
    """The A and B parameters of every adapted linear, grouped.

    Args:
        model: a model with adapted linears (:class:`~octavius.adapters.AdaptedLinear`).
        group_by: ``"module"``, ``"block"``, ``"layer"`` or ``"model"`` (see the module docstring).
        layers: optional regular expression (``re.search``) on adapted-linear names.

    Returns:
        ``{group: {"A": [params], "B": [params]}}`` in model order.
    """
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {GROUPINGS}, got {group_by!r}.")
    pattern = re.compile(layers) if layers else None
    groups: dict[str, dict[str, list[nn.Parameter]]] = {}
    for name, module in model.named_modules():
        if not isinstance(module, AdaptedLinear):
            continue
        name = module.name or name  # as the routing recorder and the adapter report name it
        if pattern is not None and not pattern.search(name):
            continue
        a_name, b_name = _factor_names(module.experts, name)
        group = groups.setdefault(_group_of(name, group_by), {"A": [], "B": []})
        group["A"].append(getattr(module.experts, a_name))
        group["B"].append(getattr(module.experts, b_name))
    if not groups:
        raise ValueError(
            "the model has no adapted linear"
            + (f" matching layers={layers!r}" if layers else "")
            + "; task interference is measured on LoRA parameters (set the model's `adapters`)."
        )
    return groups


def collect_task_gradients(
    model: nn.Module,
    batches: Mapping[str, Iterable[Any]],
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    group_by: str = "block",
    layers: str | None = None,
) -> dict[str, dict[str, dict[str, torch.Tensor]]]:
    """Gradients of each task's loss, batch by batch, with respect to LoRA A and B.

    The model runs in eval mode (no dropout; routers act as at test time) with gradients on;
    the A and B parameters are made to require gradients for the duration only, and ``.grad``
    attributes are left untouched (gradients come from ``torch.autograd.grad``).

    Args:
        model: the adapted model.
        batches: task → its batches (anything ``loss_fn`` accepts).
        loss_fn: ``(model, batch) → scalar loss`` of that batch (the task loss ``L``).
        group_by: see :func:`adapter_factor_parameters`.
        layers: optional regular expression on adapted-linear names.

    Returns:
        ``{part: {group: {task: (m, p) float32}}}`` with ``part`` ``"A"`` or ``"B"``, one row per
        batch.
    """
    groups = adapter_factor_parameters(model, group_by, layers)
    flat: list[nn.Parameter] = []
    slots: dict[tuple[str, str], list[int]] = {}
    index: dict[int, int] = {}
    for group, parts in groups.items():
        for part in PARTS:
            ids = []
            for param in parts[part]:
                if id(param) not in index:
                    index[id(param)] = len(flat)
                    flat.append(param)
                ids.append(index[id(param)])
            slots[(group, part)] = ids
    rows: dict[str, dict[str, dict[str, list[torch.Tensor]]]] = {
        p: {g: {} for g in groups} for p in PARTS
    }
    was_training = model.training
    required = [p.requires_grad for p in flat]
    model.eval()
    try:
        for param in flat:
            param.requires_grad_(True)
        for task, task_batches in batches.items():
            seen = 0
            for batch in task_batches:
                loss = loss_fn(model, batch)
                if loss.dim() != 0 or not loss.requires_grad:
                    raise ValueError(
                        f"task {task!r}: loss_fn must return a scalar loss that depends on the "
                        f"adapters, got shape {tuple(loss.shape)}, requires_grad={loss.requires_grad}."
                    )
                grads = torch.autograd.grad(loss, flat, allow_unused=True)
                for (group, part), ids in slots.items():
                    vector = torch.cat(
                        [
                            (torch.zeros_like(flat[i]) if grads[i] is None else grads[i])
                            .detach()
                            .flatten()
                            .float()
                            .cpu()
                            for i in ids
                        ]
                    )
                    rows[part][group].setdefault(task, []).append(vector)
                seen += 1
            if not seen:
                raise ValueError(f"task {task!r} has no batch to compute gradients on.")
    finally:
        for param, req in zip(flat, required):
            param.requires_grad_(req)
        model.train(was_training)
    return {
        part: {
            g: {t: torch.stack(v) for t, v in by_task.items()} for g, by_task in by_group.items()
        }
        for part, by_group in rows.items()
    }


@dataclass
class InterferenceScores:
    """``I_{i,j}`` (MixLoRA eq. 3) per parameter group, for LoRA A and LoRA B.

    Attributes:
        tasks: row/column order (row ``i`` affected by column ``j``).
        groups: parameter groups in model order.
        scores: ``{"A"|"B": {group: (t, t) tensor}}``.
        group_by: how the groups were formed.
        num_batches: batches per task that the expectations averaged over.
    """

    tasks: list[str]
    groups: list[str]
    scores: dict[str, dict[str, torch.Tensor]]
    group_by: str = "block"
    num_batches: dict[str, int] = field(default_factory=dict)

    def mean(self, part: str, groups: Sequence[str] | None = None) -> torch.Tensor:
        """The scores averaged over groups (MixLoRA Fig. 7: "averaged across all adaption layers").

        NaN entries of a group (undefined scores) are left out of the average.
        """
        chosen = self.groups if groups is None else list(groups)
        stack = torch.stack([self.scores[part][g] for g in chosen])
        return stack.nanmean(dim=0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: tasks, groups, per-group and mean matrices (NaN as ``None``)."""

        def listed(matrix: torch.Tensor) -> list[list[float | None]]:
            return [
                [None if v != v else round(float(v), 6) for v in row] for row in matrix.tolist()
            ]

        return {
            "equation": "MixLoRA eq. 2-3: I[i][j] = E_xi[ dL_i(x_i; step of task j) / dL_i(x_i; step of task i) ]",
            "tasks": self.tasks,
            "group_by": self.group_by,
            "num_batches": self.num_batches,
            "mean": {part: listed(self.mean(part)) for part in self.scores},
            "groups": {
                group: {part: listed(self.scores[part][group]) for part in self.scores}
                for group in self.groups
            },
        }


def task_interference(
    model: nn.Module,
    batches: Mapping[str, Iterable[Any]],
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    group_by: str = "block",
    layers: str | None = None,
    estimator: Estimator = "leave_one_out",
) -> InterferenceScores:
    """Interference scores of the tasks in ``batches`` on the LoRA A and B of ``model``.

    See :func:`collect_task_gradients` for the arguments; ``batches`` must be re-iterable or
    lists (each is iterated once). ``estimator`` is passed to
    :func:`~octavius.analysis.interference.interference_matrix` (the default needs at least two
    batches per task).
    """
    gradients = collect_task_gradients(model, batches, loss_fn, group_by, layers)
    tasks = list(batches)
    groups = list(gradients["A"])
    scores = {
        part: {g: interference_matrix(gradients[part][g], tasks, estimator) for g in groups}
        for part in PARTS
    }
    counts = {t: int(gradients["A"][groups[0]][t].shape[0]) for t in tasks}
    return InterferenceScores(tasks, groups, scores, group_by, counts)
