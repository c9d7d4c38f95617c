"""Hook specifications a third-party plugin implements (pluggy).

A plugin is a module reachable through an entry point in the group ``octavius`` (the older group
name ``octavius.plugins`` is read too). It marks its functions with :data:`hookimpl`::

    from octavius.hookspecs import hookimpl

    @hookimpl
    def octavius_register(registries):
        from my_plugin.router import MyRouter
        registries.ROUTERS.register_module(module=MyRouter)

Registration must not overwrite: a name that is already registered raises, naming both places.
"""

from __future__ import annotations

from types import ModuleType

import pluggy

PROJECT_NAME = "octavius"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def octavius_register(registries: ModuleType) -> None:
    """Register the plugin's components.

    Args:
        registries: the module :mod:`octavius.registry`; register into its registries
            (``registries.ROUTERS``, ``registries.EXPERTS``, ``registries.ENCODERS``, …) with
            ``register_module``. Never pass ``force=True``: names are unique across plugins.
    """


@hookspec
def octavius_config_keys() -> list[str]:
    """Extra top-level config keys the plugin reads, so config validation accepts them."""
