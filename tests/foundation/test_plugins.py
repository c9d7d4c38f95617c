"""Third-party plugins found through entry points: loading, failures, clashes, opting out."""

from __future__ import annotations

import pytest

from .plugin_dists import make_distribution, pip_install_target, run_python

GOOD = """
from octavius.hookspecs import hookimpl


class EchoTemplate:
    '''A template that echoes the conversation, registered by a plugin.'''


@hookimpl
def octavius_register(registries):
    registries.TEMPLATES.register_module(module=EchoTemplate)


@hookimpl
def octavius_config_keys():
    return ["echo_settings"]
"""

BROKEN = """
raise RuntimeError("this plugin is broken on purpose")
"""

CLASH = """
from octavius.hookspecs import hookimpl


class InstanceRouter:
    '''Shadows a built-in name.'''


@hookimpl
def octavius_register(registries):
    registries.ROUTERS.register_module(module=InstanceRouter)
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One install folder with a good and a broken plugin, another with a clashing one."""
    root = tmp_path_factory.mktemp("plugins")
    good_site, clash_site = root / "site", root / "clash-site"
    pip_install_target(make_distribution(root, "octavius-echo", "octavius_echo", GOOD), good_site)
    pip_install_target(
        make_distribution(root, "octavius-broken", "octavius_broken", BROKEN), good_site
    )
    pip_install_target(
        make_distribution(root, "octavius-clash", "octavius_clash", CLASH), clash_site
    )
    return good_site, clash_site


def test_good_plugin_registers_and_broken_one_is_reported(site, tmp_path):
    good_site, _ = site
    out = run_python(
        """
        import warnings
        warnings.simplefilter("always")
        from octavius.registry import TEMPLATES, ROUTERS
        from octavius.plugin_manager import plugin_failures, component_origin, plugin_config_keys
        cls = TEMPLATES.get("EchoTemplate")
        print("origin", component_origin("TEMPLATES", "EchoTemplate", cls))
        print("failed", [(f.distribution, "broken on purpose" in f.error) for f in plugin_failures()])
        print("builtin", ROUTERS.get("InstanceRouter").__name__)
        print("keys", "echo_settings" in plugin_config_keys())
        """,
        good_site,
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "origin plugin octavius-echo" in lines
    assert "failed [('octavius-broken', True)]" in lines
    assert "builtin InstanceRouter" in lines
    assert "keys True" in lines
    assert "octavius-broken" in out.stderr  # the warning names the distribution


def test_list_command_shows_plugin_origin_and_failure(site, tmp_path):
    good_site, _ = site
    out = run_python(
        "from octavius.cli import main; raise SystemExit(main(['list', 'TEMPLATES', '--width', '200']))",
        good_site,
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "EchoTemplate" in out.stdout and "plugin octavius-echo" in out.stdout
    assert "plugin octavius-broken" in out.stdout and "failed to load" in out.stdout


def test_name_clash_fails_loudly(site, tmp_path):
    _, clash_site = site
    out = run_python(
        "from octavius.registry import ROUTERS; ROUTERS.get('InstanceRouter')", clash_site, tmp_path
    )
    assert out.returncode != 0
    assert "ComponentNameClashError" in out.stderr
    assert "octavius-clash" in out.stderr and "InstanceRouter" in out.stderr


def test_autoload_can_be_turned_off_and_plugins_selected(site, tmp_path):
    good_site, _ = site
    code = """
        from octavius.registry import TEMPLATES
        from octavius.plugin_manager import plugin_failures
        print("echo" if "EchoTemplate" in TEMPLATES.module_dict or TEMPLATES.import_from_location() or "EchoTemplate" in TEMPLATES.module_dict else "none")
        print(len(plugin_failures()))
        """
    off = run_python(code, good_site, tmp_path, OCTAVIUS_DISABLE_PLUGIN_AUTOLOAD="1")
    assert off.returncode == 0, off.stderr
    assert off.stdout.split() == ["none", "0"]
    picked = run_python(
        code,
        good_site,
        tmp_path,
        OCTAVIUS_DISABLE_PLUGIN_AUTOLOAD="1",
        OCTAVIUS_PLUGINS="octavius-echo",
    )
    assert picked.returncode == 0, picked.stderr
    assert picked.stdout.split() == ["echo", "0"]
