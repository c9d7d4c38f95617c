"""Raw ScanNet scans → the files of mmdet3d's ScanNet preparation (see ``scannet_scene``).

A raw scan directory ``<scan>/`` as ScanNet distributes it holds ``<scan>_vh_clean_2.ply`` (the
mesh), ``<scan>.aggregation.json`` (``segGroups``: objectId, label, segments),
``<scan>_vh_clean_2.0.010000.segs.json`` (``segIndices``: a segment per vertex) and ``<scan>.txt``
(``axisAlignment = 16 numbers``). :func:`export_scan` reproduces mmdet3d's
``load_scannet_data.export`` followed by ``batch_load_scannet_data.export_one_scan``: labels
through ``scannetv2-labels.combined.tsv`` (raw_category → nyu40id), instance ids objectId + 1,
boxes as the min/max extent of each object's vertices in the scanner and the aligned frame, kept
for the 18 detection classes only; a test scan (no aggregation) writes the vertices alone.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from octavius.data.errors import DataError
from octavius.data.ply_io import read_ply_vertices
from octavius.data.scannet_scene import SCANNET_SUFFIXES

__all__ = ["OBJ_CLASS_IDS", "export_scan", "read_label_map"]

#: NYU40 ids of ScanNet's 18 detection classes (mmdet3d ``batch_load_scannet_data.py``).
OBJ_CLASS_IDS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39)


def read_label_map(path: str | Path) -> dict[str, int]:
    """``raw_category`` → ``nyu40id`` from ScanNet's ``scannetv2-labels.combined.tsv``."""
    path = Path(path)
    if not path.is_file():
        raise DataError("missing_label_map", f"label map not found: {path}", source=str(path))
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = {"raw_category", "nyu40id"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(
                "bad_label_map",
                f"{path} lacks the column(s) {sorted(missing)}; expected ScanNet's "
                "scannetv2-labels.combined.tsv.",
                source=str(path),
            )
        return {row["raw_category"]: int(row["nyu40id"]) for row in reader}


def _axis_align_matrix(meta_file: Path) -> np.ndarray:
    if meta_file.is_file():
        for line in meta_file.read_text(encoding="utf-8").splitlines():
            if line.startswith("axisAlignment"):
                values = [float(x) for x in line.split("=", 1)[1].split()]
                if len(values) != 16:
                    raise DataError(
                        "bad_axis_matrix",
                        f"{meta_file}: axisAlignment has {len(values)} numbers; expected 16.",
                        source=str(meta_file),
                    )
                return np.array(values).reshape(4, 4)
    return np.eye(4)


def _boxes(xyz: np.ndarray, instance_ids: np.ndarray, labels: dict[int, int]) -> np.ndarray:
    """``(num objects, 7)``: centre, size and NYU40 id in row ``objectId`` (mmdet3d's extract_bbox).

    Objects without a vertex keep a zero row (class 0), which the class filter drops.
    """
    boxes = np.zeros((max(labels, default=0), 7))
    for object_id, label in labels.items():
        inside = xyz[instance_ids == object_id]
        if not len(inside):
            continue
        low, high = inside.min(axis=0), inside.max(axis=0)
        boxes[object_id - 1] = [*((low + high) / 2), *(high - low), label]
    return boxes


def export_scan(
    scan_dir: str | Path,
    out_dir: str | Path,
    label_map_file: str | Path,
    test_mode: bool = False,
    max_num_point: int | None = None,
    seed: int = 0,
) -> dict[str, Path]:
    """Write the mmdet3d files of the raw scan ``scan_dir`` into ``out_dir``; return their paths.

    Args:
        scan_dir: ``.../scans/<scan>``; the scan name is the directory name.
        out_dir: where ``<scan>_vert.npy`` etc. go (mmdet3d's ``scannet_instance_data``).
        label_map_file: ``scannetv2-labels.combined.tsv``.
        test_mode: a test scan: vertices only.
        max_num_point: subsample to at most this many vertices (``--max_num_point``).
        seed: seed of that subsampling.

    Raises:
        DataError: a missing or malformed input file, named.
    """
    scan_dir, out_dir = Path(scan_dir), Path(out_dir)
    name = scan_dir.name
    ply = read_ply_vertices(scan_dir / f"{name}_vh_clean_2.ply")
    missing = {"x", "y", "z", "red", "green", "blue"} - set(ply.dtype.names or ())
    if missing:
        raise DataError(
            "bad_ply",
            f"{scan_dir / f'{name}_vh_clean_2.ply'} lacks vertex properties {sorted(missing)}.",
        )
    vertices = np.stack(
        [ply[k].astype(np.float32) for k in ("x", "y", "z", "red", "green", "blue")], axis=1
    )
    outputs: dict[str, np.ndarray] = {}
    if not test_mode:
        label_map = read_label_map(label_map_file)
        matrix = _axis_align_matrix(scan_dir / f"{name}.txt")
        aligned = np.concatenate([vertices[:, :3], np.ones((len(vertices), 1))], axis=1) @ matrix.T
        semantic, instance, labels = _labels(scan_dir, name, len(vertices), label_map)
        unaligned_boxes = _boxes(vertices[:, :3], instance, labels)
        aligned_boxes = _boxes(aligned[:, :3], instance, labels)
        keep = np.isin(aligned_boxes[:, -1], OBJ_CLASS_IDS)
        outputs.update(
            semantic_labels=semantic,
            instance_labels=instance,
            unaligned_boxes=unaligned_boxes[np.isin(unaligned_boxes[:, -1], OBJ_CLASS_IDS)],
            aligned_boxes=aligned_boxes[keep],
            axis_align_matrix=matrix,
        )
    if max_num_point is not None and len(vertices) > max_num_point:
        choice = np.random.default_rng(seed).choice(len(vertices), max_num_point, replace=False)
        vertices = vertices[choice]
        for kind in ("semantic_labels", "instance_labels"):
            if kind in outputs:
                outputs[kind] = outputs[kind][choice]
    outputs = {"vertices": vertices, **outputs}
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for kind, array in outputs.items():
        written[kind] = out_dir / f"{name}{SCANNET_SUFFIXES[kind]}"
        np.save(written[kind], array)
    return written


def _read_json(path: Path, key: str) -> list:
    if not path.is_file():
        raise DataError("missing_annotation", f"ScanNet file not found: {path}", source=str(path))
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise DataError("malformed_json", f"{path} has no '{key}' list.", source=str(path))
    return data[key]


def _labels(
    scan_dir: Path, name: str, num_vertices: int, label_map: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """Per-vertex NYU40 ids, per-vertex objectId + 1, and object (1-based) → NYU40 id."""
    seg_path = scan_dir / f"{name}_vh_clean_2.0.010000.segs.json"
    seg_indices = np.asarray(_read_json(seg_path, "segIndices"))
    if len(seg_indices) != num_vertices:
        raise DataError(
            "scannet_count_mismatch",
            f"{seg_path} has {len(seg_indices)} segment indices but the mesh has {num_vertices} "
            "vertices; expected one per vertex.",
            source=str(seg_path),
        )
    agg_path = scan_dir / f"{name}.aggregation.json"
    semantic = np.zeros(num_vertices, dtype=np.uint32)
    instance = np.zeros(num_vertices, dtype=np.uint32)
    labels: dict[int, int] = {}
    groups = _read_json(agg_path, "segGroups")
    # Semantic labels go per category first, then instances, as mmdet3d's export does.
    for group in groups:
        if group["label"] not in label_map:
            raise DataError(
                "unknown_label",
                f"{agg_path}: label {group['label']!r} is not in the label map.",
                source=str(agg_path),
            )
        semantic[np.isin(seg_indices, group["segments"])] = label_map[group["label"]]
    for group in groups:
        object_id = int(group["objectId"]) + 1
        instance[np.isin(seg_indices, group["segments"])] = object_id
        # mmdet3d: the label of the first vertex of the object's first segment.
        first = np.flatnonzero(seg_indices == group["segments"][0]) if group["segments"] else []
        labels[object_id] = int(semantic[first[0]]) if len(first) else 0
    return semantic, instance, labels
