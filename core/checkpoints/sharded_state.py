"""Sharded model and optimizer state through ``torch.distributed.checkpoint`` (DCP), read safely.

A model sharded with ``fully_shard`` (FSDP2) holds each trainable parameter and its optimizer
moments as ``DTensor`` shards. :func:`save_sharded_state` writes them with DCP: every rank writes
its own shards (``__<rank>_0.distcp``) and rank 0 the index (``.metadata``); frozen parameters
are left out (``StateDictOptions(ignore_frozen_params=True)``), as in every Octavius checkpoint.
Only tensors go to DCP; the optimizer's hyper-parameters travel in ``state.json``.

What DCP reads, and why loading stays free of code execution:

- tensor data is stored with ``torch.save`` and read back by DCP with
  ``torch.load(weights_only=True)``;
- non-tensor values (``BYTE_IO`` items) would be read with ``torch.load(weights_only=False)``;
  none are written, and :class:`TensorOnlyLoadPlanner` refuses them when loading;
- DCP's ``FileSystemReader.read_metadata`` calls ``pickle.load`` on ``.metadata`` (torch 2.14),
  a general unpickler. :class:`SafeFileSystemReader` reads it with an unpickler that resolves only
  DCP's metadata dataclasses, ``torch.Size``, dtypes and paths, so a tampered file is refused.

The load side can reshard: a checkpoint written by N ranks loads on M ranks.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from octavius.checkpoints.errors import CheckpointFormatError

_DCP_METADATA = "torch.distributed.checkpoint.metadata"
#: ``module -> names`` the ``.metadata`` unpickler may resolve (what DCP's metadata consists of).
_ALLOWED_GLOBALS: dict[str, frozenset[str]] = {
    _DCP_METADATA: frozenset(
        {
            "Metadata",
            "MetadataIndex",
            "StorageMeta",
            "ChunkStorageMetadata",
            "TensorStorageMetadata",
            "BytesStorageMetadata",
            "TensorProperties",
            "_MEM_FORMAT_ENCODING",
        }
    ),
    "torch.distributed.checkpoint.filesystem": frozenset({"_StorageInfo"}),
    "torch.serialization": frozenset({"_get_layout"}),
    "pathlib": frozenset({"Path", "PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath"}),
    "collections": frozenset({"OrderedDict"}),
}


class _MetadataUnpickler(pickle.Unpickler):
    """Resolves only the classes DCP metadata is made of; anything else is an error."""

    def find_class(self, module: str, name: str) -> Any:
        if name in _ALLOWED_GLOBALS.get(module, ()):
            return super().find_class(module, name)
        if module == "torch" and (
            name == "Size" or isinstance(getattr(torch, name, None), torch.dtype)
        ):
            return getattr(torch, name)
        raise pickle.UnpicklingError(
            f"{module}.{name} is not part of torch.distributed.checkpoint metadata"
        )


def read_dcp_metadata(path: str | os.PathLike) -> Any:
    """The ``Metadata`` of a DCP directory, unpickled with the restricted unpickler.

    Raises:
        CheckpointFormatError: When ``.metadata`` is missing or references anything beyond DCP's
            metadata classes (e.g. a pickle that would call a function).
    """
    file = Path(path) / ".metadata"
    try:
        data = file.read_bytes()
    except OSError as err:
        raise CheckpointFormatError(f"{file}: cannot read the sharded-state index ({err})") from err
    try:
        return _MetadataUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError) as err:
        raise CheckpointFormatError(
            f"{file}: not a torch.distributed.checkpoint index Octavius can read safely ({err}). "
            "It is refused rather than unpickled, because unpickling can run code."
        ) from err


def _reader_class() -> type:
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.metadata import StorageMeta

    class SafeFileSystemReader(FileSystemReader):
        """DCP's file-system reader with :func:`read_dcp_metadata` for the index."""

        def read_metadata(self, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("rank") is not None:
                raise CheckpointFormatError(f"{self.path}: per-rank DCP metadata is not used")
            metadata = read_dcp_metadata(self.path)
            if getattr(metadata, "storage_meta", None) is None:
                metadata.storage_meta = StorageMeta()
            metadata.storage_meta.load_id = self.load_id
            return metadata

    return SafeFileSystemReader


def _planner() -> Any:
    from torch.distributed.checkpoint import DefaultLoadPlanner

    class TensorOnlyLoadPlanner(DefaultLoadPlanner):
        """DCP's load planner, refusing non-tensor items (DCP would unpickle them)."""

        def load_bytes(self, read_item: Any, value: io.BytesIO) -> None:
            raise CheckpointFormatError(
                f"sharded state entry {read_item.dest_index.fqn!r} is a pickled object, not a "
                "tensor; Octavius does not unpickle checkpoint content."
            )

    return TensorOnlyLoadPlanner()


def _options(**kwargs: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(ignore_frozen_params=True, **kwargs)


def sharded_state(model: nn.Module, optimizer: torch.optim.Optimizer | None) -> dict[str, Any]:
    """``{'model': …, 'optim': …}``: trainable parameters and optimizer tensors, as shards.

    The optimizer's tensors (``state``) are included; its ``param_groups`` (plain numbers) are
    returned under ``'param_groups'`` for ``state.json``. Collective: every rank calls it.
    """
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_state_dict

    if optimizer is None:
        return {"model": get_model_state_dict(model, options=_options())}
    model_sd, optim_sd = get_state_dict(model, optimizer, options=_options())
    return {"model": model_sd, "optim": optim_sd["state"], "param_groups": optim_sd["param_groups"]}


def full_trainable_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The trainable parameters gathered whole on CPU (rank 0 gets them; others get ``{}``).

    Adapters are small, so rank 0 can hold them: the checkpoint's ``adapter.safetensors`` stays a
    plain file that export and inference read. Collective: every rank calls it.
    """
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_options(full_state_dict=True, cpu_offload=True))


def save_sharded_state(path: str | os.PathLike, state: Mapping[str, Any]) -> None:
    """Write the tensors of :func:`sharded_state` to DCP directory ``path`` (collective)."""
    import torch.distributed.checkpoint as dcp

    tensors = {k: v for k, v in state.items() if k in ("model", "optim")}
    dcp.save(tensors, storage_writer=dcp.FileSystemWriter(str(path), sync_files=True))


def load_sharded_state(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    param_groups: list[dict[str, Any]] | None,
) -> None:
    """Load a DCP directory from :func:`save_sharded_state` into a sharded model and optimizer.

    Args:
        path: The DCP directory.
        model: The ``fully_shard`` model (any world size; DCP reshards).
        optimizer: Its optimizer, or ``None`` for weights only.
        param_groups: The optimizer's saved ``param_groups`` (from ``state.json``).

    Raises:
        CheckpointFormatError: On an unsafe or unreadable index, or entries that do not fit.
    """
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_state_dict

    template = sharded_state(model, optimizer)
    tensors = {k: v for k, v in template.items() if k in ("model", "optim")}
    reader = _reader_class()(str(path))
    try:
        dcp.load(tensors, storage_reader=reader, planner=_planner())
    except CheckpointFormatError:
        raise
    except Exception as err:  # DCP reports missing/mis-shaped entries as CheckpointException
        raise CheckpointFormatError(
            f"{path}: the sharded state does not fit the model or optimizer ({err})"
        ) from err
    if optimizer is None:
        set_model_state_dict(model, tensors["model"], options=_options(strict=False))
        return
    if param_groups is None:
        raise CheckpointFormatError(f"{path}: the optimizer's param_groups are missing")
    set_state_dict(
        model,
        optimizer,
        model_state_dict=tensors["model"],
        optim_state_dict={"state": tensors["optim"], "param_groups": param_groups},
        # Frozen weights are not in the checkpoint; DCP already failed on any missing trainable one.
        options=_options(strict=False),
    )


__all__ = [
    "full_trainable_weights",
    "load_sharded_state",
    "read_dcp_metadata",
    "save_sharded_state",
    "sharded_state",
]
