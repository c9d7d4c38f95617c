"""Cache keys of a sample's modality items, from the content of the files they are read from.

An image's key is the SHA-256 of its file. A scene's key covers everything
:class:`~octavius.data.load_point_cloud.LoadPointCloud` reads to build the encoder's item — the
point file's bytes (every file of an mmdet3d ScanNet scene), the box file's bytes or the sample's
inline boxes, the instance the sample is about, the scene id (which seeds the RoI point sampling)
and the loader's colour settings — so two samples of one scene about the same thing share an
entry, and an edited file misses the cache. Files the encoder itself reads (a RoI source's
``<scene_id>.npy``) are recorded with the entry and checked when it is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from octavius.data.scannet_scene import SCANNET_SUFFIXES
from octavius.features.fingerprint import file_sha256, text_sha256

__all__ = ["cached_point_format", "image_key", "point_cloud_key"]

#: Point formats whose items come from a frozen encoder (LAMM's feature files are features already).
_CACHED_FORMATS = (None, "npy", "scannet")


def cached_point_format(record: Mapping[str, Any]) -> bool:
    """Whether the record's scene is read from points (so a cache can hold its RoI features)."""
    return record.get("point_path") is not None and record.get("point_format") in _CACHED_FORMATS


def image_key(path: str) -> str:
    """The key of an image file: the SHA-256 of its bytes."""
    return file_sha256(path)


def _scene_files(record: Mapping[str, Any]) -> dict[str, str]:
    point_path = Path(record["point_path"])
    if record.get("point_format") != "scannet":
        files = {"points": point_path}
    else:
        stem = point_path.name[: -len(SCANNET_SUFFIXES["vertices"])]
        files = {
            role: point_path.parent / f"{stem}{suffix}"
            for role, suffix in SCANNET_SUFFIXES.items()
            if (point_path.parent / f"{stem}{suffix}").is_file()
        }
    if record.get("boxes_path") is not None and record.get("boxes") is None:
        files["boxes"] = Path(record["boxes_path"])
    return {role: file_sha256(path) for role, path in sorted(files.items())}


def point_cloud_key(record: Mapping[str, Any], loader: Mapping[str, Any]) -> str:
    """The key of a sample's scene item (see the module docstring).

    Args:
        record: the dataset's parsed record (``point_path``, ``boxes_path``, ``boxes``,
            ``object_id``, ``scene_id``, ``point_format``).
        loader: the point loader's settings (``color_range``, ``allow_xyz``).
    """
    return text_sha256(
        {
            "files": _scene_files(record),
            "boxes": record.get("boxes"),
            "object_id": record.get("object_id"),
            "scene_id": record.get("scene_id") or "",
            "point_format": record.get("point_format"),
            "loader": dict(loader),
        }
    )
