"""LAMM / Octavius precomputed 3D object features (Scan2Inst and the 3D benchmarks).

Octavius's official 3D data ships features instead of point clouds (OpenGVLab/LAMM
``src/datasets/dataset.py::OctaviusDataset.prepare_3d_data``). Under one root::

    <source>/ins_pc_feat/<scene_id>/<object_id>-<object_name>.npy   (d,) object feature (d = 768)
    <source>/bbox/<scene_id>/<object_id>-<object_name>.npy          (8, 3) box corners

with ``<source>`` ``lamm_scannet_tr3d`` for a scene's detected proposals (all files of the scene,
in sorted file-name order) and ``lamm_scannet_gt`` for the ground-truth object a sample is about
(``object_id`` and ``object_name`` of the sample, spaces in the name written as ``_``). LAMM
turns the corners into ``[min xyz, max xyz]`` for its box embedding; here boxes are
``cx, cy, cz, dx, dy, dz`` like every box in Octavius (the same numbers: centre = (min + max) / 2,
size = max − min). LAMM caches the loaded features as a pickle (``scan2inst_train.pickle``,
``<task>_<dataset>.pickle``), a dict of per-sample lists; :func:`load_feature_cache` reads it
with the arrays-only unpickler of :mod:`octavius.data.safe_pickle` and checks every entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from octavius.data.errors import DataError
from octavius.data.safe_pickle import load_feature_pickle

__all__ = [
    "CACHE_LIST_KEYS",
    "GT_SOURCE",
    "SCENE_SOURCE",
    "ObjectFeatures",
    "feature_paths",
    "load_feature_cache",
    "read_object_features",
    "read_scene_features",
]

#: Per-sample lists of LAMM's feature cache (``OctaviusDataset.prepare_3d_data``).
CACHE_LIST_KEYS = (
    "caption_list",
    "task_type_list",
    "vision_embeds_3d_ref_list",
    "vision_embeds_3d_scene_prop_list",
    "vision_pos_3d_ref_list",
    "vision_pos_3d_scene_prop_list",
)
#: Feature folders of a scene's detected proposals and of the ground-truth objects.
SCENE_SOURCE = "lamm_scannet_tr3d"
GT_SOURCE = "lamm_scannet_gt"

_CACHE_ARRAYS = {
    "vision_embeds_3d_ref_list": 1,  # (d,)
    "vision_embeds_3d_scene_prop_list": 2,  # (m, d)
    "vision_pos_3d_ref_list": 1,  # (6,) min / max corners
    "vision_pos_3d_scene_prop_list": 2,  # (m, 6)
}


@dataclass(frozen=True)
class ObjectFeatures:
    """Features and boxes of some objects: ``features (m, d)``, ``boxes (m, 6)``, file names."""

    features: np.ndarray
    boxes: np.ndarray
    names: tuple[str, ...]


def _load_array(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise DataError("missing_features", f"{what} file not found: {path}", source=str(path))
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise DataError(
            "unsafe_features",
            f"{what} file {path} does not hold a plain numeric array ({err}); only arrays are read.",
            source=str(path),
        ) from err
    except OSError as err:
        raise DataError(
            "unreadable_features", f"cannot read {what} file {path}: {err}", source=str(path)
        ) from err
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
        raise DataError(
            "unsafe_features",
            f"{what} file {path} holds {getattr(array, 'dtype', type(array).__name__)}; expected numbers.",
            source=str(path),
        )
    return array


def _corner_box(path: Path) -> np.ndarray:
    corners = _load_array(path, "box")
    if corners.shape != (8, 3):
        raise DataError(
            "bad_box_shape",
            f"box file {path} has shape {tuple(corners.shape)}; LAMM writes the 8 corners, (8, 3).",
            source=str(path),
        )
    low, high = corners.min(axis=0), corners.max(axis=0)
    return np.concatenate([(low + high) / 2, high - low]).astype(np.float32)


def _object(root: Path, source: str, scene_id: str, stem: str) -> tuple[np.ndarray, np.ndarray]:
    feature_path = root / source / "ins_pc_feat" / scene_id / f"{stem}.npy"
    feature = _load_array(feature_path, "feature").astype(np.float32).reshape(-1)
    return feature, _corner_box(root / source / "bbox" / scene_id / f"{stem}.npy")


def feature_paths(
    root: str | Path, source: str, scene_id: str, object_id: int, object_name: str
) -> tuple[Path, Path]:
    """The feature and box files of one object (spaces in the name are ``_`` in file names)."""
    stem = f"{object_id}-{'_'.join(str(object_name).split(' '))}"
    root = Path(root) / source
    return (
        root / "ins_pc_feat" / scene_id / f"{stem}.npy",
        root / "bbox" / scene_id / f"{stem}.npy",
    )


def read_scene_features(
    root: str | Path, scene_id: str, source: str = SCENE_SOURCE
) -> ObjectFeatures:
    """Every proposal of ``scene_id`` (sorted file names, as LAMM's loader orders them).

    Raises:
        DataError: a missing scene directory, feature or box file; a non-array file; a box that
            is not ``(8, 3)``; features of different widths.
    """
    root = Path(root)
    scene_dir = root / source / "ins_pc_feat" / scene_id
    if not scene_dir.is_dir():
        raise DataError(
            "missing_features", f"no feature directory {scene_dir}", source=str(scene_dir)
        )
    stems = tuple(sorted(p.stem for p in scene_dir.glob("*.npy")))
    if not stems:
        raise DataError("missing_features", f"{scene_dir} holds no .npy feature file.")
    loaded = [_object(root, source, scene_id, stem) for stem in stems]
    widths = {f.shape[0] for f, _ in loaded}
    if len(widths) != 1:
        raise DataError(
            "bad_feature_shape", f"{scene_dir}: features of different widths {sorted(widths)}."
        )
    return ObjectFeatures(
        features=np.stack([f for f, _ in loaded]),
        boxes=np.stack([b for _, b in loaded]),
        names=stems,
    )


def read_object_features(
    root: str | Path,
    scene_id: str,
    object_id: int,
    object_name: str,
    source: str = GT_SOURCE,
) -> ObjectFeatures:
    """The ground-truth object a sample is about: ``<object_id>-<object_name>.npy`` (one row)."""
    feature_path, _ = feature_paths(root, source, scene_id, object_id, object_name)
    stem = feature_path.stem
    feature, box = _object(Path(root), source, scene_id, stem)
    return ObjectFeatures(features=feature[None], boxes=box[None], names=(stem,))


def _minmax_to_centre(boxes: np.ndarray) -> np.ndarray:
    low, high = boxes[..., :3], boxes[..., 3:6]
    return np.concatenate([(low + high) / 2, high - low], axis=-1).astype(np.float32)


def load_feature_cache(path: str | Path) -> dict[str, Any]:
    """Read and check LAMM's feature cache; boxes come back as ``cx, cy, cz, dx, dy, dz``.

    Returns:
        The cache's dict with every array as float32 numpy (``vision_pos_*`` converted from
        LAMM's ``[min, max]`` to centre + size), lists of equal length.

    Raises:
        DataError: naming the file and the key: a refused pickle (see
            :func:`~octavius.data.safe_pickle.load_feature_pickle`), a missing key, lists of
            different lengths, an entry that is not an array of the expected rank.
    """
    data = load_feature_pickle(path)
    source = str(path)
    if not isinstance(data, Mapping):
        raise DataError(
            "bad_feature_cache",
            f"expected a dict of per-sample lists, got {type(data).__name__}.",
            source=source,
        )
    missing = [k for k in CACHE_LIST_KEYS if k not in data]
    if missing:
        raise DataError("bad_feature_cache", f"missing key(s) {missing}.", source=source)
    lengths = {k: len(data[k]) for k in CACHE_LIST_KEYS if isinstance(data[k], list)}
    for key in CACHE_LIST_KEYS:
        if key not in lengths:
            raise DataError(
                "bad_feature_cache",
                f"'{key}' is a {type(data[key]).__name__}; expected a list.",
                source=source,
            )
    if len(set(lengths.values())) != 1:
        raise DataError(
            "bad_feature_cache", f"lists of different lengths: {lengths}.", source=source
        )
    out = dict(data)
    for key, rank in _CACHE_ARRAYS.items():
        arrays = []
        for i, value in enumerate(data[key]):
            if not isinstance(value, np.ndarray) or value.ndim != rank:
                kind = (
                    f"a {value.ndim}-d array"
                    if isinstance(value, np.ndarray)
                    else type(value).__name__
                )
                raise DataError(
                    "bad_feature_cache",
                    f"'{key}'[{i}] is {kind}; expected a {rank}-d array of numbers.",
                    source=source,
                )
            value = value.astype(np.float32)
            arrays.append(_minmax_to_centre(value) if key.startswith("vision_pos") else value)
        out[key] = arrays
    return out
