"""Registries: scope, parents, built-in discovery and helpful errors for unknown names."""

from __future__ import annotations

import pytest
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import DefaultScope

from octavius import registry
from octavius.registry import UnknownComponentError


def test_every_registry_has_the_octavius_scope():
    for name, reg in registry.ALL_REGISTRIES.items():
        assert reg.scope == "octavius", name


def test_runner_registries_are_children_of_mmengine_roots():
    assert registry.MODELS.parent is MMENGINE_MODELS
    assert MMENGINE_MODELS._children["octavius"] is registry.MODELS
    assert registry.HOOKS.parent is MMENGINE_HOOKS


def test_mmengine_components_are_found_through_octavius_children():
    assert registry.HOOKS.get("CheckpointHook").__name__ == "CheckpointHook"
    assert registry.OPTIMIZERS.get("AdamW").__name__ == "AdamW"


def test_unknown_name_names_registry_and_close_matches():
    registry.HOOKS.get("IterTimerHook")
    with pytest.raises(UnknownComponentError) as info:
        registry.HOOKS.build(dict(type="IterTimerHok"))
    message = str(info.value)
    assert "'IterTimerHok'" in message
    assert "'hook' registry" in message
    assert "'IterTimerHook'" in message


def test_unknown_name_through_mmengine_root_with_default_scope():
    DefaultScope.get_instance("test_unknown_root", scope_name="octavius")
    with pytest.raises(KeyError, match="Did you mean: 'CheckpointHook'"):
        MMENGINE_HOOKS.build(dict(type="CheckpointHoook"))


def test_find_registry_by_public_or_short_name():
    assert registry.find_registry("ROUTERS") is registry.ROUTERS
    assert registry.find_registry("router") is registry.ROUTERS
    with pytest.raises(UnknownComponentError, match="ROUTERS"):
        registry.find_registry("ROUTER5")


def test_builtins_are_found_without_importing_them(tmp_path):
    """A fresh interpreter finds built-in routers/experts/encoders by name alone."""
    import subprocess
    import sys

    code = (
        "from octavius.registry import ROUTERS, EXPERTS, ENCODERS;"
        "print(len(ROUTERS.module_dict), len(EXPERTS.module_dict));"
        "ROUTERS.get('InstanceRouter'); EXPERTS.get('LoRAExperts'); ENCODERS.get('PointBERT');"
        "print(sorted(ROUTERS.module_dict))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    before, names = out.stdout.splitlines()[:2]
    assert before == "0 0", "built-ins must register lazily, on the first search"
    for expected in (
        "InstanceRouter",
        "TokenRouter",
        "ConditionalFactorRouter",
        "TaskEmbeddingRouter",
        "RandomRouter",
    ):
        assert expected in names
