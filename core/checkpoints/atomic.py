"""Crash-safe file and directory writes: temporary name, fsync, atomic rename.

A reader either sees the previous version of a file or directory, or the complete new one, never
a partial write: data goes to a temporary name in the same directory (so the rename stays on one
file system), is flushed and fsynced, and is then moved into place with :func:`os.replace`; the
parent directory is fsynced so the rename itself survives a power cut. Temporary names start with
``.tmp-`` so directory listings and checkpoint searches skip them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

TMP_PREFIX = ".tmp-"


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a directory entry table to disk (no-op where directories cannot be opened)."""
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write a file through ``write(fileobj)`` so that it appears complete or not at all.

    Args:
        path: Final file path; its directory must exist.
        write: Called with a binary file object open on a temporary file next to ``path``.

    Returns:
        The final path. If ``write`` raises, the temporary file is removed, ``path`` keeps its
        previous content and the exception propagates.
    """
    final = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{final.name}.", dir=final.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_dir(final.parent)
    return final


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Atomically replace ``path`` with ``data``."""
    return atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically replace ``path`` with UTF-8 ``text``."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Atomically replace ``path`` with ``obj`` as strict JSON (no NaN/Infinity literals)."""
    text = json.dumps(obj, indent=indent, allow_nan=False, ensure_ascii=False)
    return atomic_write_text(path, text + "\n")


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Build a directory under a temporary name and move it to ``path`` when the block succeeds.

    Files written inside are fsynced before the rename. An existing directory at ``path`` is
    replaced only after the new one is complete (it is first renamed aside, then removed). If the
    block raises, the temporary directory is deleted and ``path`` is untouched.

    Yields:
        The temporary directory to fill.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{final.name}.", dir=final.parent))
    try:
        yield tmp
        for child in tmp.rglob("*"):
            if child.is_file():
                with open(child, "rb") as handle:
                    os.fsync(handle.fileno())
        fsync_dir(tmp)
        if final.exists():
            # rename(2) cannot replace a non-empty directory: move the old one aside first, so
            # the window without a complete directory at `path` is one rename long.
            aside = final.parent / f"{TMP_PREFIX}{final.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(final, aside)
            os.replace(tmp, final)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(tmp, final)
        fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
