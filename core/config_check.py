"""Checks of a config file beyond its top-level keys: load errors and component arguments.

:func:`config_load_error` turns an exception raised while mmengine parses or runs a config file
(or one of the bases it inherits) into a :class:`~octavius.errors.ConfigSyntaxError` that names
the file and line.

mmengine builds a component by calling its class with the keys of its config dict, so a typo
(``num_expert``) deep inside ``model.adapters`` surfaces as a ``TypeError`` from ``__init__``
without saying where in the config it is, and a wrong type (``rank="8"``) surfaces much later, or
never. :func:`check_component_args` walks the config: for each dict with a ``type``, it finds the
registered class, compares the keys with the constructor's signature (naming the dict's config
path and the closest accepted argument) and the scalar values with the constructor's type hints.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import traceback
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from octavius.errors import ConfigKeyError, ConfigSyntaxError, ConfigValueError

_SKIP_KEYS = frozenset({"type", "_scope_"})
_CONTAINERS = (list, tuple, set, frozenset, dict, Sequence, Mapping)


def _OBJECTS() -> tuple[type, ...]:
    import torch

    return (torch.Tensor, torch.nn.Module)


def _registered(name: str) -> list[Any]:
    from octavius.registry import ALL_REGISTRIES, import_all_builtins

    import_all_builtins()
    key = name.rpartition(".")[2] if "." in name else name
    found: list[Any] = []
    for registry in ALL_REGISTRIES.values():
        current = registry
        while current is not None:
            obj = current.module_dict.get(key)
            if obj is not None and all(obj is not f for f in found):
                found.append(obj)
                break
            current = current.parent
    return found


def _target(obj: Any) -> Any:
    return obj.__init__ if inspect.isclass(obj) else obj


def _hints(target: Any) -> dict[str, Any]:
    """Type hints of ``target``'s parameters that evaluate (unresolvable ones are skipped)."""
    try:
        raw = inspect.get_annotations(target)
    except (TypeError, AttributeError):
        return {}
    namespace = getattr(target, "__globals__", {})
    hints = {}
    for name, annotation in raw.items():
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, dict(namespace), {})
            except Exception:
                continue
        hints[name] = annotation
    return hints


def accepts(hint: Any, value: Any) -> bool:
    """Whether a scalar config ``value`` fits type ``hint`` (unknown hints accept anything)."""
    if hint is Any or isinstance(hint, typing.TypeVar):
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(accepts(arg, value) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None) or hint is None:
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    container = origin or hint
    if isinstance(container, type) and issubclass(container, _CONTAINERS):
        return not isinstance(value, (bool, int, float)) or isinstance(value, str)
    if isinstance(hint, type) and issubclass(hint, _OBJECTS()):
        return isinstance(value, hint)  # a scalar is never a tensor or a module
    return True


def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _component_name(obj: Any) -> str:
    return getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))


