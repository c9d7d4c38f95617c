"""Precompute RoIs offline: run a RoI source over scenes and write one file per scene.

The files are the ones :class:`~octavius.plugins.encoders.precomputed_roi_source.PrecomputedRoISource`
reads: ``<out_dir>/<scene_id>.npy`` (name from ``filename``), a float32 array ``(m, 7)`` of rows
``cx, cy, cz, dx, dy, dz, score``, best first. This is how RoIs from a detector that needs the
``[3d]`` extra (FCAF3D) reach machines without it. ``tools/data/extract_rois.py`` is the command
line front end.

Scenes are read from one of two layouts (:func:`scene_files` tells them apart):

- ``"npy"``: ``<points_dir>/<scene_id>.npy``, an ``(N, 6)`` xyz + rgb array;
- ``"scannet"``: mmdet3d's ScanNet preparation (``batch_load_scannet_data.py``):
  ``<scene_id>_vert.npy`` with ``_sem_label.npy``, ``_ins_label.npy``, ``_aligned_bbox.npy``,
  ``_axis_align_matrix.npy`` beside it, read by
  :func:`~octavius.data.scannet_scene.load_scannet_scene`: points in the axis-aligned frame (where
  the data pipeline reads them, so the RoIs line up with the training points), colours scaled
  from 0–255 to 0–1. Every scene's files are checked from their headers before anything runs, so
  a scene whose label files do not have one entry per vertex fails at once, naming the files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from octavius.data.scannet_scene import SCANNET_SUFFIXES, check_scannet_scene, load_scannet_scene
from octavius.models.base_roi_source import BaseRoISource, check_boxes

__all__ = [
    "SCENE_LAYOUTS",
    "ExtractionReport",
    "extract_rois",
    "load_scene_points",
    "scene_files",
    "scene_layout",
    "scored_rois",
    "write_roi_file",
]

#: Scene layouts :func:`scene_files` reads (``"auto"`` picks one).
SCENE_LAYOUTS = ("auto", "npy", "scannet")
_VERT = SCANNET_SUFFIXES["vertices"]


@dataclass
class ExtractionReport:
    """What :func:`extract_rois` did.

    Attributes:
        written: scene ids whose file was written.
        skipped: scene ids whose file existed already (``overwrite=False``).
        num_boxes: total number of boxes written.
    """

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    num_boxes: int = 0


def scene_layout(points_dir: str | os.PathLike) -> str:
    """``"scannet"`` when ``points_dir`` holds mmdet3d's ``<scene_id>_vert.npy`` files, else ``"npy"``."""
    root = Path(points_dir)
    return "scannet" if any(p.is_file() for p in root.glob(f"*{_VERT}")) else "npy"


def scene_files(
    points_dir: str | os.PathLike, pattern: str = "*.npy", layout: str = "auto"
) -> list[tuple[str, Path]]:
    """List the scenes of a directory as ``(scene_id, path)``.

    Args:
        points_dir: the directory.
        pattern: file glob of the ``"npy"`` layout (scene id = file stem).
        layout: ``"npy"``, ``"scannet"`` (the scenes are the ``<scene_id>_vert.npy`` files, the
            path is the vertex file) or ``"auto"`` (``"scannet"`` when there is a vertex file).

    Raises:
        FileNotFoundError: when the directory does not exist or holds no scene.
        octavius.data.DataError: a ``"scannet"`` scene whose files do not fit together (a label
            file with another length than the vertex file, both named; misshapen boxes).
    """
    root = Path(points_dir)
    if layout not in SCENE_LAYOUTS:
        raise ValueError(f"scene_files layout must be one of {SCENE_LAYOUTS}, got {layout!r}.")
    if not root.is_dir():
        raise FileNotFoundError(f"Point-cloud directory {root} does not exist.")
    if layout == "auto":
        layout = scene_layout(root)
    if layout == "scannet":
        files = sorted(path for path in root.glob(f"*{_VERT}") if path.is_file())
        if not files:
            raise FileNotFoundError(f"No mmdet3d ScanNet vertex file (*{_VERT}) in {root}.")
        scenes = [(path.name[: -len(_VERT)], path) for path in files]
        for scene_id, _ in scenes:
            check_scannet_scene(root, scene_id)
        return scenes
    files = sorted(path for path in root.glob(pattern) if path.is_file())
    if not files:
        raise FileNotFoundError(f"No point-cloud file matches {pattern!r} in {root}.")
    return [(path.stem, path) for path in files]


