"""Every config of configs/study/ loads and builds, with the adapters the study says it has.

configs/study/ is left out of tests/configs (it belongs to the study); each file is built here
the way the study runs it, with the tiny assets, and checked for the study's invariants: the same
adapted linears at the same scale, the shared LoRA's active rank, a frozen LLM.
"""

from __future__ import annotations

import warnings

import pytest

from octavius.adapters import AdaptedLinear
from octavius.analysis.study.plan import DEFAULT_STUDY
from octavius.analysis.study.runs import study_runs, write_run_config
from octavius.config import load_config
from octavius.loading import load_model
from octavius.testing.tiny_assets import default_assets_root
from tests.analysis.tiny_models import REPO

STUDY_CONFIGS = sorted((REPO / "configs" / "study").glob("*.py"))
METHODS = {m.key: m for m in DEFAULT_STUDY.methods if not m.per_task}
# expert kind, choices per linear, active rank per sample or token
EXPECTED = {
    "lora_shared": ("LoRAExperts", 1, 4),
    "lora_shared_r16": ("LoRAExperts", 1, 16),
    "moe_instance_top2": ("LoRAExperts", 8, 4),
    "moe_individual": ("LoRAExperts", 8, 4),
    "moe_token_top1": ("LoRAExperts", 4, 4),
    "mixlora": ("LoRAFactorPool", 16, 4),
    "moe_dense": ("LoRAExperts", 8, 16),
    "moe_random": ("LoRAExperts", 8, 4),
}


def test_every_study_config_is_part_of_the_study():
    used = {REPO / m.config for m in DEFAULT_STUDY.methods}
    assert set(STUDY_CONFIGS) == used
    assert set(EXPECTED) == set(METHODS)


@pytest.mark.parametrize("key", sorted(METHODS))
def test_study_config_builds_with_its_adapters(key, tmp_path):
    run = next(r for r in study_runs(DEFAULT_STUDY, tmp_path) if r.name == f"{key}_s0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = load_config(
            write_run_config(run, DEFAULT_STUDY, tmp_path / "data", REPO, default_assets_root())
        )
    model = load_model(cfg)
    adapted = [m for m in model.modules() if isinstance(m, AdaptedLinear)]
    kind, choices, active = EXPECTED[key]
    assert len(adapted) == 14  # q/k/v/o + gate/up/down of both decoder layers
    for layer in adapted:
        bank = layer.experts
        assert type(bank).__name__ == kind and bank.num_choices == choices
        assert bank.alpha / bank.rank == 2.0
        router = layer.shared_router
        if router is None or getattr(router, "mode", "sparse") == "individual":
            rank = bank.rank
        elif getattr(router, "mode", "sparse") == "dense":
            rank = bank.rank * bank.num_choices
        else:
            rank = bank.rank * getattr(router, "top_k", 1) if kind == "LoRAExperts" else bank.rank
        assert rank == active, layer.name
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"llm", "encoders", "projectors"}
    assert not any(
        p.requires_grad for n, p in model.llm.named_parameters() if "lm_head" in n or "embed" in n
    )
