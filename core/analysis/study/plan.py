"""What the interference study runs: tasks, methods, budgets, seeds (docs/interference_study.md).

The study asks the papers' question with a design that can answer it: does one LoRA shared by
tasks that *conflict* fall below one LoRA per task (the tug-of-war of Octavius Fig. 3, MixLoRA's
task interference §3.2, LLaVA-MoLE's data conflicts), and how much of that drop do mixtures of
LoRA experts recover?

- a **pretrained, frozen base** (stage 0, :mod:`octavius.analysis.study.pretrain`);
- **conflicts by design** and a **control group** (:mod:`octavius.analysis.study.conflict_data`);
- **fair budgets**: every run trains ``epochs`` passes over its tasks, so a task sees as many of
  its own samples in a mixture as alone; a **to-convergence** variant stops each run early on
  its validation split;
- **methods at equal active rank** (:data:`DEFAULT_STUDY`), each over ``seeds``;
- **pair runs**: the shared LoRA on two tasks at a time, for the drop of each pair, to set against
  the pair's interference score (MixLoRA eq. 2–3).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from octavius.analysis.study.conflict_data import TASK_KINDS

__all__ = ["DEFAULT_STUDY", "StudyBudget", "StudyMethod", "StudyPlan", "StudyTask"]


@dataclass(frozen=True)
class StudyTask:
    """One task of the study.

    Attributes:
        name: short name: the data set's name, its tag in the questions and its metric key.
        group: ``"format"``, ``"modality"``, ``"length"`` (conflict groups) or ``"control"``.
        title: column title in the results tables.
    """

    name: str
    group: str
    title: str = ""

    @property
    def modality(self) -> str:
        """``"2d"`` (images) or ``"3d"`` (point-cloud scenes)."""
        return TASK_KINDS[self.name]

    @property
    def conflicting(self) -> bool:
        return self.group != "control"


@dataclass(frozen=True)
class StudyMethod:
    """One row of the results tables.

    Attributes:
        key: identifier (run directory names; ``--methods`` selects by it).
        title: row title.
        config: config file, relative to the repository root.
        per_task: train one run per task on that task alone (the specialists).
        note: active and total rank, shown in the methods table.
        routed: has a learned or fixed router whose routing map is worth drawing.
    """

    key: str
    title: str
    config: str
    per_task: bool = False
    note: str = ""
    routed: bool = False


@dataclass(frozen=True)
class StudyBudget:
    """Training budget of every run.

    Attributes:
        epochs: passes over the run's tasks (fair-budget variant), or the most epochs of the
            to-convergence variant.
        batch_size: samples per step.
        lr: AdamW learning rate (after a 5 % linear warm-up; cosine decay in the fair variant).
        patience: epochs without a better validation score before the to-convergence variant stops.
        max_epochs: epoch limit of the to-convergence variant.
    """

    epochs: int = 12
    batch_size: int = 8
    lr: float = 3e-3
    patience: int = 3
    max_epochs: int = 16


@dataclass(frozen=True)
class StudyPlan:
    """The whole study.

    Attributes:
        tasks: the tasks, in column order (their index is their task id).
        methods: rows; the ``per_task`` method gives the specialists, ``shared_key`` the shared LoRA.
        budget: the budget of every run.
        seeds: every method and specialist is trained once per seed (adapter initialisation and
            data order; base and data are fixed).
        data: items per split and the data seed (:func:`~octavius.analysis.study.conflict_data.write_study_data`).
        base: stage-0 arguments of :func:`~octavius.analysis.study.pretrain.pretrain_base`.
        encoders: stage-0 arguments of
            :func:`~octavius.analysis.study.pretrain_encoders.pretrain_encoders` (``image``,
            ``points``: those of the image tower and of the point encoder).
        pairs: task pairs trained together with the shared LoRA (pair drops vs interference).
        pair_seeds: the seeds of the pair runs (their drop is set against the specialists'
            mean over all seeds).
        convergence: method keys also trained to convergence (with the specialists).
        convergence_seeds: the seeds of the to-convergence variant.
        analysis: options of the interference and routing analyses.
        bootstrap: bootstrap resamples for the intervals.
        shared_key: the shared LoRA's method key.
    """

    tasks: tuple[StudyTask, ...]
    methods: tuple[StudyMethod, ...]
    budget: StudyBudget = field(default_factory=StudyBudget)
    seeds: tuple[int, ...] = (0, 1, 2)
    data: dict[str, Any] = field(default_factory=dict)
    base: dict[str, Any] = field(default_factory=dict)
    encoders: dict[str, Any] = field(default_factory=dict)
    pairs: tuple[tuple[str, str], ...] = ()
    pair_seeds: tuple[int, ...] = (0,)
    convergence: tuple[str, ...] = ()
    convergence_seeds: tuple[int, ...] = (0,)
    analysis: dict[str, Any] = field(default_factory=dict)
    bootstrap: int = 2000
    shared_key: str = "lora_shared"

    @property
    def specialists(self) -> StudyMethod | None:
        """The per-task method, if any."""
        return next((m for m in self.methods if m.per_task), None)

    def task(self, name: str) -> StudyTask:
        return next(t for t in self.tasks if t.name == name)

    def select(self, methods: list[str] | None = None, tasks: list[str] | None = None) -> StudyPlan:
        """The plan restricted to some method keys and task names (in the plan's order)."""
        for wanted, known, what in (
            (methods, [m.key for m in self.methods], "method"),
            (tasks, [t.name for t in self.tasks], "task"),
        ):
            unknown = sorted(set(wanted or []) - set(known))
            if unknown:
                raise KeyError(f"unknown {what}(s) {unknown}; known: {known}.")
        kept = [t.name for t in self.tasks if tasks is None or t.name in tasks]
        keys = [m.key for m in self.methods if methods is None or m.key in methods]
        return replace(
            self,
            methods=tuple(m for m in self.methods if m.key in keys),
            tasks=tuple(t for t in self.tasks if t.name in kept),
            pairs=tuple(p for p in self.pairs if set(p) <= set(kept)),
            convergence=tuple(k for k in self.convergence if k in keys),
        )


def _m(key: str, title: str, note: str, routed: bool = True, config: str = "") -> StudyMethod:
    return StudyMethod(key, title, config or f"configs/study/{key}.py", note=note, routed=routed)


DEFAULT_STUDY = StudyPlan(
    tasks=(
        StudyTask("count_word", "format", "count (words)"),
        StudyTask("count_digit", "format", "count (digits)"),
        StudyTask("shape_2d", "modality", "shape 2D"),
        StudyTask("shape_3d", "modality", "shape 3D"),
        StudyTask("list_2d", "length", "object list 2D"),
        StudyTask("exists_2d", "length", "yes/no 2D"),
        StudyTask("color_2d", "control", "colour 2D"),
        StudyTask("color_3d", "control", "colour 3D"),
    ),
    methods=(
        StudyMethod(
            "lora_specialists",
            "LoRA specialists (one per task)",
            "configs/study/lora.py",
            per_task=True,
            note="rank 4, a separate LoRA per task",
        ),
        _m("lora_shared", "LoRA, shared", "rank 4", False, "configs/study/lora.py"),
        _m("lora_shared_r16", "LoRA, shared, equal total", "rank 16 (= the experts' total)", False),
        _m("moe_instance_top2", "LoRA-MoE, instance top-2 of 8", "8 × rank 2, 2 active: 4 / 16"),
        _m(
            "moe_individual",
            "LoRA-MoE, individual (oracle)",
            "8 × rank 4, task t → expert t: 4 / 32",
        ),
        _m(
            "moe_token_top1",
            "LoRA-MoE, token top-1 of 4",
            "4 × rank 4 per block, 1 per token: 4 / 16",
        ),
        _m("mixlora", "MixLoRA, E=16, r=4", "16 rank-1 factors, 4 active for A and B: 4 / 16"),
        _m("moe_dense", "LoRA-MoE, dense weighted sum", "8 × rank 2, all active: 16 / 16"),
        _m("moe_random", "LoRA-MoE, random top-2 of 8", "8 × rank 2, 2 drawn per sample: 4 / 16"),
    ),
    budget=StudyBudget(),
    seeds=(0, 1, 2),
    data=dict(train=120, val=20, test=60, seed=0, image_size=32),
    base=dict(hidden_size=128, num_layers=4, num_heads=4, intermediate_size=256, steps=120),
    encoders=dict(image=dict(steps=3000), points=dict(steps=500)),
    pairs=(
        ("count_word", "count_digit"),
        ("shape_2d", "shape_3d"),
        ("list_2d", "exists_2d"),
        ("color_2d", "color_3d"),
        ("count_word", "color_3d"),
    ),
    convergence=("lora_shared", "moe_individual"),
    convergence_seeds=(0,),
    analysis=dict(
        batches_per_task=4,
        gradient_batch_size=4,
        group_by="layer",
        routing_per_task=32,
        tsne_layers=r"mlp",
    ),
)