def load_scene_points(path: str | os.PathLike) -> Tensor:
    """Load a scene's points as a float32 ``(N, c)`` tensor, ``c >= 3``.

    A ``<scene_id>_vert.npy`` file is read as an mmdet3d ScanNet scene (axis-aligned, colours
    0–1, see the module docstring); any other ``.npy`` file as it is.

    Raises:
        ValueError: naming the file when it is unreadable or not a numeric ``(N, c)`` array
            (an :class:`octavius.data.DataError` for ScanNet scenes).
    """
    path = Path(path)
    if path.name.endswith(_VERT):
        scene = load_scannet_scene(path.parent, path.name[: -len(_VERT)], color_range="0-255")
        return torch.from_numpy(np.ascontiguousarray(scene.points, dtype=np.float32))
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise ValueError(f"Point-cloud file {path} is not a readable .npy array: {error}") from None
    if array.ndim != 2 or array.shape[1] < 3 or not np.issubdtype(array.dtype, np.number):
        raise ValueError(
            f"Point-cloud file {path} holds a {array.dtype} array of shape {array.shape};"
            " expected a numeric (N, 6) array of xyz + rgb."
        )
    return torch.from_numpy(array.astype(np.float32))


def scored_rois(source: BaseRoISource, item: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
    """Boxes ``(m, 6)`` and scores ``(m,)`` of one scene, best first.

    Sources with a ``scored_rois(item)`` method (detectors such as ``FCAF3DRoISource``) give
    their scores; for the others every box gets score 1.0, keeping the source's order.
    """
    method = getattr(source, "scored_rois", None)
    if method is None:
        boxes = source(item)
        return boxes, torch.ones(len(boxes))
    boxes, scores = method(item)
    name = type(source).__name__
    boxes = check_boxes(boxes, name, item.get("scene_id"))
    scores = torch.as_tensor(scores, dtype=torch.float32).reshape(-1)
    if len(scores) != len(boxes):
        raise ValueError(
            f"{name}.scored_rois returned {len(boxes)} boxes but {len(scores)} scores."
        )
    return boxes, scores


def write_roi_file(path: str | os.PathLike, boxes: Tensor, scores: Tensor) -> None:
    """Write boxes ``(m, 6)`` and scores ``(m,)`` as a float32 ``(m, 7)`` ``.npy`` file.

    The file is written under a temporary name and renamed, so an interrupted run never leaves a
    truncated file that a later run would skip.
    """
    path = Path(path)
    rows = torch.cat([boxes.reshape(-1, 6), scores.reshape(-1, 1)], dim=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as handle:
        np.save(handle, rows.detach().cpu().numpy().astype(np.float32), allow_pickle=False)
    os.replace(partial, path)


def extract_rois(
    source: BaseRoISource,
    scenes: Iterable[tuple[str, str | os.PathLike]],
    out_dir: str | os.PathLike,
    filename: str = "{scene_id}.npy",
    overwrite: bool = False,
    progress: bool = True,
) -> ExtractionReport:
    """Run ``source`` on every scene and write its RoI file.

    Args:
        source: any RoI source; its scores are kept when it has ``scored_rois``.
        scenes: ``(scene_id, points_file)`` pairs, e.g. from :func:`scene_files`.
        out_dir: directory of the RoI files (``PrecomputedRoISource``'s ``root``).
        filename: file name pattern, formatted with ``scene_id`` (as ``PrecomputedRoISource``).
        overwrite: recompute scenes whose file exists; otherwise they are skipped, so an
            interrupted run resumes where it stopped.
        progress: show a progress bar.

    Returns:
        An :class:`ExtractionReport`.
    """
    if "{scene_id}" not in filename:
        raise ValueError(f"extract_rois filename must contain '{{scene_id}}', got {filename!r}.")
    scenes = list(scenes)
    out = Path(out_dir)
    report = ExtractionReport()
    bar = tqdm(scenes, desc="RoIs", unit="scene", disable=not progress)
    for scene_id, points_file in bar:
        target = out / filename.format(scene_id=scene_id)
        if target.exists() and not overwrite:
            report.skipped.append(scene_id)
            continue
        item = dict(
            points=load_scene_points(points_file),
            boxes=None,
            scene_id=scene_id,
            use_instance_boxes=False,
        )
        boxes, scores = scored_rois(source, item)
        write_roi_file(target, boxes, scores)
        report.written.append(scene_id)
        report.num_boxes += len(boxes)
        bar.set_postfix(boxes=report.num_boxes)
    return report
