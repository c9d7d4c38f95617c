"""Octavius checkpoints: trainable weights and resume state, in safetensors and JSON.

A checkpoint is a directory, written atomically (built under a temporary name, fsynced, renamed
into place; see :mod:`octavius.checkpoints.atomic`)::

    iter_100/
        adapter.safetensors   trainable parameters only (requires_grad=True): adapters, routers,
                              projectors, fusion — the frozen LLM and encoders are not copied
        state.safetensors     every tensor of the resume state (optimizer moments, RNG states, …)
        state.json            format/version, meta (epoch, iter, seed, …), the JSON skeletons of
                              the optimizer, parameter schedulers, message hub and RNG states, and
                              the sha256 checksum of each tensor file (verified on every read)

Loading reads safetensors and JSON only: no pickle, so a checkpoint cannot run code. Loading into
a model checks names and shapes first and fails with :class:`CheckpointMismatchError`, which names
the file and the missing, unexpected and mis-shaped keys, when the checkpoint was written for a
different model. Weights holding NaN or Inf are refused when saving and when loading
(:class:`NonFiniteWeightsError`); a tensor file that differs from its recorded checksum (a flipped
byte on disk) is refused with :class:`CheckpointIntegrityError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from octavius.checkpoints.atomic import atomic_directory
from octavius.checkpoints.errors import (
    CheckpointError,
    CheckpointFormatError,
    CheckpointIntegrityError,
    CheckpointMismatchError,
    NonFiniteWeightsError,
)
from octavius.checkpoints.integrity import check_finite, file_checksum, listed, verify_checksums
from octavius.checkpoints.rng import capture_rng_state, restore_rng_state
from octavius.checkpoints.state_codec import StateDecodingError, decode_state, encode_state

FORMAT = "octavius-checkpoint"
VERSION = 1
WEIGHTS_FILE = "adapter.safetensors"
STATE_TENSORS_FILE = "state.safetensors"
STATE_FILE = "state.json"
SECTIONS = ("optimizer", "param_schedulers", "message_hub", "rng")


@dataclass
class Checkpoint:
    """The content of a checkpoint directory, as read by :func:`read_checkpoint`."""

    path: Path
    weights: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)
    optimizer: dict[str, Any] | None = None
    param_schedulers: Any = None
    message_hub: dict[str, Any] | None = None
    rng: dict[str, Any] | None = None


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a DDP/FSDP/mmengine wrapper, so parameter names carry no ``module.``."""
    from mmengine.model import is_model_wrapper

    return model.module if is_model_wrapper(model) else model


