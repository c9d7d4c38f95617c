"""Loading configs and checking their top-level keys.

Configs are mmengine Python configs composed by inheritance. mmengine accepts any top-level key,
so a misspelled ``train_dataloder`` would be ignored and the run would silently use a default. Here
every top-level key is checked against the keys the tools read: a key close to an accepted one is
an error that names both; any other unknown key is reported as a config variable (configs use
top-level variables such as ``llm_path`` to share values between sections).

Fields that use a top-level variable write it as a placeholder, ``"{{llm_path}}"`` (also inside a
longer string: ``"{{data_root}}/images"``). Placeholders are resolved after ``--cfg-options`` are
merged, so ``--cfg-options llm_path=/weights/vicuna`` reaches every field that uses it — a plain
``model.llm = llm_path`` in a Python config would copy the value at load time and ignore the
override. The documented path variables are :data:`PATH_VARIABLES`.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mmengine.config import Config
from mmengine.config import DictAction as _MMEngineDictAction

from octavius.config_check import check_component_args, config_load_error
from octavius.errors import ConfigKeyError, ConfigSyntaxError, ConfigValueError
from octavius.plugin_manager import plugin_config_keys

#: Keys mmengine's Runner reads (``Runner.from_cfg``) plus the ones Octavius's tools read.
RUNNER_KEYS = frozenset(
    {
        "model",
        "work_dir",
        "train_dataloader",
        "val_dataloader",
        "test_dataloader",
        "train_cfg",
        "val_cfg",
        "test_cfg",
        "auto_scale_lr",
        "optim_wrapper",
        "param_scheduler",
        "val_evaluator",
        "test_evaluator",
        "default_hooks",
        "custom_hooks",
        "data_preprocessor",
        "load_from",
        "resume",
        "launcher",
        "env_cfg",
        "log_processor",
        "log_level",
        "visualizer",
        "default_scope",
        "randomness",
        "experiment_name",
        "cfg",
        "strategy",
        "model_wrapper_cfg",
        "compile",
        "runner_type",
        "filename",
        "text",
        "pretty_text",
    }
)
OCTAVIUS_KEYS = frozenset(
    {
        "stage1_checkpoint",  # weights a stage-2 run starts from (two-stage recipes)
        "trainable_keys",  # extra parameter-name patterns to train
        "benchmark",  # settings read by tools/benchmark.py
        "analysis",  # settings read by tools/analysis/*
        "quickstart",  # assets the embedded quickstart prepares before training
        "export",  # settings read by the export tool
        "config_variables",  # names of top-level variables, declared to silence the report
        "allow_config_change",  # resume a checkpoint trained with another model/optimizer config
        "feature_cache",  # directory of cached frozen-encoder features (tools/data/cache_features.py)
    }
)


#: Top-level variables naming where weights and data are; ``--cfg-options llm_path=...`` etc.
PATH_VARIABLES = ("llm_path", "clip_path", "point_bert_path", "data_root", "roi_root")

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class ConfigPlaceholderError(KeyError):
    """A ``{{name}}`` placeholder that names no top-level variable (or a cycle of them)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _variable(cfg: Config, name: str, where: str, source: str, seen: tuple[str, ...]) -> str:
    if name in seen:
        chain = " -> ".join((*seen, name))
        raise ConfigPlaceholderError(f"{source}: placeholders form a cycle: {chain}.")
    if name not in cfg:
        known = sorted(k for k in cfg if isinstance(cfg[k], (str, int, float)))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigPlaceholderError(
            f"{source}: {where} uses the placeholder {{{{{name}}}}} but the config has no "
            f"top-level variable '{name}'.{hint}"
        )
    value = cfg[name]
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ConfigPlaceholderError(
            f"{source}: {where} uses {{{{{name}}}}}, but '{name}' is a "
            f"{type(value).__name__}; placeholders stand for strings or numbers."
        )
    return _substitute(cfg, str(value), name, source, (*seen, name))


def _substitute(cfg: Config, text: str, where: str, source: str, seen: tuple[str, ...]) -> str:
    return _PLACEHOLDER.sub(lambda m: _variable(cfg, m.group(1), where, source, seen), text)


