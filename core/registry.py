"""The registries of Octavius: the only place they are created.

Every registry has the explicit scope ``octavius``. The ones the mmengine ``Runner`` uses are
children of mmengine's root registries, so a config with ``default_scope='octavius'`` builds
Octavius components and mmengine's own ones (hooks, optimizers, loops) alike. Each registry lists
the modules that hold its built-ins in ``locations``: they are imported the first time the registry
is searched, so users never import a component just to register it. The first search also loads the
third-party plugins (see :mod:`octavius.plugin_manager`).

An unknown type name raises :class:`UnknownComponentError`, which names the registry, the name asked
for and the closest registered names.
"""

from __future__ import annotations

import difflib
from typing import Any

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import STRATEGIES as MMENGINE_STRATEGIES
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

SCOPE = "octavius"


class UnknownComponentError(KeyError):
    """A config named a type that no registry in reach knows."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class OctaviusRegistry(Registry):
    """An mmengine ``Registry`` that loads plugins and explains unknown names.

    Behaves like :class:`mmengine.registry.Registry`, with two additions: searching it first
    imports its ``locations`` and loads the third-party plugins, and asking for an unknown name
    raises :class:`UnknownComponentError` instead of returning ``None``.
    """

    def import_from_location(self) -> None:
        """Import built-ins from ``locations``, then load the third-party plugins once."""
        already = self._imported
        super().import_from_location()
        if not already:
            from octavius.plugin_manager import load_plugins

            load_plugins()

    def get(self, key: str) -> Any:
        """Return the class registered under ``key`` (here or in a parent registry).

        Raises:
            UnknownComponentError: when no registry in reach has ``key``; the message lists the
                closest registered names.
        """
        obj = super().get(key)
        if obj is None:
            raise UnknownComponentError(self.unknown_name_message(key))
        return obj

    def _register_module(
        self, module: type, module_name: str | list[str] | None = None, force: bool = False
    ) -> None:
        """Register like mmengine, but never replace another distribution's component.

        ``force=True`` may re-register a name of the same distribution (a reloaded module); a
        name registered by another distribution (a plugin taking over ``InstanceRouter``) is
        refused whatever ``force`` says.

        Raises:
            octavius.plugin_manager.ComponentNameClashError: naming both distributions.
        """
        from octavius.plugin_manager import (
            ComponentNameClashError,
            distribution_of,
            registering_distribution,
        )

        names = [module_name] if isinstance(module_name, str) else module_name
        public = next((k for k, v in ALL_REGISTRIES.items() if v is self), None)
        for name in names or [getattr(module, "__name__", "")]:
            existing = self._module_dict.get(name)
            if existing is None or existing is module:
                continue
            old = distribution_of(public, name, existing)
            new = registering_distribution() or distribution_of(None, name, module)
            if old and new and old != new:
                raise ComponentNameClashError(
                    f"'{name}' in the '{self.name}' registry is already registered by "
                    f"distribution '{old}' ({existing.__module__}); distribution '{new}' "
                    f"({getattr(module, '__module__', '?')}) registers it again"
                    f"{' with force=True' if force else ''}. A name is never replaced across "
                    f"distributions: register the component of '{new}' under another name."
                )
        super()._register_module(module, module_name, force)

    def known_names(self) -> list[str]:
        """Names registered here and in the parent registries, sorted."""
        names: set[str] = set()
        registry: Registry | None = self
        while registry is not None:
            names.update(registry.module_dict)
            registry = registry.parent
        return sorted(names)

    def unknown_name_message(self, key: str) -> str:
        """The error text for an unknown ``key``: registry, name and the closest known names."""
        _, real_key = self.split_scope_key(key)
        own = sorted(self.module_dict)
        close = difflib.get_close_matches(real_key, self.known_names(), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else ""
        listed = ", ".join(own) if own else "(none)"
        return (
            f"'{key}' is not registered in the '{self.name}' registry (scope '{self.scope}').{hint}"
            f"{_plugin_hint(real_key)} Registered here: {listed}. Run `python -m octavius list "
            f"{self.name}` to see every component and where it comes from."
        )


def _plugin_hint(name: str) -> str:
    """Which installed but unloaded plugin defines ``name`` (plugin loading restricted)."""
    from octavius import plugin_manager as pm

    providers = pm.plugins_defining(name)
    if not providers:
        return ""
    listed = ",".join(providers)
    return (
        f" It is provided by the installed plugin distribution {', '.join(repr(p) for p in providers)},"
        f" which is not loaded ({pm.DISABLE_ENV}/{pm.SELECT_ENV} restrict plugin loading): set "
        f"{pm.SELECT_ENV}={listed} (or unset {pm.DISABLE_ENV})."
    )


def _child(
    name: str, parent: Registry | None, locations: list[str] | None = None
) -> OctaviusRegistry:
    return OctaviusRegistry(name, parent=parent, scope=SCOPE, locations=locations or [])


# Children of mmengine's roots: the Runner builds through these with default_scope='octavius'.
RUNNERS = _child("runner", MMENGINE_RUNNERS, ["octavius.engine"])
RUNNER_CONSTRUCTORS = _child("runner constructor", MMENGINE_RUNNER_CONSTRUCTORS)
LOOPS = _child("loop", MMENGINE_LOOPS, ["octavius.engine"])
HOOKS = _child("hook", MMENGINE_HOOKS, ["octavius.engine"])
STRATEGIES = _child("strategy", MMENGINE_STRATEGIES, ["octavius.engine"])
DATASETS = _child("dataset", MMENGINE_DATASETS, ["octavius.data"])
DATA_SAMPLERS = _child("data sampler", MMENGINE_DATA_SAMPLERS, ["octavius.data"])
TRANSFORMS = _child("transform", MMENGINE_TRANSFORMS, ["octavius.data", "octavius.features"])
MODELS = _child("model", MMENGINE_MODELS, ["octavius.models"])
MODEL_WRAPPERS = _child("model_wrapper", MMENGINE_MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child("weight initializer", MMENGINE_WEIGHT_INITIALIZERS)
OPTIMIZERS = _child("optimizer", MMENGINE_OPTIMIZERS)
OPTIM_WRAPPERS = _child("optim_wrapper", MMENGINE_OPTIM_WRAPPERS, ["octavius.engine"])
OPTIM_WRAPPER_CONSTRUCTORS = _child(
    "optimizer wrapper constructor", MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
)
PARAM_SCHEDULERS = _child("parameter scheduler", MMENGINE_PARAM_SCHEDULERS)
METRICS = _child("metric", MMENGINE_METRICS, ["octavius.evaluation"])
EVALUATOR = _child("evaluator", MMENGINE_EVALUATOR)
TASK_UTILS = _child("task util", MMENGINE_TASK_UTILS)
VISUALIZERS = _child("visualizer", MMENGINE_VISUALIZERS)
VISBACKENDS = _child("vis_backend", MMENGINE_VISBACKENDS)
LOG_PROCESSORS = _child("log_processor", MMENGINE_LOG_PROCESSORS)
FUNCTIONS = _child("function", MMENGINE_FUNCTIONS, ["octavius.data", "octavius.testing.quickstart"])

# Octavius's own kinds of component, built through the typed helpers in octavius.builders.
# They are roots (mmengine keeps one child per scope, so they cannot all hang under MODELS).
ENCODERS = _child("encoder", None, ["octavius.plugins.encoders"])
ROUTERS = _child("router", None, ["octavius.plugins.routers"])
EXPERTS = _child("expert", None, ["octavius.plugins.experts"])
ROI_SOURCES = _child("roi_source", None, ["octavius.plugins.encoders"])
PROJECTORS = _child("projector", None, ["octavius.models"])
TEXT_ENCODERS = _child("text_encoder", None, ["octavius.plugins.routers"])
TEMPLATES = _child("template", None, ["octavius.data"])

#: Every registry by its public name, for ``python -m octavius list`` and the plugin hooks.
ALL_REGISTRIES: dict[str, OctaviusRegistry] = {
    "ENCODERS": ENCODERS,
    "ROUTERS": ROUTERS,
    "EXPERTS": EXPERTS,
    "ROI_SOURCES": ROI_SOURCES,
    "PROJECTORS": PROJECTORS,
    "TEXT_ENCODERS": TEXT_ENCODERS,
    "TEMPLATES": TEMPLATES,
    "MODELS": MODELS,
    "DATASETS": DATASETS,
    "DATA_SAMPLERS": DATA_SAMPLERS,
    "TRANSFORMS": TRANSFORMS,
    "METRICS": METRICS,
    "HOOKS": HOOKS,
    "LOOPS": LOOPS,
    "RUNNERS": RUNNERS,
    "RUNNER_CONSTRUCTORS": RUNNER_CONSTRUCTORS,
    "STRATEGIES": STRATEGIES,
    "MODEL_WRAPPERS": MODEL_WRAPPERS,
    "WEIGHT_INITIALIZERS": WEIGHT_INITIALIZERS,
    "OPTIMIZERS": OPTIMIZERS,
    "OPTIM_WRAPPERS": OPTIM_WRAPPERS,
    "OPTIM_WRAPPER_CONSTRUCTORS": OPTIM_WRAPPER_CONSTRUCTORS,
    "PARAM_SCHEDULERS": PARAM_SCHEDULERS,
    "EVALUATOR": EVALUATOR,
    "TASK_UTILS": TASK_UTILS,
    "VISUALIZERS": VISUALIZERS,
    "VISBACKENDS": VISBACKENDS,
    "LOG_PROCESSORS": LOG_PROCESSORS,
    "FUNCTIONS": FUNCTIONS,
}


def find_registry(name: str) -> OctaviusRegistry:
    """Look a registry up by its public name (``ROUTERS``) or registry name (``router``)."""
    wanted = name.strip()
    for public, registry in ALL_REGISTRIES.items():
        if wanted.upper() == public or wanted.lower() in (registry.name, public.lower()):
            return registry
    close = difflib.get_close_matches(wanted.upper(), list(ALL_REGISTRIES), n=3, cutoff=0.4)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownComponentError(
        f"No registry named '{name}'.{hint} Known registries: {', '.join(ALL_REGISTRIES)}."
    )


def import_all_builtins() -> None:
    """Import every registry's built-in locations and load the plugins (idempotent)."""
    for registry in ALL_REGISTRIES.values():
        registry.import_from_location()
