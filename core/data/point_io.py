"""Reading point clouds (``.npy``, N×6 xyz+rgb, or N×3 xyz) and instance boxes (``.npy``, M×6/M×7).

Point files hold one row per point: ``x, y, z, r, g, b`` (float; colours in 0–1 or 0–255).
Box files hold one row per instance: ``cx, cy, cz, dx, dy, dz`` (centre and full size), with an
optional seventh column (a class id, ignored here). Shapes are checked from the ``.npy`` header
alone (memory-mapped), so validating a whole dataset reads no point data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from octavius.data.errors import DataError

__all__ = ["check_boxes_file", "check_points_file", "load_boxes", "load_points"]


def _open(path: str | Path, reason: str, what: str) -> np.ndarray:
    if not Path(path).is_file():
        raise DataError(reason, f"{what} file not found: {path}")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataError(
            f"unreadable_{what.replace(' ', '_')}", f"cannot read {what} file {path}: {err}"
        ) from err


def check_points_file(path: str | Path, allow_xyz: bool = False) -> tuple[int, int]:
    """Check that ``path`` holds an ``(N, 6)`` float array with ``N > 0``; return its shape.

    With ``allow_xyz``, ``(N, 3)`` xyz-only arrays (LAMM's ShapeNet clouds) pass too.

    Raises:
        DataError: ``missing_point_cloud``, ``unreadable_point_cloud`` or ``bad_point_shape``.
    """
    array = _open(path, "missing_point_cloud", "point cloud")
    widths = (3, 6) if allow_xyz else (6,)
    if array.ndim != 2 or array.shape[1] not in widths or array.shape[0] == 0:
        hint = " or (N, 3) xyz only" if allow_xyz else " (xyz-only files: set allow_xyz=True)"
        raise DataError(
            "bad_point_shape",
            f"point cloud {path} has shape {tuple(array.shape)}; expected (N, 6) with N > 0 "
            f"(x, y, z, r, g, b per row){hint}.",
        )
    if not np.issubdtype(array.dtype, np.number):
        raise DataError(
            "bad_point_shape", f"point cloud {path} has dtype {array.dtype}; expected numbers."
        )
    return int(array.shape[0]), int(array.shape[1])


def check_boxes_file(path: str | Path) -> int:
    """Check that ``path`` holds an ``(M, 6)`` or ``(M, 7)`` array; return ``M``.

    Raises:
        DataError: ``missing_boxes``, ``unreadable_boxes`` or ``bad_box_shape``.
    """
    array = _open(path, "missing_boxes", "boxes")
    if array.ndim != 2 or array.shape[1] not in (6, 7):
        raise DataError(
            "bad_box_shape",
            f"box file {path} has shape {tuple(array.shape)}; expected (M, 6) [cx, cy, cz, dx, dy, "
            "dz] or (M, 7) with a class id in the last column.",
        )
    return int(array.shape[0])


def load_points(path: str | Path, color_range: str = "auto", allow_xyz: bool = False) -> np.ndarray:
    """Load an ``(N, 6)`` point cloud as float32 with colours scaled to 0–1.

    Args:
        path: the ``.npy`` file.
        color_range: ``"0-1"``, ``"0-255"`` (divided by 255) or ``"auto"`` (divided by 255 when
            any colour value exceeds 1).
        allow_xyz: accept ``(N, 3)`` files; their colours are 0.
    """
    check_points_file(path, allow_xyz=allow_xyz)
    points = np.asarray(np.load(path, allow_pickle=False), dtype=np.float32)
    if points.shape[1] == 3:
        points = np.concatenate([points, np.zeros_like(points)], axis=1)
    if not np.isfinite(points).all():
        raise DataError("bad_point_values", f"point cloud {path} contains NaN or infinite values.")
    if color_range == "0-255" or (color_range == "auto" and points[:, 3:].max(initial=0.0) > 1.0):
        points[:, 3:] /= 255.0
    elif color_range not in ("0-1", "auto", "0-255"):
        raise ValueError(f"color_range must be '0-1', '0-255' or 'auto', got {color_range!r}.")
    return points


def load_boxes(path: str | Path) -> np.ndarray:
    """Load instance boxes as an ``(M, 6)`` float32 array (a class-id column is dropped)."""
    check_boxes_file(path)
    boxes = np.asarray(np.load(path, allow_pickle=False), dtype=np.float32)[:, :6]
    if not np.isfinite(boxes).all() or (boxes[:, 3:] < 0).any():
        raise DataError(
            "bad_box_values", f"box file {path} has non-finite values or negative sizes."
        )
    return boxes