def check_arguments(obj: Any, cfg: Mapping[str, Any], path: str, source: str) -> None:
    """Check the keys and scalar values of ``cfg`` against ``obj``'s constructor.

    Raises:
        ConfigKeyError: for a key the constructor does not take (with the closest one).
        ConfigValueError: for a scalar value of the wrong type (with the expected type).
    """
    target = _target(obj)
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return
    name = _component_name(obj)
    keys = [k for k in cfg if k not in _SKIP_KEYS]
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        accepted = [
            n
            for n, p in params.items()
            if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        for key in keys:
            if key not in accepted:
                close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise ConfigKeyError(
                    f"{source}: {path} (type '{cfg.get('type', name)}') has an unknown argument "
                    f"'{key}'; {hint}{name} accepts: {', '.join(accepted)}."
                )
    hints = _hints(target)
    for key in keys:
        value = cfg[key]
        if key not in hints or value is None or isinstance(value, (Mapping, list, tuple)):
            continue
        if not accepts(hints[key], value):
            raise ConfigValueError(
                f"{source}: {path}.{key} = {value!r} is a {type(value).__name__}; "
                f"{name} expects {_type_name(hints[key])} for '{key}'."
            )


def _expanded_preset(node: Mapping[str, Any], path: str) -> list[tuple[str, Any]]:
    """The rules an adapter ``preset=`` shortcut stands for, with their config paths."""
    from octavius.adapters.presets import preset_rules

    overrides = {k: v for k, v in node.items() if k != "preset"}
    try:
        rules = preset_rules(node["preset"], **overrides)
    except (KeyError, ValueError, FileNotFoundError, TypeError):
        return []  # building the model reports a bad preset with its own message
    named = [(path, rules[0])] if rules else []
    for rule in rules[1:]:
        named.append((f"{path}.{rule.get('name', '?')}", rule))
    return named


def check_component_args(cfg: Mapping[str, Any], source: str = "<config>") -> None:
    """Check every ``dict(type=...)`` in ``cfg`` against its registered constructor."""

    def walk(node: Any, path: str) -> None:
        if isinstance(node, Mapping) and isinstance(node.get("preset"), str):
            for rule_path, rule in _expanded_preset(node, path):
                walk(rule, rule_path)
            return
        if isinstance(node, Mapping):
            kind = node.get("type")
            if isinstance(kind, str):
                found = _registered(kind)
                if len(found) == 1:
                    check_arguments(found[0], node, path, source)
            for key, value in node.items():
                if isinstance(key, str) and not key.startswith("_"):
                    walk(value, f"{path}.{key}" if path else key)
        elif isinstance(node, (list, tuple)):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")

    walk(cfg, "")


def _base_files(path: Path, tree: ast.AST) -> list[Path]:
    """Files a pure-Python config inherits with relative ``from .x import *`` (``read_base``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level and node.module:
            base = path.parent
            for _ in range(node.level - 1):
                base = base.parent
            candidate = base.joinpath(*node.module.split(".")).with_suffix(".py")
            if candidate.is_file():
                found.append(candidate)
    return found


def _find_syntax_error(path: Path, seen: set[Path] | None = None) -> SyntaxError | None:
    """Compile ``path`` and the bases it inherits; the first syntax error, with its file."""
    seen = seen if seen is not None else set()
    if path in seen:
        return None
    seen.add(path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as err:
        return err
    for base in _base_files(path, tree):
        found = _find_syntax_error(base, seen)
        if found is not None:
            return found
    return None


def config_load_error(path: Path, err: BaseException) -> BaseException:
    """A :class:`ConfigSyntaxError` naming file and line for ``err``, raised by ``Config.fromfile``.

    Errors that already name what is wrong and are not located in a config file (a missing base
    file) are returned unchanged.
    """
    if isinstance(err, SyntaxError):
        located = _find_syntax_error(path) or err
        where = f"{located.filename or path}:{located.lineno}"
        line = (located.text or "").strip()
        shown = f" (`{line}`)" if line else ""
        return ConfigSyntaxError(
            f"{where}: syntax error in the config: {located.msg}{shown}. Configs are Python "
            "files; fix the line (an unclosed bracket often shows one line later)."
        )
    files = {f.resolve() for f in _config_files(path)}
    frames = [
        f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename).resolve() in files
    ]
    if frames:
        frame = frames[-1]
        shown = f" (`{frame.line.strip()}`)" if frame.line else ""
        return ConfigSyntaxError(
            f"{frame.filename}:{frame.lineno}: the config raised {type(err).__name__}: {err}"
            f"{shown}. Fix that line of the config."
        )
    return err


def _config_files(path: Path, seen: set[Path] | None = None) -> set[Path]:
    """``path`` and every config it inherits, as far as they parse."""
    seen = seen if seen is not None else set()
    if path in seen or not path.is_file():
        return seen
    seen.add(path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError:
        return seen
    for base in _base_files(path, tree):
        _config_files(base, seen)
    return seen
