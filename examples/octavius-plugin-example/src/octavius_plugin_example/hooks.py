"""The plugin's hook implementations, found through the ``octavius`` entry-point group."""

from __future__ import annotations

from types import ModuleType

from octavius.hookspecs import hookimpl


@hookimpl
def octavius_register(registries: ModuleType) -> None:
    """Register :class:`CosineRouter` in Octavius's ROUTERS registry."""
    from octavius_plugin_example.cosine_router import CosineRouter

    registries.ROUTERS.register_module(module=CosineRouter)