def trainable_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters with ``requires_grad=True`` by name (what a checkpoint stores)."""
    return {n: p for n, p in unwrap_model(model).named_parameters() if p.requires_grad}


def _storable(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out, seen = {}, set()
    for name, tensor in tensors.items():
        t = tensor.detach().to("cpu").contiguous()
        ptr = t.untyped_storage().data_ptr() if t.numel() else None
        if ptr is not None and (ptr in seen or t.untyped_storage().nbytes() != t.nbytes):
            t = t.clone()  # safetensors refuses views and shared storage
            ptr = t.untyped_storage().data_ptr()
        if ptr is not None:
            seen.add(ptr)
        out[name] = t
    return out


def _state_of(obj: Any) -> Any:
    return obj.state_dict() if hasattr(obj, "state_dict") else obj


def _scheduler_states(schedulers: Any) -> Any:
    if isinstance(schedulers, Mapping):
        return {name: _scheduler_states(group) for name, group in schedulers.items()}
    if isinstance(schedulers, (list, tuple)):
        return [_state_of(s) for s in schedulers]
    return [_state_of(schedulers)]


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    optimizer: Any = None,
    param_schedulers: Any = None,
    message_hub: Any = None,
    meta: Mapping[str, Any] | None = None,
    rng_state: bool | Mapping[str, Any] = True,
    weights: Mapping[str, torch.Tensor] | None = None,
    add_files: Callable[[Path], list[str]] | None = None,
) -> Path:
    """Write a checkpoint directory atomically.

    Args:
        path: Directory to create (an existing one is replaced once the new one is complete).
        model: Its trainable parameters are saved.
        optimizer: A torch optimizer, an mmengine ``OptimWrapper`` or a ready ``state_dict``.
        param_schedulers: A scheduler, a list of them, or a dict of lists (mmengine's layout).
        message_hub: An mmengine ``MessageHub`` or its ``state_dict``; values that cannot be
            stored without pickle are left out (they are logging information, not state).
        meta: Plain data such as ``epoch``, ``iter`` and ``seed``.
        rng_state: ``True`` to capture the global RNG states now, a captured state, or ``False``.
        weights: The trainable weights to store, when the model's parameters are not plain
            tensors (a sharded model gathers them first); by default the model's.
        add_files: Called with the temporary directory before checksums are taken; writes more
            files into it (the sharded state) and returns their names, which are checksummed.

    Returns:
        The checkpoint directory.

    Raises:
        octavius.checkpoints.state_codec.StateEncodingError: When optimizer, scheduler or meta state
            holds a value that cannot be stored without pickle; nothing is written then.
    """
    if rng_state is True:
        rng_state = capture_rng_state()
    values = {
        "optimizer": _state_of(optimizer) if optimizer is not None else None,
        "param_schedulers": _scheduler_states(param_schedulers) if param_schedulers else None,
        "message_hub": _state_of(message_hub) if message_hub is not None else None,
        "rng": dict(rng_state) if rng_state else None,
    }
    sections: dict[str, Any] = {}
    tensors: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    for name, value in values.items():
        if value is None:
            continue
        skeleton, section_tensors, skipped = encode_state(
            value, prefix=f"{name}/", skip_unsupported=name == "message_hub"
        )
        sections[name] = skeleton
        tensors.update(section_tensors)
        dropped += skipped
    meta_skeleton, meta_tensors, skipped = encode_state(dict(meta or {}), "meta/", True)
    tensors.update(meta_tensors)
    dropped += skipped
    weights = _storable(trainable_state_dict(model) if weights is None else weights)
    check_finite(weights, path, "save")
    document = {
        "format": FORMAT,
        "version": VERSION,
        "meta": meta_skeleton,
        "weights": {"file": WEIGHTS_FILE, "count": len(weights)},
        "sections": sections,
        "dropped": dropped,
    }
    with atomic_directory(path) as tmp:
        save_file(weights, tmp / WEIGHTS_FILE, metadata={"format": FORMAT, "version": str(VERSION)})
        save_file(_storable(tensors), tmp / STATE_TENSORS_FILE)
        extra = add_files(tmp) if add_files is not None else []
        document["checksums"] = {
            name: file_checksum(tmp / name) for name in (WEIGHTS_FILE, STATE_TENSORS_FILE, *extra)
        }
        text = json.dumps(document, indent=1, allow_nan=False, ensure_ascii=False)
        (tmp / STATE_FILE).write_text(text + "\n", encoding="utf-8")
    return Path(path)


def resolve_checkpoint_path(path: str | os.PathLike) -> Path:
    """Map what users and mmengine pass (a directory, its ``state.json``, or ``iter_N.pth``).

    mmengine's ``last_checkpoint`` file and ``--resume`` conventions name ``iter_N.pth``; the
    directory ``iter_N`` next to it is the same checkpoint in this format.
    """
    p = Path(path)
    if p.name == STATE_FILE or p.name == WEIGHTS_FILE:
        return p.parent
    if not p.exists() and p.suffix == ".pth" and p.with_suffix("").is_dir():
        return p.with_suffix("")
    return p


def is_checkpoint_dir(path: str | os.PathLike) -> bool:
    """True when ``path`` is a complete checkpoint directory."""
    p = Path(path)
    return all((p / f).is_file() for f in (STATE_FILE, WEIGHTS_FILE, STATE_TENSORS_FILE))


def _read_safetensors(file: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(file)
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointFormatError(f"{file}: not a readable safetensors file ({err})") from err


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint directory (safetensors + JSON; never unpickles).

    Raises:
        CheckpointFormatError: When ``path`` is missing, incomplete, or not in this format
            (e.g. a pickled mmengine ``.pth`` file).
        CheckpointIntegrityError: When a tensor file differs from its recorded checksum.
    """
    p = resolve_checkpoint_path(path)
    if p.is_file():
        raise CheckpointFormatError(
            f"{p} is a file; an Octavius checkpoint is a directory holding {STATE_FILE}, "
            f"{WEIGHTS_FILE} and {STATE_TENSORS_FILE}. Pickled mmengine checkpoints are not loaded "
            "because unpickling can run code; use load_weights() for a plain weights file."
        )
    if not is_checkpoint_dir(p):
        raise CheckpointFormatError(
            f"{p} is not a checkpoint directory: expected {STATE_FILE}, {WEIGHTS_FILE} and "
            f"{STATE_TENSORS_FILE} in it."
        )
    state_file = p / STATE_FILE
    try:
        document = json.loads(state_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointFormatError(f"{state_file}: not valid JSON ({err})") from err
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CheckpointFormatError(f"{state_file}: 'format' is not '{FORMAT}'")
    if document.get("version") != VERSION:
        raise CheckpointFormatError(
            f"{state_file}: format version {document.get('version')!r}; this Octavius reads "
            f"version {VERSION}"
        )
    verify_checksums(p, document.get("checksums"))
    tensors = _read_safetensors(p / STATE_TENSORS_FILE)
    try:
        sections = {k: decode_state(v, tensors) for k, v in document.get("sections", {}).items()}
        meta = decode_state(document.get("meta") or {}, tensors)
    except StateDecodingError as err:
        raise CheckpointFormatError(f"{state_file}: {err}") from err
    return Checkpoint(
        path=p,
        weights=_read_safetensors(p / WEIGHTS_FILE),
        meta=meta,
        **{name: sections.get(name) for name in SECTIONS},
    )


def load_weights(
    model: nn.Module,
    weights: Mapping[str, torch.Tensor],
    *,
    source: str | os.PathLike,
    strict: bool = True,
) -> list[str]:
    """Copy checkpoint tensors into a model's parameters and buffers, after checking they fit.

    Args:
        model: The model (wrappers are unwrapped).
        weights: Tensors by parameter name.
        source: The file the tensors came from, named in errors.
        strict: Also require every trainable parameter to be present (resuming). Without it,
            trainable parameters absent from ``weights`` keep their values (starting a stage-2
            run from stage-1 weights, where the new adapters are not in the file).

    Returns:
        The trainable parameter names that the checkpoint did not have.

    Raises:
        CheckpointMismatchError: On unexpected or mis-shaped keys, or missing ones when strict;
            the model is left unchanged then.
        NonFiniteWeightsError: When a tensor holds NaN or Inf (the model is left unchanged).
    """
    module = unwrap_model(model)
    targets = dict(module.named_parameters())
    targets.update(module.named_buffers())
    trainable = [n for n, p in module.named_parameters() if p.requires_grad]
    unexpected = sorted(k for k in weights if k not in targets)
    misshaped = [
        f"{k} (checkpoint {list(v.shape)}, model {list(targets[k].shape)})"
        for k, v in weights.items()
        if k in targets and tuple(v.shape) != tuple(targets[k].shape)
    ]
    missing = [n for n in trainable if n not in weights]
    problems = []
    if strict and missing:
        problems.append(f"{len(missing)} missing key(s): {listed(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {listed(unexpected)}")
    if misshaped:
        problems.append(f"{len(misshaped)} mis-shaped key(s): {listed(misshaped)}")
    if not problems:
        check_finite(weights, source, "load")
    if problems:
        raise CheckpointMismatchError(
            f"{source} does not fit {type(module).__name__}: " + "; ".join(problems) + ". The "
            "checkpoint was written for a different model or adapter configuration; check the "
            "config that produced it against the current one."
        )
    with torch.no_grad():
        for name, tensor in weights.items():
            targets[name].copy_(tensor)
    return missing


def check_optimizer_fits(optimizer: Any, state: Mapping[str, Any], source: Path) -> None:
    """Raise :class:`CheckpointMismatchError` when saved parameter groups differ in size."""
    torch_optimizer = getattr(optimizer, "optimizer", optimizer)
    groups = getattr(torch_optimizer, "param_groups", None)
    saved = state.get("param_groups")
    if groups is None or saved is None:
        return
    now = [len(g["params"]) for g in groups]
    then = [len(g["params"]) for g in saved]
    if now != then:
        raise CheckpointMismatchError(
            f"{source / STATE_FILE}: the optimizer state has parameter groups of sizes {then}, "
            f"the current optimizer {now}; the checkpoint was written for a different model or "
            "optimizer configuration."
        )


def load_scheduler_states(schedulers: Any, states: Any, source: Path) -> None:
    """Load saved states into schedulers laid out alike (one, a list, or a dict of lists)."""
    if isinstance(schedulers, Mapping):
        if not isinstance(states, Mapping) or set(states) != set(schedulers):
            raise CheckpointMismatchError(
                f"{source / STATE_FILE}: parameter schedulers {sorted(states or [])} in the "
                f"checkpoint, {sorted(schedulers)} configured"
            )
        for name, group in schedulers.items():
            load_scheduler_states(group, states[name], source)
        return
    group = list(schedulers) if isinstance(schedulers, (list, tuple)) else [schedulers]
    if not isinstance(states, list) or len(states) != len(group):
        raise CheckpointMismatchError(
            f"{source / STATE_FILE}: {len(states or [])} parameter scheduler state(s) in the "
            f"checkpoint, {len(group)} scheduler(s) configured"
        )
    for scheduler, state in zip(group, states):
        scheduler.load_state_dict(state)


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    *,
    optimizer: Any = None,
    param_schedulers: Any = None,
    message_hub: Any = None,
    restore_rng: bool = False,
    strict: bool = True,
) -> Checkpoint:
    """Read a checkpoint and load the parts asked for (see :func:`load_weights` for ``strict``).

    Raises:
        CheckpointFormatError: When ``path`` is not a readable checkpoint.
        CheckpointMismatchError: When the weights, optimizer or schedulers do not fit.
    """
    ckpt = read_checkpoint(path)
    if model is not None:
        load_weights(model, ckpt.weights, source=ckpt.path / WEIGHTS_FILE, strict=strict)
    if optimizer is not None:
        if ckpt.optimizer is None:
            raise CheckpointMismatchError(f"{ckpt.path}: the checkpoint holds no optimizer state")
        check_optimizer_fits(optimizer, ckpt.optimizer, ckpt.path)
        try:
            optimizer.load_state_dict(ckpt.optimizer)
        except (ValueError, KeyError) as err:
            raise CheckpointMismatchError(
                f"{ckpt.path / STATE_FILE}: the optimizer state does not fit ({err})"
            ) from err
    if param_schedulers:
        if ckpt.param_schedulers is None:
            raise CheckpointMismatchError(f"{ckpt.path}: the checkpoint holds no scheduler state")
        load_scheduler_states(param_schedulers, ckpt.param_schedulers, ckpt.path)
    if message_hub is not None and ckpt.message_hub is not None:
        message_hub.load_state_dict(ckpt.message_hub)
    if restore_rng:
        if ckpt.rng is None:
            raise CheckpointMismatchError(f"{ckpt.path}: the checkpoint holds no random state")
        restore_rng_state(ckpt.rng)
    return ckpt


__all__ = [
    "FORMAT",
    "STATE_FILE",
    "STATE_TENSORS_FILE",
    "VERSION",
    "WEIGHTS_FILE",
    "Checkpoint",
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointIntegrityError",
    "CheckpointMismatchError",
    "NonFiniteWeightsError",
    "check_optimizer_fits",
    "is_checkpoint_dir",
    "load_checkpoint",
    "load_scheduler_states",
    "load_weights",
    "read_checkpoint",
    "resolve_checkpoint_path",
    "save_checkpoint",
    "trainable_state_dict",
    "unwrap_model",
]
