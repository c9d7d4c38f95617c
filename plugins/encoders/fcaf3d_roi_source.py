"""Live FCAF3D RoIs through mmdet3d (the optional ``[3d]`` extra)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from octavius.models.base_roi_source import BaseRoISource
from octavius.models.nms3d import nms_aligned_3d
from octavius.registry import ROI_SOURCES

__all__ = ["FCAF3DRoISource", "select_rois"]


def select_rois(
    boxes: Tensor,
    scores: Tensor,
    score_thr: float,
    top_m: int | None,
    class_agnostic_iou_thr: float | None,
) -> tuple[Tensor, Tensor]:
    """Keep the best detections as RoIs.

    Boxes scoring below ``score_thr`` are dropped; the rest are sorted by decreasing score
    (ties keep detector order); boxes overlapping a better one by more than
    ``class_agnostic_iou_thr`` (axis-aligned 3D IoU) are dropped, which removes the duplicates the
    detector's per-class NMS leaves across classes; at most ``top_m`` remain.

    Args:
        boxes: ``(n, 6)`` ``[cx, cy, cz, dx, dy, dz]``.
        scores: ``(n,)``.
        score_thr: minimum score.
        top_m: maximum number of RoIs, None for all.
        class_agnostic_iou_thr: IoU above which a lower-scoring box is a duplicate; None keeps
            duplicates.

    Returns:
        ``(m, 6)`` boxes and ``(m,)`` scores, best first.
    """
    keep = scores >= score_thr
    boxes, scores = boxes[keep], scores[keep]
    order = scores.argsort(descending=True, stable=True)
    boxes, scores = boxes[order], scores[order]
    if class_agnostic_iou_thr is not None and len(boxes):
        kept = nms_aligned_3d(boxes, scores, class_agnostic_iou_thr)
        boxes, scores = boxes[kept], scores[kept]
    return boxes[:top_m], scores[:top_m]


@ROI_SOURCES.register_module()
class FCAF3DRoISource(BaseRoISource):
    """RoIs of Octavius §3.2.2 step 1 detected live by FCAF3D (Rukhovich et al., ECCV 2022).

    The detector is built from an mmdet3d config (by default the ScanNet 18-class FCAF3D config
    shipped inside the mmdet3d wheel) and runs frozen, in eval mode, on ``device``. Its per-class
    boxes (gravity centre, see :func:`octavius.models.mmdet3d_detector.depth_boxes_to_rois`) are
    thresholded, deduplicated across classes and cut to the ``top_m`` best, best first.

    Needs the ``[3d]`` extra (mmdet3d, mmcv with compiled ops, MinkowskiEngine); without it,
    building this source raises :class:`ImportError` naming the extra and the alternative:
    precomputing RoIs with ``tools/data/extract_rois.py`` and reading them with
    ``PrecomputedRoISource``. mmdet3d is imported when the source is built, never at registration.

    Args:
        config: detector config: a file, or a path inside mmdet3d's shipped configs.
        checkpoint: trained weights (``.pth`` readable with ``weights_only=True``, or
            ``.safetensors``). None keeps random weights: boxes are then meaningless, for tests.
        score_thr: minimum detection score (also the head's own threshold before its NMS).
        iou_thr: IoU threshold of the head's per-class NMS.
        top_m: maximum number of RoIs per scene; None keeps all.
        class_agnostic_iou_thr: 3D IoU above which a box duplicating a better one of another
            class is dropped; None keeps such duplicates.
        color_scale: the items' rgb values are divided by this to reach [0, 1], the range FCAF3D
            was trained on (ScanNet colours / 255). The data pipeline delivers [0, 1], hence 1.0;
            use 255 for raw 0–255 colours. Colours beyond ``color_scale`` raise an error.
        max_points: scenes with more points are randomly subsampled to this many (the config's
            test pipeline samples 100k points).
        seed: seed of that subsampling and of the random weights, so a scene always gives the
            same RoIs.
        device: where the detector runs.
    """

    def __init__(
        self,
        config: str | os.PathLike = "fcaf3d/fcaf3d_2xb8_scannet-3d-18class.py",
        checkpoint: str | os.PathLike | None = None,
        score_thr: float = 0.01,
        iou_thr: float = 0.5,
        top_m: int | None = 50,
        class_agnostic_iou_thr: float | None = 0.5,
        color_scale: float = 1.0,
        max_points: int = 100_000,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        if top_m is not None and top_m < 1:
            raise ValueError(f"FCAF3DRoISource top_m must be >= 1 or None, got {top_m}.")
        for name, value in (
            ("iou_thr", iou_thr),
            ("class_agnostic_iou_thr", class_agnostic_iou_thr),
        ):
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"FCAF3DRoISource {name} must lie in [0, 1], got {value}.")
        if color_scale <= 0 or max_points < 1:
            raise ValueError(
                f"FCAF3DRoISource color_scale must be > 0 and max_points >= 1, got"
                f" {color_scale} and {max_points}."
            )
        from octavius.models._mmdet3d_compat import import_mmdet3d
        from octavius.models.mmdet3d_detector import build_detector

        import_mmdet3d(type(self).__name__)
        self.config = str(config)
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.score_thr = score_thr
        self.top_m = top_m
        self.class_agnostic_iou_thr = class_agnostic_iou_thr
        self.color_scale = color_scale
        self.max_points = max_points
        self.seed = seed
        self.device = torch.device(device)
        self.detector = build_detector(
            config,
            checkpoint,
            device=self.device,
            test_cfg=dict(score_thr=score_thr, iou_thr=iou_thr),
            seed=seed,
        )

    def prepare_points(self, item: Mapping[str, Any]) -> Tensor:
        """The sample's points as the detector expects them: ``(N', 6)`` xyz + rgb in [0, 1]."""
        where = f"FCAF3DRoISource (scene {item.get('scene_id')!r})"
        points = torch.as_tensor(item.get("points"), dtype=torch.float32)
        if points.dim() != 2 or points.shape[1] < 6 or len(points) == 0:
            raise ValueError(
                f"{where}: 'points' must be a non-empty (N, 6) array of xyz + rgb, got shape"
                f" {tuple(points.shape)}."
            )
        if len(points) > self.max_points:
            generator = torch.Generator().manual_seed(self.seed)
            points = points[torch.randperm(len(points), generator=generator)[: self.max_points]]
        rgb = points[:, 3:6] / self.color_scale
        if rgb.abs().max() > 1.001:
            raise ValueError(
                f"{where}: rgb values reach {float(points[:, 3:6].abs().max()):.1f}, above"
                f" color_scale={self.color_scale}; set color_scale to the colours' range (255 for"
                " 0-255 colours, 1.0 for colours in [0, 1])."
            )
        return torch.cat([points[:, :3], rgb], dim=1).to(self.device)

    def scored_rois(self, item: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
        """Detect, then :func:`select_rois`: ``(m, 6)`` boxes and ``(m,)`` scores, best first."""
        from octavius.models.mmdet3d_detector import detect

        boxes, scores = detect(self.detector, self.prepare_points(item))
        boxes, scores = select_rois(
            boxes, scores, self.score_thr, self.top_m, self.class_agnostic_iou_thr
        )
        return boxes.float().cpu(), scores.float().cpu()

    def get_rois(self, item: Mapping[str, Any]) -> Tensor:
        """The ``(m, 6)`` RoIs of one sample, best first."""
        return self.scored_rois(item)[0]

    @classmethod
    def example_config(cls, root: str | os.PathLike) -> dict[str, Any]:
        """Random weights, no score threshold (random scores are tiny), ten RoIs at most.

        Raises:
            ImportError: when the ``[3d]`` extra is not installed.
        """
        from octavius.models._mmdet3d_compat import import_mmdet3d

        import_mmdet3d(cls.__name__)
        return dict(score_thr=0.0, top_m=10)

    def __repr__(self) -> str:
        return (
            f"FCAF3DRoISource(config={self.config!r}, checkpoint={self.checkpoint!r},"
            f" score_thr={self.score_thr}, top_m={self.top_m}, device={str(self.device)!r})"
        )
