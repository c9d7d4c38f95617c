"""Reading the vertices of a PLY mesh (ScanNet's ``<scan>_vh_clean_2.ply``) with numpy alone.

ScanNet meshes are ``binary_little_endian`` PLY files whose first element is ``vertex`` with
``x y z`` (float) and ``red green blue alpha`` (uchar) properties, followed by ``face`` (a list
property). Only the vertex element is read, so it must come first — as in every ScanNet mesh.
ASCII and big-endian files are read as well.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from octavius.data.errors import DataError

__all__ = ["read_ply_vertices"]

_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip
_FORMATS = {"ascii": "", "binary_little_endian": "<", "binary_big_endian": ">"}


def _bad(path: Path, message: str) -> DataError:
    return DataError("bad_ply", f"{path}: {message}", source=str(path))


def read_ply_vertices(path: str | Path) -> np.ndarray:
    """The vertex element of a PLY file as a structured array (one field per property).

    Raises:
        DataError: ``missing_mesh`` or ``bad_ply`` naming the file and what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("missing_mesh", f"mesh file not found: {path}", source=str(path))
    with path.open("rb") as handle:
        if handle.readline().strip() != b"ply":
            raise _bad(path, "not a PLY file (the first line is not 'ply').")
        fmt, elements, current = None, [], None
        while True:
            line = handle.readline()
            if not line:
                raise _bad(path, "the header has no 'end_header' line.")
            words = line.decode("ascii", errors="replace").split()
            if not words or words[0] in ("comment", "obj_info"):
                continue
            if words[0] == "end_header":
                break
            if words[0] == "format":
                if len(words) < 2 or words[1] not in _FORMATS:
                    raise _bad(path, f"unknown format line {line.strip()!r}.")
                fmt = words[1]
            elif words[0] == "element":
                current = (words[1], int(words[2]), [])
                elements.append(current)
            elif words[0] == "property" and current is not None:
                if words[1] == "list":
                    current[2].append((words[-1], None))
                elif words[1] in _TYPES:
                    current[2].append((words[2], _TYPES[words[1]]))
                else:
                    raise _bad(path, f"unknown property type {words[1]!r}.")
        if fmt is None:
            raise _bad(path, "the header has no 'format' line.")
        if not elements or elements[0][0] != "vertex":
            raise _bad(path, "the first element is not 'vertex'.")
        _, count, properties = elements[0]
        if any(kind is None for _, kind in properties):
            raise _bad(path, "the vertex element has a list property; expected scalars.")
        order = _FORMATS[fmt]
        dtype = np.dtype([(name, order + kind) for name, kind in properties])
        if fmt == "ascii":
            rows = [handle.readline().split() for _ in range(count)]
            if len(rows) != count or any(len(r) != len(properties) for r in rows):
                raise _bad(path, f"expected {count} vertex lines of {len(properties)} values.")
            vertices = np.zeros(count, dtype=dtype)
            for i, (name, _) in enumerate(properties):
                vertices[name] = [row[i] for row in rows]
            return vertices
        data = handle.read(dtype.itemsize * count)
    if len(data) != dtype.itemsize * count:
        raise _bad(path, f"the file ends inside the vertex data ({count} vertices announced).")
    return np.frombuffer(data, dtype=dtype, count=count).copy()