def resolve_placeholders(cfg: Config) -> Config:
    """Replace every ``{{name}}`` inside the config's strings by the top-level variable ``name``.

    Runs after ``--cfg-options`` are merged, so an override of ``llm_path`` reaches every field
    written as ``"{{llm_path}}"`` (or ``"{{data_root}}/images"``). Top-level variables may use
    placeholders themselves; they are resolved first.

    Raises:
        ConfigPlaceholderError: naming the key that uses an unknown variable, or a cycle.
    """
    source = getattr(cfg, "filename", None) or "<config>"

    def walk(node: Any, where: str) -> Any:
        if isinstance(node, str):
            return _substitute(cfg, node, where, source, ()) if "{{" in node else node
        if isinstance(node, dict):
            for key in list(node):
                node[key] = walk(node[key], f"{where}.{key}" if where else str(key))
            return node
        if isinstance(node, list):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(node)]
        if isinstance(node, tuple):
            return tuple(walk(v, f"{where}[{i}]") for i, v in enumerate(node))
        return node

    for key in list(cfg.keys()):
        cfg[key] = walk(cfg[key], key)
    return cfg


class DictAction(_MMEngineDictAction):
    """mmengine's ``--cfg-options`` parser, with a clear message for an item without ``=``."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        items = [values] if isinstance(values, str) else list(values or [])
        for item in items:
            if "=" not in item or item.startswith("="):
                parser.error(
                    f"{option_string or '--cfg-options'}: '{item}' is not KEY=VALUE; write e.g. "
                    "train_cfg.max_iters=100 (no spaces around '=')."
                )
        super().__call__(parser, namespace, values, option_string)


class UnknownConfigKeyWarning(UserWarning):
    """A top-level config key no tool reads (kept as a config variable)."""


def accepted_keys(extra: Iterable[str] = ()) -> set[str]:
    """Top-level keys the tools read, with those of the loaded plugins."""
    return set(RUNNER_KEYS) | set(OCTAVIUS_KEYS) | plugin_config_keys() | set(extra)


def check_top_level_keys(cfg: Config, extra: Iterable[str] = ()) -> list[str]:
    """Check the top-level keys of ``cfg``.

    Returns:
        The unknown keys that were kept as config variables (also reported as a warning).

    Raises:
        ConfigKeyError: for a key that is not accepted but close to one that is.
    """
    known = accepted_keys(extra)
    declared = set(cfg.get("config_variables", []) or [])
    # Names a pure-Python config imports (e.g. mmengine's `read_base`) are not settings.
    declared |= set(getattr(cfg, "_imported_names", None) or ())
    source = getattr(cfg, "filename", None) or "<config>"
    variables = []
    for key in cfg:
        if key in known or key in declared or key.startswith("_"):
            continue
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.8)
        if close:
            raise ConfigKeyError(
                f"{source}: unknown top-level key '{key}'; did you mean '{close[0]}'? "
                "Accepted keys: " + ", ".join(sorted(known))
            )
        variables.append(key)
    if variables:
        warnings.warn(
            f"{source}: top-level keys {sorted(variables)} are read by no tool and kept as config "
            "variables; list them in `config_variables` to silence this.",
            UnknownConfigKeyWarning,
            stacklevel=2,
        )
    return variables


def load_config(
    path: str | Path,
    cfg_options: dict | None = None,
    extra_keys: Sequence[str] = (),
    check_components: bool = True,
) -> Config:
    """Load a config file, apply ``--cfg-options`` overrides, resolve placeholders, check keys.

    Every component dict (``dict(type=...)``) is checked against its constructor: unknown
    arguments and scalar values of the wrong type fail here, naming the dict's config path.

    Raises:
        FileNotFoundError: naming the path when it does not exist.
        ConfigKeyError: for a misspelled top-level key.
        ConfigPlaceholderError: for a ``{{name}}`` naming no top-level variable.
        ConfigSyntaxError: when the file (or a base it inherits) does not parse or run; names
            the file and line.
        ConfigKeyError: for a misspelled top-level key or component argument.
        ConfigValueError: for a component argument of the wrong type.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        cfg = Config.fromfile(str(path))
    except Exception as err:
        raise config_load_error(path, err) from err
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    resolve_placeholders(cfg)
    cfg.setdefault("default_scope", "octavius")
    check_top_level_keys(cfg, extra_keys)
    if check_components:
        check_component_args(cfg._cfg_dict, source=str(path))
    return cfg


__all__ = [
    "OCTAVIUS_KEYS",
    "PATH_VARIABLES",
    "RUNNER_KEYS",
    "ConfigKeyError",
    "ConfigPlaceholderError",
    "ConfigSyntaxError",
    "ConfigValueError",
    "DictAction",
    "UnknownConfigKeyWarning",
    "accepted_keys",
    "check_top_level_keys",
    "load_config",
    "resolve_placeholders",
]
