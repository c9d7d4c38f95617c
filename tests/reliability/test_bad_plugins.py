"""Plugins: name clashes name both distributions (``force=True`` included), selection by
``OCTAVIUS_PLUGINS`` alone, and an unknown component suggesting the unloaded plugin."""

from __future__ import annotations

import sys
import textwrap

import pytest

from octavius import plugin_manager
from octavius.registry import ALL_REGISTRIES
from tests.reliability.helpers import assert_user_error, run_tool


def _fake_distribution(root, dist, module, source):
    """An installed distribution (dist-info with an ``octavius`` entry point), without pip."""
    (root / module).mkdir(parents=True)
    (root / module / "__init__.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(f"[octavius]\n{module} = {module}\n")
    (info / "top_level.txt").write_text(f"{module}\n")
    (info / "RECORD").write_text(f"{module}/__init__.py,,\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A directory on ``sys.path`` for fake plugin distributions; registries restored after."""
    saved = {name: dict(reg.module_dict) for name, reg in ALL_REGISTRIES.items()}
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin_manager.reset_plugins()
    yield tmp_path
    plugin_manager.reset_plugins()
    for name, reg in ALL_REGISTRIES.items():
        reg._module_dict.clear()
        reg._module_dict.update(saved[name])
    for module in [m for m in sys.modules if m.startswith("relplug_")]:
        del sys.modules[module]


ROUTER_PLUGIN = """
from octavius.hookspecs import hookimpl
from octavius.plugins.routers.instance import InstanceRouter as _Base

class {cls}(_Base):
    pass

@hookimpl
def octavius_register(registries):
    registries.ROUTERS.register_module(name="{name}", module={cls}, force={force})
"""


def _train(tiny, tmp_path, *options):
    argv = [str(tiny["config"]), "--work-dir", str(tmp_path / "w"), "--no-progress"]
    return run_tool("train", argv + (["--cfg-options", *options] if options else []))


def test_force_true_cannot_replace_a_builtin(tiny, site, tmp_path):
    _fake_distribution(
        site, "evil-router", "relplug_evil",
        ROUTER_PLUGIN.format(cls="Hijack", name="InstanceRouter", force=True),
    )  # fmt: skip
    err = assert_user_error(_train(tiny, tmp_path), "InstanceRouter", "'octavius'", "'evil-router'")
    assert "force=True" in err
    assert ALL_REGISTRIES["ROUTERS"].get("InstanceRouter").__module__.startswith("octavius.")


def test_two_plugins_registering_one_name_name_both(tiny, site, tmp_path):
    for dist, module in (("router-a", "relplug_a"), ("router-b", "relplug_b")):
        _fake_distribution(
            site, dist, module, ROUTER_PLUGIN.format(cls="Shared", name="SharedRouter", force=False)
        )
    assert_user_error(_train(tiny, tmp_path), "SharedRouter", "router-a", "router-b")


def test_plugins_env_alone_restricts_loading(site, monkeypatch):
    for dist, module, name in (
        ("keep-me", "relplug_keep", "KeptRouter"),
        ("skip-me", "relplug_skip", "SkippedRouter"),
    ):
        _fake_distribution(
            site, dist, module, ROUTER_PLUGIN.format(cls=name, name=name, force=False)
        )
    monkeypatch.setenv("OCTAVIUS_PLUGINS", "keep-me")
    plugin_manager.load_plugins(force=True)
    routers = ALL_REGISTRIES["ROUTERS"].module_dict
    assert "KeptRouter" in routers and "SkippedRouter" not in routers


def test_missing_component_with_autoload_off_suggests_the_plugin(tiny, site, tmp_path, monkeypatch):
    _fake_distribution(
        site, "fancy-routers", "relplug_fancy",
        ROUTER_PLUGIN.format(cls="FancyRouter", name="FancyRouter", force=False),
    )  # fmt: skip
    monkeypatch.setenv("OCTAVIUS_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = _train(tiny, tmp_path, "model.adapters.router.type=FancyRouter")
    assert_user_error(result, "FancyRouter", "fancy-routers", "OCTAVIUS_PLUGINS=fancy-routers")


def test_a_plugin_that_fails_to_import_is_named_and_skipped(tiny, site, tmp_path):
    _fake_distribution(site, "broken-plugin", "relplug_broken", "raise RuntimeError('boom')\n")
    with pytest.warns(plugin_manager.PluginLoadWarning, match="broken-plugin"):
        failures = plugin_manager.load_plugins(force=True)
    assert [f.distribution for f in failures] == ["broken-plugin"]
    assert "InstanceRouter" in ALL_REGISTRIES["ROUTERS"].module_dict
