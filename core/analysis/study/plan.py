"""What the interference study runs: its tasks, its methods, its budget (docs/interference_study.md).

The study asks the papers' question on the synthetic 2D + 3D set: does one LoRA shared by every
task fall below one LoRA per task (the tug-of-war of Octavius Fig. 3, the task interference of
MixLoRA §3.2), and how much of the gap do mixtures of LoRA experts recover?

A :class:`StudyTask` is one kind of question on one modality, cut out of the synthetic set by
sample id (``make_synthetic`` names samples ``<item>_<generator task>``). A :class:`StudyMethod`
is a config of ``configs/study/`` trained once on the mixture of every task — or, for the
specialists, once per task on that task alone. Every run gets the same budget: the iterations,
batch and schedule of :class:`StudyBudget`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["DEFAULT_STUDY", "StudyBudget", "StudyMethod", "StudyPlan", "StudyTask"]


@dataclass(frozen=True)
class StudyTask:
    """One task of the study.

    Attributes:
        name: short name; also the dataset name in metric keys (``"<name>/<task_type>/<metric>"``).
        modality: ``"2d"`` (images) or ``"3d"`` (point-cloud scenes): which synthetic file.
        generator_task: the ``make_synthetic`` task (``vqa``, ``vqa_open``, ``classification``, …).
        task_type: the samples' task type (``vqa`` for both VQA kinds).
        metric: the metric name reported for it.
        title: column title in the results table.
    """

    name: str
    modality: str
    generator_task: str
    task_type: str
    metric: str = "accuracy"
    title: str = ""

    @property
    def metric_key(self) -> str:
        """The key of this task's score in a run's ``metrics.json``."""
        return f"{self.name}/{self.task_type}/{self.metric}"

    def selects(self, sample: dict[str, Any]) -> bool:
        """Whether a synthetic sample belongs to this task (by its id suffix)."""
        return str(sample.get("id", "")).endswith(f"_{self.generator_task}")


@dataclass(frozen=True)
class StudyMethod:
    """One row of the results table.

    Attributes:
        key: identifier (run directory name; ``--methods`` selects by it).
        title: row title.
        config: config file, relative to the repository root.
        per_task: train one run per task on that task alone (the specialists).
        note: what is special about it (active rank, experts), shown in the setup table.
    """

    key: str
    title: str
    config: str
    per_task: bool = False
    note: str = ""


@dataclass(frozen=True)
class StudyBudget:
    """The training budget every run gets.

    Attributes:
        iterations: optimizer steps per run (batch of ``batch_size`` samples each).
        batch_size: samples per step.
        warmup: linear warm-up steps (capped at a tenth of ``iterations``).
        seed: the runs' seed.
    """

    iterations: int = 1500
    batch_size: int = 8
    warmup: int = 50
    seed: int = 0


@dataclass(frozen=True)
class StudyPlan:
    """The whole study.

    Attributes:
        tasks: the tasks, in column order.
        methods: the methods, in row order; the first ``per_task`` method gives the specialists
            and the method keyed ``shared_key`` is the shared-LoRA baseline.
        budget: the training budget of every run.
        synthetic: ``make_synthetic`` arguments (size, difficulty, seed) of the data set.
        shared_key: the shared LoRA's method key.
        analysis: options of the analyses run on the trained models.
        budget_check: method keys trained once more with ``budget_check_iterations``, to see
            whether the ranking depends on the budget (reported apart, not analysed).
        budget_check_iterations: their iterations.
    """

    tasks: tuple[StudyTask, ...]
    methods: tuple[StudyMethod, ...]
    budget: StudyBudget = field(default_factory=StudyBudget)
    synthetic: dict[str, Any] = field(default_factory=dict)
    shared_key: str = "lora_shared"
    analysis: dict[str, Any] = field(default_factory=dict)
    budget_check: tuple[str, ...] = ()
    budget_check_iterations: int = 4500

    @property
    def specialists(self) -> StudyMethod | None:
        """The per-task method, if any."""
        return next((m for m in self.methods if m.per_task), None)

    def select(self, methods: list[str] | None = None, tasks: list[str] | None = None) -> StudyPlan:
        """The plan restricted to some method keys and task names (in the plan's order)."""
        for wanted, known, what in (
            (methods, [m.key for m in self.methods], "method"),
            (tasks, [t.name for t in self.tasks], "task"),
        ):
            unknown = sorted(set(wanted or []) - set(known))
            if unknown:
                raise KeyError(f"unknown {what}(s) {unknown}; known: {known}.")
        return replace(
            self,
            methods=tuple(m for m in self.methods if methods is None or m.key in methods),
            tasks=tuple(t for t in self.tasks if tasks is None or t.name in tasks),
            budget_check=tuple(k for k in self.budget_check if methods is None or k in methods),
        )


DEFAULT_STUDY = StudyPlan(
    tasks=(
        StudyTask("2d_mc", "2d", "vqa", "vqa", title="2D colour (MC)"),
        StudyTask("2d_count", "2d", "vqa_open", "vqa", title="2D count"),
        StudyTask("2d_cls", "2d", "classification", "classification", title="2D shape"),
        StudyTask("3d_mc", "3d", "vqa", "vqa", title="3D colour (MC)"),
        StudyTask("3d_count", "3d", "vqa_open", "vqa", title="3D count"),
        StudyTask("3d_cls", "3d", "classification", "classification", title="3D shape"),
    ),
    methods=(
        StudyMethod(
            "lora_specialists",
            "LoRA specialists (one per task)",
            "configs/study/lora.py",
            per_task=True,
            note="rank 4, a separate LoRA per task",
        ),
        StudyMethod("lora_shared", "LoRA, shared", "configs/study/lora.py", note="rank 4"),
        StudyMethod(
            "moe_instance_top2",
            "LoRA-MoE, instance top-2 of 4",
            "configs/study/moe_instance_top2.py",
            note="4 × rank 2, 2 active (rank 4)",
        ),
        StudyMethod(
            "moe_token_top1",
            "LoRA-MoE, token top-1 of 4",
            "configs/study/moe_token_top1.py",
            note="4 × rank 4 per block router, 1 active per token",
        ),
        StudyMethod(
            "mixlora",
            "MixLoRA, E=16, r=4",
            "configs/study/mixlora.py",
            note="16 rank-1 factors, 4 active for A and for B",
        ),
        StudyMethod(
            "moe_dense",
            "LoRA-MoE, dense weighted sum",
            "configs/study/moe_dense.py",
            note="4 × rank 2, all active (rank 8)",
        ),
        StudyMethod(
            "moe_random",
            "LoRA-MoE, random top-2 of 4",
            "configs/study/moe_random.py",
            note="4 × rank 2, 2 drawn per sample",
        ),
    ),
    budget=StudyBudget(),
    synthetic=dict(num_images=1000, num_scenes=500, difficulty="easy", image_size=32, seed=0),
    analysis=dict(
        batches_per_task=4,
        gradient_batch_size=4,
        group_by="layer",
        routing_per_task=100,
        tsne_layers=r"mlp",
    ),
    budget_check=("lora_shared", "moe_instance_top2"),
    budget_check_iterations=4500,
)
