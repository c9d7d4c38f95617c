"""The task-interference score of MixLoRA (Shen et al., 2024, §3.2, eq. 2–3).

For tasks ``i`` and ``j`` and shared parameters ``θ`` (LoRA A or LoRA B of one layer), eq. 2
estimates how much one normalised gradient step on task ``j`` lowers the loss of task ``i``::

    Δ_j L_i(x_i) ≈ λ · E_{x_j}[ (∇_θ L_j(x_j) / ‖∇_θ L_j(x_j)‖)ᵀ ∇_θ L_i(x_i) ]

and eq. 3 compares it with the step of task ``i`` itself::

    I_{i,j} = E_{x_i}[ Δ_j L_i(x_i) / Δ_i L_i(x_i) ]

The learning rate ``λ`` cancels in the ratio. Positive ``I_{i,j}``: task ``j``'s update helps task
``i``; negative: it hurts (MixLoRA Fig. 2). ``I_{i,i} = 1`` by construction.

The inner expectation of eq. 2 is a mean unit gradient ``ū_j = E_{x_j}[g_j / ‖g_j‖]``, so
``Δ_j L_i(x_i) / λ = ū_jᵀ g_i(x_i)`` and ``I_{i,j}`` is the mean over task ``i``'s batches of
``ū_jᵀ g_i / ū_iᵀ g_i``. Estimators of ``ū_i`` in the denominator:

* ``"leave_one_out"`` (default): ``ū_i^{(−x)}``, the mean over task ``i``'s *other* batches. Eq. 2
  is a step taken on data the evaluated batch ``x_i`` is not part of; with the plug-in mean the
  batch is compared with a direction that contains itself, ``ū_iᵀ g_i`` is inflated by ``g_i``'s own
  noise, and every off-diagonal score is pulled toward 0 (two halves of one task score about 0.4
  instead of 1 on noisy gradients). ``ū_j`` for ``j ≠ i`` is already held out (other batches).
  A task with a single batch has no held-out direction: its off-diagonal scores are NaN (its
  diagonal stays 1, as eq. 3 defines it).
* ``"plug_in"``: ``ū_i`` over every batch of the task, the evaluated one included (the literal
  sample-mean reading of eq. 2–3; biased toward 0 as described).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Literal, get_args

import torch

__all__ = ["ESTIMATORS", "Estimator", "interference_matrix", "mean_unit_gradient"]

Estimator = Literal["leave_one_out", "plug_in"]
ESTIMATORS: tuple[str, ...] = get_args(Estimator)


def _unit_rows(gradients: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(m, p)`` float64 unit gradients (zero rows stay zero) and the mask of non-zero rows."""
    grads = gradients.to(torch.float64)
    norms = grads.norm(dim=1)
    keep = norms > 0
    return torch.where(keep[:, None], grads / norms.clamp_min(1e-300)[:, None], 0.0), keep


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
    units, keep = _unit_rows(gradients)
    if not bool(keep.any()):
        warnings.warn(
            f"task-interference: every gradient of task {task!r} is zero (e.g. LoRA A while B is "
            "still zero-initialised); its scores are NaN.",
            stacklevel=2,
        )
        return torch.full((units.shape[1],), math.nan, dtype=torch.float64)
    return units[keep].mean(dim=0)


def _held_out_own_steps(gradients: torch.Tensor, task: str) -> torch.Tensor:
    """``ū_i^{(−x)}ᵀ g_i(x)`` for every batch ``x`` of one task, ``(m,)``; NaN where undefined."""
    grads = gradients.to(torch.float64)
    units, keep = _unit_rows(grads)
    total, count = units.sum(dim=0), keep.sum()
    others = count - keep.long()  # non-zero batches left once batch x is held out
    held_out = (total[None, :] - units) / others.clamp_min(1)[:, None]  # (m, p)
    steps = (held_out * grads).sum(dim=1)
    steps = torch.where(others > 0, steps, torch.full_like(steps, math.nan))
    if not bool((others > 0).any()):
        warnings.warn(
            f"task-interference: task {task!r} has fewer than two batches with a non-zero "
            "gradient, so its own step has no held-out estimate (estimator='leave_one_out'); its "
            "off-diagonal scores are NaN. Give it more batches or use estimator='plug_in'.",
            stacklevel=3,
        )
    return steps


def interference_matrix(
    gradients: Mapping[str, torch.Tensor],
    tasks: Sequence[str] | None = None,
    estimator: Estimator = "leave_one_out",
) -> torch.Tensor:
    """``I_{i,j}`` of eq. 3 for every ordered pair of tasks.

    Shapes: ``t`` tasks, ``m`` batches of a task (may differ per task), ``p`` parameters.

    Args:
        gradients: task → ``(m, p)`` flattened gradients of the same parameters ``θ``, one row per
            batch ``x`` of that task.
        tasks: the order of rows and columns; ``gradients``' order when ``None``.
        estimator: ``"leave_one_out"`` or ``"plug_in"`` estimate of the task's own direction
            (see the module docstring).

    Returns:
        ``(t, t)`` float64: row ``i`` is the task affected, column ``j`` the task whose update is
        applied (MixLoRA Fig. 2). A batch of task ``i`` whose own step does not change its loss
        (``Δ_i L_i = 0``) or has no held-out estimate is left out of row ``i``'s mean; a row
        without any usable batch is NaN.

    Raises:
        ValueError: on a missing task, an empty gradient set, gradients of different sizes or an
            unknown estimator.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(
            f"interference_matrix: estimator must be one of {ESTIMATORS}, got {estimator!r}."
        )
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
        grads = gradients[task].to(torch.float64)
        deltas = grads @ directions.T  # (m, t): Δ_j L_i(x_i) / λ
        if estimator == "leave_one_out":
            deltas[:, i] = _held_out_own_steps(grads, task)
        own = deltas[:, i : i + 1]
        usable = (own != 0).squeeze(1) & own.isfinite().squeeze(1)
        if bool(usable.any()):
            scores[i] = (deltas[usable] / own[usable]).mean(dim=0)
        elif estimator == "leave_one_out" and bool((grads != 0).any()):
            scores[i, i] = 1.0  # I_ii = 1 by eq. 3; only the off-diagonal needs a held-out step
    return scores
