"""The on-disk feature cache: safetensors shards plus a JSON index (``index.json``).

Layout of a cache directory::

    index.json                      format, encoder fingerprints, shards, entries
    image-00000.safetensors         up to ``shard_size`` entries each, per modality
    point_cloud-00000.safetensors

``index.json`` holds ``format`` (:data:`FORMAT`), ``version``, per modality the encoder
``fingerprint`` and its readable ``identity`` (class, settings, weights hash), the shards with
their SHA-256, and the entries: key → ``dict(shard=..., source=..., depends={path: sha256},
tensors=[names])``.
A shard's tensors are named ``<key>/<name>``; its safetensors metadata repeats the format, the
modality and the fingerprint. Shards and the index are written atomically (temporary file,
fsync, rename), the index last, so a crash leaves the previous cache readable.

Reading checks each shard once, when first touched: its SHA-256 against the index (a truncated
or altered file is refused, naming it) and its metadata (a shard of another cache or format is
refused, naming it). Only safetensors are read: nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from torch import Tensor

from octavius.checkpoints.atomic import atomic_write_bytes, atomic_write_json
from octavius.features.fingerprint import file_sha256

__all__ = ["FORMAT", "INDEX_FILE", "FeatureCacheError", "FeatureStore", "FeatureStoreWriter"]

FORMAT = "octavius-feature-cache"
VERSION = 1
INDEX_FILE = "index.json"


class FeatureCacheError(ValueError):
    """A feature cache that cannot be used: missing, stale, corrupt or foreign."""


def _empty_index() -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "encoders": {}, "shards": [], "entries": {}}


def read_index(directory: str | os.PathLike) -> dict[str, Any]:
    """The index of a cache directory, checked for format and version."""
    path = Path(directory) / INDEX_FILE
    if not path.is_file():
        raise FeatureCacheError(
            f"feature cache {str(directory)!r} has no {INDEX_FILE}; build it with"
            " python tools/data/cache_features.py CONFIG."
        )
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise FeatureCacheError(f"feature cache index {path} is unreadable: {err}") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise FeatureCacheError(
            f"{path} is not an Octavius feature cache index (format {FORMAT!r})."
        )
    if index.get("version") != VERSION:
        raise FeatureCacheError(
            f"{path} is feature cache version {index.get('version')!r}; this Octavius reads"
            f" version {VERSION}. Rebuild it with python tools/data/cache_features.py CONFIG."
        )
    return index


class FeatureStore:
    """Read entries of a cache directory (lazily; safe to share with forked loader workers).

    Args:
        directory: the cache directory (holding ``index.json``).
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.index = read_index(self.directory)
        self._checked: dict[str, Any] = {}
        self._lock = threading.Lock()

    def fingerprint(self, modality: str) -> str | None:
        """The encoder fingerprint the modality's entries were written with (None: no entries)."""
        encoder = self.index["encoders"].get(modality)
        return None if encoder is None else str(encoder["fingerprint"])

    def entry(self, modality: str, key: str) -> Mapping[str, Any] | None:
        """The index entry of ``key`` (``shard``, ``source``, ``depends``), or None."""
        return self.index["entries"].get(modality, {}).get(key)

    def _open(self, shard: Mapping[str, Any], modality: str) -> Any:
        name = str(shard["file"])
        with self._lock:
            if name in self._checked:
                return self._checked[name]
            path = self.directory / name
            if not path.is_file():
                raise FeatureCacheError(
                    f"feature cache shard {path} is missing; rebuild the cache."
                )
            if file_sha256(path) != shard["sha256"]:
                raise FeatureCacheError(
                    f"feature cache shard {path} does not match its checksum in {INDEX_FILE}"
                    " (corrupt or replaced); rebuild the cache."
                )
            try:
                handle = safe_open(str(path), framework="pt")
            except (SafetensorError, OSError) as err:
                raise FeatureCacheError(
                    f"feature cache shard {path} is not a safetensors file: {err}"
                ) from None
            meta = handle.metadata() or {}
            expected = {
                "format": FORMAT,
                "modality": modality,
                "fingerprint": self.fingerprint(modality),
            }
            if any(meta.get(k) != v for k, v in expected.items()):
                raise FeatureCacheError(
                    f"feature cache shard {path} belongs to another cache (metadata {meta});"
                    f" expected {expected}. Rebuild the cache."
                )
            self._checked[name] = handle
            return handle

    def read(self, modality: str, key: str) -> dict[str, Tensor]:
        """The tensors of an entry; raises :class:`FeatureCacheError` if it is absent."""
        entry = self.entry(modality, key)
        if entry is None:
            raise FeatureCacheError(
                f"feature cache {self.directory} has no {modality} entry {key}."
            )
        shard = self.index["shards"][int(entry["shard"])]
        handle = self._open(shard, modality)
        try:
            return {n: handle.get_tensor(f"{key}/{n}") for n in entry["tensors"]}
        except SafetensorError:
            raise FeatureCacheError(
                f"feature cache shard {self.directory / shard['file']} lacks entry {key} listed in"
                f" {INDEX_FILE}; rebuild the cache."
            ) from None

    def __getstate__(self) -> dict[str, Any]:
        # Open handles and locks stay in their process; a worker reopens (and rechecks) shards.
        return {"directory": self.directory, "index": self.index}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._checked, self._lock = {}, threading.Lock()


