"""The task-interference score of MixLoRA (Shen et al., 2024, §3.2, eq. 2–3).

For tasks ``i`` and ``j`` and shared parameters ``θ`` (LoRA A or LoRA B of one layer), eq. 2
estimates how much one normalised gradient step on task ``j`` lowers the loss of task ``i``::

    Δ_j L_i(x_i) ≈ λ · E_{x_j}[ (∇_θ L_j(x_j) / ‖∇_θ L_j(x_j)‖)ᵀ ∇_θ L_i(x_i) ]

and eq. 3 compares it with the step of task ``i`` itself::

    I_{i,j} = E_{x_i}[ Δ_j L_i(x_i) / Δ_i L_i(x_i) ]

The learning rate ``λ`` cancels in the ratio. Positive ``I_{i,j}``: task ``j``'s update helps task
``i``; negative: it hurts (MixLoRA Fig. 2). ``I_{i,i} = 1`` by construction.

The expectations are sample means over the gradient batches given per task. The inner
expectation of eq. 2 is the same for every ``x_i``, so it is computed once per task as the mean
unit gradient ``ū_j = E_{x_j}[g_j / ‖g_j‖]``; then ``Δ_j L_i(x_i) / λ = ū_jᵀ g_i(x_i)`` and
``I_{i,j}`` is the mean over task ``i``'s batches of ``ū_jᵀ g_i / ū_iᵀ g_i``. Both expectations
use every batch given for the task (the plug-in estimate of eq. 2–3).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import torch

__all__ = ["interference_matrix", "mean_unit_gradient"]


def mean_unit_gradient(gradients: torch.Tensor, task: str = "") -> torch.Tensor:
    """``E_x[g(x) / ‖g(x)‖]``, the inner expectation of eq. 2.

    Batches whose gradient is exactly zero have no direction and are left out of the mean; a task
    with no non-zero gradient gives a vector of NaN (its scores are undefined).

    Args:
        gradients: ``(m, p)`` one flattened gradient per batch.
        task: the task's name, for the warning.

    Returns:
        ``(p,)`` float64.
    """
    grads = gradients.to(torch.float64)
    norms = grads.norm(dim=1)
    keep = norms > 0
    if not bool(keep.any()):
        warnings.warn(
            f"task-interference: every gradient of task {task!r} is zero (e.g. LoRA A while B is "
            "still zero-initialised); its scores are NaN.",
            stacklevel=2,
        )
        return torch.full((grads.shape[1],), math.nan, dtype=torch.float64)
    return (grads[keep] / norms[keep, None]).mean(dim=0)


def interference_matrix(
    gradients: Mapping[str, torch.Tensor], tasks: Sequence[str] | None = None
) -> torch.Tensor:
    """``I_{i,j}`` of eq. 3 for every ordered pair of tasks.

    Shapes: ``t`` tasks, ``m`` batches of a task (may differ per task), ``p`` parameters.

    Args:
        gradients: task → ``(m, p)`` flattened gradients of the same parameters ``θ``, one row per
            batch ``x`` of that task.
        tasks: the order of rows and columns; ``gradients``' order when ``None``.

    Returns:
        ``(t, t)`` float64: row ``i`` is the task affected, column ``j`` the task whose update is
        applied (MixLoRA Fig. 2). A batch of task ``i`` whose own step does not change its loss
        (``Δ_i L_i = 0``) is left out of row ``i``'s mean; a row without any usable batch is NaN.

    Raises:
        ValueError: on a missing task, an empty gradient set, or gradients of different sizes.
    """
    order = list(gradients) if tasks is None else list(tasks)
    if not order:
        raise ValueError("interference_matrix needs gradients of at least one task.")
    missing = [t for t in order if t not in gradients]
    if missing:
        raise ValueError(f"interference_matrix: no gradients for task(s) {missing}.")
    sizes = set()
    for task in order:
        grads = gradients[task]
        if grads.dim() != 2 or grads.shape[0] == 0:
            raise ValueError(
                f"interference_matrix: gradients of task {task!r} must be (batches, params) with "
                f"at least one batch, got shape {tuple(grads.shape)}."
            )
        sizes.add(grads.shape[1])
    if len(sizes) != 1:
        raise ValueError(
            f"interference_matrix: every task's gradients must be of the same parameters, got "
            f"sizes {sorted(sizes)}."
        )
    directions = torch.stack([mean_unit_gradient(gradients[t], t) for t in order])  # (t, p)
    scores = torch.full((len(order), len(order)), math.nan, dtype=torch.float64)
    for i, task in enumerate(order):
        deltas = gradients[task].to(torch.float64) @ directions.T  # (m, t): Δ_j L_i(x_i) / λ
        own = deltas[:, i : i + 1]
        usable = (own != 0).squeeze(1) & own.isfinite().squeeze(1)
        if bool(usable.any()):
            scores[i] = (deltas[usable] / own[usable]).mean(dim=0)
    return scores
