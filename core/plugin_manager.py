"""Discovery and loading of third-party plugins through entry points and pluggy.

Entry-point groups read: ``octavius`` and ``octavius.plugins``. Set ``OCTAVIUS_DISABLE_PLUGIN_AUTOLOAD=1``
to load none of them automatically; ``OCTAVIUS_PLUGINS=dist_a,dist_b`` then loads only the named
distributions (like pytest's ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` / ``-p``).

A plugin that fails to import or to register is reported by distribution name with its error
(:func:`plugin_failures`, a warning, and ``python -m octavius list``); the others keep working.
A name clash is not such a failure: it raises, since a silently shadowed component would change
results.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from importlib import metadata

import pluggy

from octavius import hookspecs

ENTRY_POINT_GROUPS = ("octavius", "octavius.plugins")
DISABLE_ENV = "OCTAVIUS_DISABLE_PLUGIN_AUTOLOAD"
SELECT_ENV = "OCTAVIUS_PLUGINS"


class PluginLoadWarning(UserWarning):
    """A plugin could not be loaded; the rest of Octavius keeps working."""


class ComponentNameClashError(KeyError):
    """Two sources registered the same name in one registry."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that was found but could not be loaded."""

    distribution: str
    entry_point: str
    error: str


@dataclass
class _State:
    manager: pluggy.PluginManager | None = None
    loaded: bool = False
    loading: bool = False
    failures: list[PluginFailure] | None = None
    origins: dict[str, str] | None = None


_state = _State()


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager with Octavius's hook specifications."""
    if _state.manager is None:
        manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        manager.add_hookspecs(hookspecs)
        _state.manager = manager
    return _state.manager


def _entry_points() -> list[metadata.EntryPoint]:
    seen: set[tuple[str, str]] = set()
    found = []
    for group in ENTRY_POINT_GROUPS:
        for ep in metadata.entry_points(group=group):
            key = (ep.name, ep.value)
            if key not in seen:
                seen.add(key)
                found.append(ep)
    return found


def _selected(dist_name: str) -> bool:
    if os.environ.get(DISABLE_ENV, "").strip().lower() not in ("1", "true", "yes"):
        return True
    wanted = {
        n.strip().lower().replace("_", "-") for n in os.environ.get(SELECT_ENV, "").split(",")
    }
    return dist_name.lower().replace("_", "-") in wanted


def load_plugins(force: bool = False) -> list[PluginFailure]:
    """Find the installed plugins, import them and let them register their components.

    Idempotent: the second call does nothing unless ``force`` is true.

    Returns:
        The plugins that failed, each with its distribution name and error.
    """
    if (_state.loaded and not force) or _state.loading:
        return list(_state.failures or [])
    _state.loading = True
    try:
        from octavius import registry

        manager = get_plugin_manager()
        failures: list[PluginFailure] = []
        origins: dict[str, str] = dict(_state.origins or {})
        for ep in _entry_points():
            dist_name = ep.dist.name if ep.dist is not None else ep.module
            if not _selected(dist_name) or manager.get_plugin(ep.name) is not None:
                continue
            before = _snapshot(registry)
            try:
                module = ep.load()
                manager.register(module, name=ep.name)
                _call_register(manager, module, registry)
            except ComponentNameClashError:
                raise
            except KeyError as err:
                if "already registered" in str(err):
                    raise ComponentNameClashError(
                        f"plugin distribution '{dist_name}' (entry point '{ep.name} = {ep.value}')"
                        f" registers a name that already exists: {err}"
                    ) from err
                failures.append(PluginFailure(dist_name, f"{ep.name} = {ep.value}", repr(err)))
            except Exception as err:
                if manager.get_plugin(ep.name) is not None:
                    manager.unregister(name=ep.name)
                failures.append(PluginFailure(dist_name, f"{ep.name} = {ep.value}", repr(err)))
            else:
                for key in _snapshot(registry) - before:
                    origins[key] = dist_name
        for failure in failures:
            warnings.warn(
                f"Octavius plugin '{failure.distribution}' ({failure.entry_point}) failed to load "
                f"and is skipped: {failure.error}",
                PluginLoadWarning,
                stacklevel=2,
            )
        _state.failures = failures
        _state.origins = origins
        _state.loaded = True
        return list(failures)
    finally:
        _state.loading = False


def _call_register(manager: pluggy.PluginManager, module: object, registry: object) -> None:
    """Call ``octavius_register`` of this one plugin, so a failure is attributed to it."""
    others = [p for p in manager.get_plugins() if p is not module]
    manager.subset_hook_caller("octavius_register", remove_plugins=others)(registries=registry)


def _snapshot(registry_module: object) -> set[str]:
    keys = set()
    for public, reg in registry_module.ALL_REGISTRIES.items():  # type: ignore[attr-defined]
        keys.update(f"{public}:{name}" for name in reg.module_dict)
    return keys


def plugin_failures() -> list[PluginFailure]:
    """The plugins that failed to load in this process."""
    load_plugins()
    return list(_state.failures or [])


def component_origin(registry_public_name: str, name: str, obj: object) -> str:
    """Where a registered component comes from: ``built-in``, a distribution, or a module."""
    load_plugins()
    dist = (_state.origins or {}).get(f"{registry_public_name}:{name}")
    if dist is not None:
        return f"plugin {dist}"
    module = getattr(obj, "__module__", "") or ""
    if module == "octavius" or module.startswith("octavius."):
        return "built-in"
    top = module.split(".")[0]
    if top in ("mmengine", "torch"):
        return top
    dists = metadata.packages_distributions().get(top)
    if dists:
        return f"plugin {dists[0]}" if top in sys.modules else dists[0]
    return module or "unknown"


def plugin_config_keys() -> set[str]:
    """Top-level config keys contributed by the loaded plugins."""
    load_plugins()
    keys: set[str] = set()
    for result in get_plugin_manager().hook.octavius_config_keys():
        keys.update(result or [])
    return keys


def reset_plugins() -> None:
    """Forget loaded plugins (tests): the next :func:`load_plugins` discovers them again."""
    manager = _state.manager
    if manager is not None:
        for name, _ in list(manager.list_name_plugin()):
            manager.unregister(name=name)
    _state.loaded = False
    _state.failures = None
    _state.origins = None