class FeatureStoreWriter:
    """Add entries to a cache directory, keeping the still-valid ones.

    A modality whose encoder fingerprint differs from the one in the existing index loses all its
    entries and shards (they were computed by another encoder); entries of unchanged modalities
    are kept, so re-running the cache tool only encodes what is new.

    Args:
        directory: the cache directory (created if needed).
        identities: modality → ``(fingerprint, identity)`` of the encoders being cached.
        shard_size: entries per shard.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        identities: Mapping[str, tuple[str, Mapping[str, Any]]],
        shard_size: int = 256,
    ) -> None:
        if shard_size < 1:
            raise ValueError(f"feature cache shard_size must be >= 1, got {shard_size}.")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.shard_size = shard_size
        try:
            old = read_index(self.directory)
        except FeatureCacheError:
            old = _empty_index()
        self.index = _empty_index()
        self.dropped: list[str] = []
        for modality, (fingerprint, identity) in identities.items():
            self.index["encoders"][modality] = {"fingerprint": fingerprint, "identity": identity}
            previous = old["encoders"].get(modality, {}).get("fingerprint")
            entries = self.index["entries"].setdefault(modality, {})
            if previous != fingerprint:
                if previous is not None:
                    self.dropped.append(modality)
                continue
            shard_map: dict[int, int] = {}
            for key, entry in old["entries"].get(modality, {}).items():
                old_shard = int(entry["shard"])
                if old_shard not in shard_map:
                    shard_map[old_shard] = len(self.index["shards"])
                    self.index["shards"].append(old["shards"][old_shard])
                entries[key] = {**entry, "shard": shard_map[old_shard]}
        self._pending: dict[str, list[tuple[str, Mapping[str, Tensor], Mapping[str, Any]]]] = {}
        self._counter = {m: self._next_number(m) for m in identities}

    def _next_number(self, modality: str) -> int:
        # After every shard file present, not only the indexed ones: a new shard never
        # replaces a file the current index.json may still list.
        numbers = []
        for path in self.directory.glob(f"{modality}-*.safetensors"):
            tail = path.stem.rsplit("-", 1)[1]
            if tail.isdigit():
                numbers.append(int(tail))
        return max(numbers, default=-1) + 1

    def has(self, modality: str, key: str, depends: Mapping[str, str] | None = None) -> bool:
        """Whether ``key`` is cached (or pending) already, computed from ``depends`` (the
        files besides the item's own, path → SHA-256) when given."""
        entry = self.index["entries"].get(modality, {}).get(key)
        if entry is not None:
            return depends is None or entry.get("depends", {}) == dict(depends)
        return any(k == key for k, _, _ in self._pending.get(modality, []))

    def add(
        self,
        modality: str,
        key: str,
        tensors: Mapping[str, Tensor],
        source: str = "",
        depends: Mapping[str, str] | None = None,
    ) -> None:
        """Queue one entry; full shards are written as they fill."""
        meta = {"source": source, "depends": dict(depends or {}), "tensors": sorted(tensors)}
        pending = self._pending.setdefault(modality, [])
        pending.append((key, tensors, meta))
        if len(pending) >= self.shard_size:
            self._flush(modality)

    def _flush(self, modality: str) -> None:
        pending = self._pending.pop(modality, [])
        if not pending:
            return
        number = self._counter[modality]
        self._counter[modality] += 1
        name = f"{modality}-{number:05d}.safetensors"
        tensors = {
            f"{key}/{n}": t.detach().cpu().contiguous()
            for key, ts, _ in pending
            for n, t in ts.items()
        }
        fingerprint = self.index["encoders"][modality]["fingerprint"]
        data = save(
            tensors, metadata={"format": FORMAT, "modality": modality, "fingerprint": fingerprint}
        )
        path = atomic_write_bytes(self.directory / name, data)
        shard_id = len(self.index["shards"])
        self.index["shards"].append(
            {"file": name, "modality": modality, "sha256": file_sha256(path)}
        )
        for key, _, meta in pending:
            self.index["entries"][modality][key] = {"shard": shard_id, **meta}

    def close(self, keep: Mapping[str, Iterable[str]] | None = None) -> Path:
        """Write the pending shards and then the index; returns the index path.

        Args:
            keep: modality → the keys the data still uses; other entries are dropped from the
                index (their shards are deleted once no kept entry is in them).
        """
        for modality in list(self._pending):
            self._flush(modality)
        if keep is not None:
            for modality, wanted in keep.items():
                wanted = set(wanted)
                entries = self.index["entries"].get(modality, {})
                for key in [k for k in entries if k not in wanted]:
                    del entries[key]
        used = {int(e["shard"]) for es in self.index["entries"].values() for e in es.values()}
        renumber, shards = {}, []
        for i, shard in enumerate(self.index["shards"]):
            if i in used:
                renumber[i] = len(shards)
                shards.append(shard)
        for entries in self.index["entries"].values():
            for entry in entries.values():
                entry["shard"] = renumber[int(entry["shard"])]
        self.index["shards"] = shards
        index = atomic_write_json(self.directory / INDEX_FILE, self.index)
        live = {s["file"] for s in shards}
        for path in self.directory.glob("*.safetensors"):
            if path.name not in live:
                path.unlink()
        return index
