"""Nested training state ↔ (JSON skeleton, flat tensor dict): storage without pickle.

Optimizer, scheduler, RNG and message-hub states are nested dicts/lists/tuples of numbers,
strings, tensors and numpy arrays. :func:`encode_state` splits such a value into a JSON-ready
skeleton and a flat ``{key: tensor}`` dict for safetensors; :func:`decode_state` puts them back
together exactly (same Python types, dtypes, shapes and bits). Values JSON cannot carry as-is are
tagged objects with a single ``"__kind__"`` key:

=====================  ========================================================
``{"__tensor__": k}``  a torch tensor stored under safetensors key ``k``
``{"__ndarray__": k}``  a numpy array stored (as a tensor) under key ``k``
``{"__tuple__": [...]}``  a tuple
``{"__dict__": [[k, v], ...]}``  a dict whose keys are not all strings (optimizer state uses
                        int parameter ids), or that has keys starting with ``__``
``{"__float__": "nan"}``  NaN and ±infinity (strict JSON has no literal for them)
``{"__numpy__": [dtype, value]}``  a numpy scalar
``{"__history_buffer__": {...}}``  an mmengine ``HistoryBuffer`` (logged scalars)
=====================  ========================================================

Anything else (arbitrary objects) cannot be stored without pickle: :func:`encode_state` raises
:class:`StateEncodingError` naming the path of the value, or drops it with a note when
``skip_unsupported`` is set.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

TAGS = (
    "__tensor__",
    "__ndarray__",
    "__tuple__",
    "__dict__",
    "__float__",
    "__numpy__",
    "__history_buffer__",
)


class StateEncodingError(TypeError):
    """A value in a training state has a type that cannot be stored without pickle."""


class StateDecodingError(ValueError):
    """A stored skeleton is malformed or refers to a tensor that is not in the file."""


def _tensor_for_storage(tensor: torch.Tensor, seen: set[int]) -> torch.Tensor:
    out = tensor.detach().to("cpu")
    if not out.is_contiguous():
        out = out.contiguous()
    # safetensors refuses tensors that share memory; a fresh copy is cheap for state tensors.
    ptr = out.untyped_storage().data_ptr() if out.numel() else None
    if ptr is not None and (ptr in seen or out.untyped_storage().nbytes() != out.nbytes):
        out = out.clone()
        ptr = out.untyped_storage().data_ptr()
    if ptr is not None:
        seen.add(ptr)
    return out


class _Encoder:
    def __init__(self, prefix: str, skip_unsupported: bool) -> None:
        self.prefix = prefix
        self.skip_unsupported = skip_unsupported
        self.tensors: dict[str, torch.Tensor] = {}
        self.skipped: list[str] = []
        self._seen: set[int] = set()

    def _key(self, path: str) -> str:
        key = f"{self.prefix}{path.lstrip('/')}".rstrip("/") or "value"
        base, n = key, 1
        while key in self.tensors:
            key, n = f"{base}#{n}", n + 1
        return key

    def encode(self, value: Any, path: str) -> Any:
        from mmengine.logging import HistoryBuffer

        if isinstance(value, np.generic):  # before float: np.float64 subclasses float
            item = value.item()
            if isinstance(item, float) and not math.isfinite(item):
                item = repr(item)
            return {"__numpy__": [value.dtype.str, item]}
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, torch.Tensor):
            key = self._key(path)
            self.tensors[key] = _tensor_for_storage(value, self._seen)
            return {"__tensor__": key}
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                return self._unsupported(value, path)
            key = self._key(path)
            self.tensors[key] = _tensor_for_storage(
                torch.from_numpy(np.ascontiguousarray(value)), self._seen
            )
            return {"__ndarray__": key}
        if isinstance(value, HistoryBuffer):
            return {
                "__history_buffer__": {
                    "max_length": value.max_length,
                    "log": self.encode(np.asarray(value._log_history), f"{path}/log"),
                    "count": self.encode(np.asarray(value._count_history), f"{path}/count"),
                }
            }
        if isinstance(value, (tuple, list)):
            items = [self.encode(v, f"{path}/{i}") for i, v in enumerate(value)]
            if any(item is _SKIP for item in items):
                return _SKIP  # dropping one element would shift the others
            return {"__tuple__": items} if isinstance(value, tuple) else items
        if isinstance(value, dict):
            plain = all(isinstance(k, str) and not k.startswith("__") for k in value)
            items = []
            for k, v in value.items():
                if not isinstance(k, (str, int, float, bool, tuple)) and k is not None:
                    return self._unsupported(value, path, f"dict key of type {type(k).__name__}")
                encoded = self.encode(v, f"{path}/{k}")
                if encoded is _SKIP:
                    continue
                items.append([k if plain else self.encode(k, f"{path}/<key>"), encoded])
            return dict(items) if plain else {"__dict__": items}
        return self._unsupported(value, path)

    def _unsupported(self, value: Any, path: str, what: str | None = None) -> Any:
        what = what or f"a value of type {type(value).__module__}.{type(value).__qualname__}"
        if self.skip_unsupported:
            self.skipped.append(f"{self.prefix}{path.lstrip('/')}")
            return _SKIP
        raise StateEncodingError(
            f"'{self.prefix}{path.lstrip('/')}' holds {what}, which cannot be stored without pickle. "
            "Keep training state to numbers, strings, lists, dicts, tensors and numpy arrays."
        )


_SKIP = object()


def encode_state(
    value: Any, prefix: str = "", skip_unsupported: bool = False
) -> tuple[Any, dict[str, torch.Tensor], list[str]]:
    """Split a nested state into a JSON skeleton and a flat tensor dict.

    Args:
        value: The state (e.g. ``optimizer.state_dict()``).
        prefix: Prepended to every tensor key (e.g. ``"optimizer/"``), so several states can share
            one safetensors file.
        skip_unsupported: Drop values of unsupported types (listing their paths in the third
            return value) instead of raising.

    Returns:
        ``(skeleton, tensors, skipped_paths)``.

    Raises:
        StateEncodingError: On a value that cannot be stored without pickle (unless skipped).
    """
    encoder = _Encoder(prefix, skip_unsupported)
    skeleton = encoder.encode(value, "")
    if skeleton is _SKIP:
        skeleton = None
    return skeleton, encoder.tensors, encoder.skipped


def decode_state(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Rebuild the value :func:`encode_state` split (inverse of it, bit for bit).

    Raises:
        StateDecodingError: When the skeleton names a missing tensor or has a malformed tag.
    """
    if isinstance(skeleton, list):
        return [decode_state(v, tensors) for v in skeleton]
    if not isinstance(skeleton, dict):
        return skeleton
    if len(skeleton) == 1:
        ((tag, body),) = skeleton.items()
        if tag in TAGS:
            return _decode_tagged(tag, body, tensors)
    return {k: decode_state(v, tensors) for k, v in skeleton.items()}


def _lookup(key: Any, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    if not isinstance(key, str) or key not in tensors:
        raise StateDecodingError(f"the state refers to tensor '{key}', which is not in the file")
    return tensors[key]


def _decode_tagged(tag: str, body: Any, tensors: dict[str, torch.Tensor]) -> Any:
    from mmengine.logging import HistoryBuffer

    if tag == "__tensor__":
        return _lookup(body, tensors)
    if tag == "__ndarray__":
        return _lookup(body, tensors).numpy().copy()
    if tag == "__tuple__":
        return tuple(decode_state(v, tensors) for v in body)
    if tag == "__dict__":
        return {_hashable(decode_state(k, tensors)): decode_state(v, tensors) for k, v in body}
    if tag == "__float__":
        return float(body)
    if tag == "__numpy__":
        dtype, item = body
        return np.dtype(dtype).type(float(item) if isinstance(item, str) else item)
    buffer = HistoryBuffer(max_length=body["max_length"])
    buffer._log_history = decode_state(body["log"], tensors)
    buffer._count_history = decode_state(body["count"], tensors)
    return buffer


def _hashable(key: Any) -> Any:
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    return key
