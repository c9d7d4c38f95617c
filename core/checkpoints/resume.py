"""Which checkpoint ``--resume`` continues from, and whether it belongs to the current config.

``work_dir/last_checkpoint`` names the checkpoint the run wrote last; it is written (atomically)
right after that checkpoint is renamed into place. :func:`select_resume_checkpoint` follows it.
A checkpoint directory newer than the one it names is taken instead only when it was written
after the file — a process killed between the rename and the write of ``last_checkpoint``.
Checkpoints of another run that shared the work directory are older than the file and are never
picked by their larger iteration number.

:func:`config_differences` compares the config recorded in a checkpoint with the current one on
everything that changes the model or the optimizer; resuming across such a change is refused
unless asked for explicitly (``--allow-config-change``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from octavius.checkpoints.checkpoint import STATE_FILE, WEIGHTS_FILE
from octavius.checkpoints.errors import ResumeError

LAST_CHECKPOINT = "last_checkpoint"
_CHECKPOINT_NAME = re.compile(r"^(iter|epoch)_(\d+)$")
#: Config sections whose changes make a checkpoint another model's or optimizer's.
COMPARED_SECTIONS = ("model", "optim_wrapper")
#: Keys holding paths: moving files does not change the model.
_PATH_KEYS = frozenset(
    {
        "llm",
        "pretrained",
        "checkpoint",
        "root",
        "tokenizer",
        "path",
        "cache_dir",
        "local_files_only",
    }
)


def _checkpoints(root: Path) -> dict[str, list[tuple[int, Path]]]:
    found: dict[str, list[tuple[int, Path]]] = {}
    if root.is_dir():
        for child in root.iterdir():
            match = _CHECKPOINT_NAME.match(child.name)
            if match and (child / WEIGHTS_FILE).is_file():
                found.setdefault(match.group(1), []).append((int(match.group(2)), child))
    for entries in found.values():
        entries.sort()
    return found


def _written_at(path: Path) -> int:
    marker = path / STATE_FILE if (path / STATE_FILE).is_file() else path / WEIGHTS_FILE
    return marker.stat().st_mtime_ns


def select_resume_checkpoint(work_dir: str | os.PathLike) -> str | None:
    """The checkpoint to resume from in ``work_dir`` (see the module docstring), or ``None``.

    Raises:
        ResumeError: When ``last_checkpoint`` is empty, or names something that is not a
            checkpoint directory (a dangling or garbage record).
    """
    root = Path(work_dir)
    found = _checkpoints(root)
    record = root / LAST_CHECKPOINT
    if not record.is_file():
        if not found:
            return None
        # Without a record (killed before the first one), iteration-based names win.
        return str((found.get("iter") or found["epoch"])[-1][1])
    named = record.read_text(encoding="utf-8", errors="replace").strip()
    candidate = Path(named.removesuffix(".pth")) if named else None
    if candidate is not None and not candidate.is_absolute() and not candidate.exists():
        candidate = root / candidate.name
    if candidate is None or not (candidate / WEIGHTS_FILE).is_file():
        raise ResumeError(
            f"{record} names {named!r}, which is not a checkpoint directory (holding "
            f"{WEIGHTS_FILE}). Resume from a checkpoint explicitly with `--resume "
            f"{root}/iter_N`, or delete {record} to resume from the newest checkpoint."
        )
    match = _CHECKPOINT_NAME.match(candidate.name)
    if match is None:
        return str(candidate)
    recorded_at = record.stat().st_mtime_ns
    newer = [
        p
        for number, p in found.get(match.group(1), [])
        if number > int(match.group(2)) and _written_at(p) > recorded_at
    ]
    return str(newer[-1]) if newer else str(candidate)


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(node, (list, tuple)) and any(isinstance(v, Mapping) for v in node):
        out = {}
        for index, value in enumerate(node):
            out.update(_flatten(value, f"{prefix}[{index}]"))
        return out
    return {prefix: list(node) if isinstance(node, tuple) else node}


def _compared(cfg: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for section in COMPARED_SECTIONS:
        if section in cfg:
            flat.update(_flatten(cfg[section], section))
    return {k: v for k, v in flat.items() if re.split(r"[.\[]", k)[-1] not in _PATH_KEYS}


def recorded_config(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """The config a checkpoint was trained with (its ``meta['cfg']`` text), or ``None``."""
    text = meta.get("cfg")
    if not isinstance(text, str) or not text.strip():
        return None
    from mmengine.config import Config

    try:
        return Config.fromstring(text, ".py").to_dict()
    except Exception:  # a config text from another version that does not parse: no comparison
        return None


def config_differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``key: checkpoint value -> current value`` for each model/optimizer setting that differs."""
    then, now = _compared(recorded), _compared(current)
    diffs = []
    for key in sorted(set(then) | set(now)):
        old, new = then.get(key, "<unset>"), now.get(key, "<unset>")
        if old != new:
            diffs.append(f"{key}: {old!r} -> {new!r}")
    return diffs


def check_same_config(meta: Mapping[str, Any], cfg: Any, path: str | os.PathLike) -> None:
    """Refuse to resume ``path`` when its recorded config differs in the model or optimizer.

    Raises:
        ResumeError: listing each differing key with the checkpoint's and the current value.
    """
    recorded = recorded_config(meta)
    if recorded is None:
        return
    current = cfg._cfg_dict.to_dict() if hasattr(cfg, "_cfg_dict") else dict(cfg)
    diffs = config_differences(recorded, current)
    if diffs:
        shown = "; ".join(diffs[:8]) + (f"; … and {len(diffs) - 8} more" if len(diffs) > 8 else "")
        raise ResumeError(
            f"{path} was trained with a different model or optimizer config ({len(diffs)} "
            f"key(s) differ, checkpoint -> current: {shown}). Resuming would continue another "
            "model's training. Resume with the config it was trained with, start a new run in "
            "another --work-dir, or pass --allow-config-change to resume anyway."
        )
