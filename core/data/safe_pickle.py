"""Reading pickled feature files without running their code: arrays and plain containers only.

LAMM / Octavius cache their precomputed 3D features as pickles (``scan2inst_train.pickle``, and
``<task>_<dataset>.pickle`` beside each benchmark file): a dict of lists of float16 torch tensors,
strings, conversation dicts and an int. ``pickle.load`` on such a file runs whatever callables it
names, so the files are read here with an unpickler that resolves only the few globals arrays
need — numpy's array and scalar reconstructors, and torch's tensor rebuild whose storage bytes go
through ``torch.load(weights_only=True)`` — and refuses every other global with the file name.
Object arrays (``dtype=object``) are refused as well: they would hold arbitrary Python objects.
"""

from __future__ import annotations

import collections
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from octavius.data.errors import DataError

__all__ = ["load_feature_pickle"]


def _storage_from_bytes(data: bytes) -> Any:
    """torch's storage pickle is a nested ``torch.save`` blob: read it with ``weights_only``."""
    import torch

    return torch.load(io.BytesIO(data), weights_only=True)


def _rebuild_tensor(*args: Any) -> Any:
    from torch._utils import _rebuild_tensor_v2

    return _rebuild_tensor_v2(*args)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    from numpy._core import multiarray, numeric

    found: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("_codecs", "encode"): _latin1_encode,
    }
    # numpy 1.x writes numpy.core.multiarray, numpy 2.x numpy._core.multiarray.
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        found[(module, "_reconstruct")] = multiarray._reconstruct
        found[(module, "scalar")] = multiarray.scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        found[(module, "_frombuffer")] = numeric._frombuffer  # protocol 5
    return found


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for raw array bytes."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


_TORCH_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def __init__(self, handle: Any, source: str) -> None:
        super().__init__(handle)
        self.source = source
        self.allowed = {**_numpy_globals(), **_TORCH_GLOBALS}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise DataError(
                "unsafe_pickle",
                f"the pickle refers to {module}.{name}; only numpy arrays, torch "
                "tensors and plain containers (dict, list, tuple, str, numbers) are accepted, so "
                "the file is not read. Re-save the features as arrays (np.save / np.savez).",
                source=self.source,
            ) from None


def _check_arrays(value: Any, source: str, where: str) -> Any:
    """Turn tensors into numpy arrays and refuse object arrays, recursively."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise DataError(
                "unsafe_pickle",
                f"{where} is an object array; only arrays of numbers are accepted.",
                source=source,
            )
        return value
    if type(value).__module__.startswith("torch") and hasattr(value, "numpy"):
        return value.detach().cpu().float().numpy()
    if isinstance(value, dict):
        return {k: _check_arrays(v, source, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_check_arrays(v, source, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    return value


def load_feature_pickle(path: str | Path) -> Any:
    """Read a pickle holding only arrays and plain containers; tensors come back as numpy.

    Raises:
        DataError: ``missing_features`` when the file does not exist, ``unsafe_pickle`` naming
            the file and the refused global (or object array), ``unreadable_features`` when the
            file is not a valid pickle.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("missing_features", f"feature file not found: {path}", source=str(path))
    try:
        with path.open("rb") as handle:
            value = _ArraysOnlyUnpickler(handle, str(path)).load()
    except DataError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, RuntimeError) as err:
        raise DataError(
            "unreadable_features", f"cannot read feature file {path}: {err}", source=str(path)
        ) from err
    return _check_arrays(value, str(path), "the file")
