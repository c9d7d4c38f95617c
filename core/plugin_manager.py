"""Discovery and loading of third-party plugins through entry points and pluggy.

Entry-point groups read: ``octavius`` and ``octavius.plugins``. Set ``OCTAVIUS_DISABLE_PLUGIN_AUTOLOAD=1``
to load none of them automatically; ``OCTAVIUS_PLUGINS=dist_a,dist_b`` loads only the named
distributions, with or without the first variable (like pytest's ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``
/ ``-p``). An unknown component name then suggests the installed plugin that defines it.

A plugin that fails to import or to register is reported by distribution name with its error
(:func:`plugin_failures`, a warning, and ``python -m octavius list``); the others keep working.
A name clash is not such a failure: it raises, naming both distributions, since a silently
shadowed component would change results. ``force=True`` does not change that: a name registered
by one distribution is never replaced by another.
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
    current: str | None = None  # the distribution whose plugin is registering right now


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


def _normalized(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def autoload_disabled() -> bool:
    """Whether ``OCTAVIUS_DISABLE_PLUGIN_AUTOLOAD`` turns automatic loading off."""
    return os.environ.get(DISABLE_ENV, "").strip().lower() in ("1", "true", "yes")


def _selected(dist_name: str) -> bool:
    wanted = {_normalized(n) for n in os.environ.get(SELECT_ENV, "").split(",") if n.strip()}
    if wanted:
        return _normalized(dist_name) in wanted
    return not autoload_disabled()


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
            _state.current = dist_name
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
                    public, _, name = key.partition(":")
                    obj = registry.ALL_REGISTRIES[public].module_dict.get(name)
                    module = getattr(obj, "__module__", "") or ""
                    if not (module == "octavius" or module.startswith("octavius.")):
                        origins[key] = dist_name  # built-ins a plugin's import pulled in stay ours
            finally:
                _state.current = None
            _state.origins = {**(_state.origins or {}), **origins}
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


def registering_distribution() -> str | None:
    """The distribution whose plugin is registering components right now, if any."""
    return _state.current


def distribution_of(registry_public_name: str | None, name: str, obj: object) -> str | None:
    """The distribution that registered ``obj`` under ``name``: ``octavius`` for built-ins."""
    if registry_public_name is not None:
        dist = (_state.origins or {}).get(f"{registry_public_name}:{name}")
        if dist is not None:
            return dist
    module = getattr(obj, "__module__", "") or ""
    if module == "octavius" or module.startswith("octavius."):
        return "octavius"
    dists = metadata.packages_distributions().get(module.split(".")[0])
    return dists[0] if dists else None


def plugins_defining(name: str) -> list[str]:
    """Installed plugin distributions that are not loaded and whose source mentions ``name``.

    Reads the files of each entry-point distribution as text (nothing is imported), to suggest
    the plugin that provides a component when automatic loading is off.
    """
    manager = get_plugin_manager()
    found: list[str] = []
    for ep in _entry_points():
        dist = ep.dist
        if dist is None or manager.get_plugin(ep.name) is not None or dist.name in found:
            continue
        for file in dist.files or []:
            if file.suffix != ".py":
                continue
            try:
                text = file.locate().read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if f"class {name}" in text or f'"{name}"' in text or f"'{name}'" in text:
                found.append(dist.name)
                break
    return found


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
