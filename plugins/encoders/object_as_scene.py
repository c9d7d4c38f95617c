"""Object-As-Scene: Octavius's scene-level point-cloud encoder (§3.2.2, eq. 5–7, Fig. 5)."""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from octavius.models.base_encoder import BaseEncoder, BasePointEncoder, EncoderOutput, build_encoder
from octavius.models.base_roi_source import BaseRoISource, build_roi_source, check_boxes
from octavius.models.point_ops import (
    normalize_unit_sphere,
    points_in_boxes,
    sample_indices,
    scene_box,
)
from octavius.models.query_fusion import FUSION_BLOCKS, QueryFusion
from octavius.registry import ENCODERS

__all__ = ["BOX_ENCODINGS", "ObjectAsSceneEncoder"]

#: What the box positional embedding ``f_PE`` reads.
BOX_ENCODINGS = ("center_size", "corners")
_PE_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


@ENCODERS.register_module()
class ObjectAsSceneEncoder(BaseEncoder):
    """RoIs → Point-BERT features → learnable-query cross-attention fusion (Octavius eq. 5–7).

    Step 1, RoIs ``{r}``: the sample's own instance boxes when ``item['use_instance_boxes']`` is
    true (captioning, classification: tasks about given instances), otherwise the boxes of
    ``roi_source`` (FCAF3D detections in the paper, precomputed or live). RoIs are taken in the
    source's order (best first); RoIs holding no point are skipped and the first ``num_rois`` of
    the others kept. A scene left without RoIs gets one RoI enclosing the whole scene.

    Step 2, eq. 5: ``points_per_roi`` points are sampled inside every RoI (all of them plus random
    repeats when the RoI holds fewer), centred and scaled into the unit sphere, and encoded by the
    frozen ``point_encoder`` into ``h^pcl``. In eval mode the sampling is seeded from ``seed`` and
    the scene id, so it is reproducible and independent of the batch.

    Step 3, eq. 6: ``num_queries`` learnable queries ``e_q`` attend through ``num_layers`` fusion
    layers to ``h^pcl + f_PE(r)``, ``f_PE`` an MLP on six box numbers. Scenes with different RoI
    counts are batched with key-padding masks. The official release (OpenGVLab/LAMM,
    ``src/model/Octavius``; the paper configs follow it) uses 16 queries, one layer of
    cross-attention followed by self-attention among the queries (``fusion_block='cross_self'``,
    dropout 0.1), ``f_PE = Linear(6, 256) → ReLU → Linear(256, d)`` on the boxes' min/max corners
    (``box_encoding='corners'``). The defaults here are the other reading of the paper: 32 queries,
    two pre-norm cross-attention layers with FFN and no self-attention, a GELU ``f_PE`` of width
    ``d`` on centre and size.

    Precomputed object features (LAMM's 3D data, ``item['roi_features']`` with ``item['boxes']``)
    replace steps 1–2: the point encoder is not run for such samples and the features go straight
    to step 3, as in the release (see :meth:`precomputed_rois`).

    Eq. 7's trainable linear ``f^proj'`` is the model's projector for this modality, as for images
    (eq. 4); ``out_dim`` adds one inside the encoder instead.

    Args:
        point_encoder: config of a :class:`BasePointEncoder` (``PointBERT``); its
            ``feature_dim`` is the fusion width ``d``.
        roi_source: config of a RoI source (``ROI_SOURCES``) for samples without
            ``use_instance_boxes``; None makes such samples an error.
        num_rois: most RoIs per scene.
        points_per_roi: points sampled per RoI (at least the point encoder's ``min_points``).
        num_queries: learnable queries, i.e. output tokens per scene.
        num_layers: stacked fusion layers.
        num_heads: attention heads (must divide ``d``).
        mlp_ratio: FFN width over ``d`` in the fusion layers (``fusion_block='cross'``).
        dropout: dropout in the fusion layers.
        fusion_block: ``"cross"`` or ``"cross_self"`` (see
            :class:`~octavius.models.query_fusion.QueryFusion`).
        pe_hidden: hidden width of ``f_PE``; ``d`` when ``None``.
        pe_activation: activation of ``f_PE``, ``"gelu"`` or ``"relu"``.
        box_encoding: what ``f_PE`` reads: ``"center_size"`` ``[cx, cy, cz, dx, dy, dz]`` or
            ``"corners"`` ``[x_min, y_min, z_min, x_max, y_max, z_max]``.
        out_dim: width of an output projection inside the encoder; None for none.
        normalize: centre and scale each RoI's points into the unit sphere (ULIP's preprocessing).
        roi_chunk: RoIs per point-encoder call, bounding memory.
        seed: base seed of the eval-mode point sampling.
        train_resampling: sample new RoI points at every training step; ``False`` uses the
            seeded eval-mode sampling in training too — what training from a feature cache
            (``tools/data/cache_features.py``) sees, so cached and live runs then match.
    """

    modality = "point_cloud"

    def __init__(
        self,
        point_encoder: Mapping[str, Any] | BasePointEncoder | None = None,
        roi_source: Mapping[str, Any] | BaseRoISource | None = None,
        num_rois: int = 64,
        points_per_roi: int = 8192,
        num_queries: int = 32,
        num_layers: int = 2,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        fusion_block: str = "cross",
        pe_hidden: int | None = None,
        pe_activation: str = "gelu",
        box_encoding: str = "center_size",
        out_dim: int | None = None,
        normalize: bool = True,
        roi_chunk: int = 32,
        seed: int = 0,
        train_resampling: bool = True,
    ) -> None:
        super().__init__()
        cfg = point_encoder if point_encoder is not None else dict(type="PointBERT", in_channels=6)
        self.point_encoder = build_encoder(cfg, BasePointEncoder)
        self.roi_source = build_roi_source(roi_source) if roi_source is not None else None
        dim = self.point_encoder.feature_dim
        counts = dict(
            num_rois=num_rois, num_queries=num_queries, num_layers=num_layers, roi_chunk=roi_chunk
        )
        for name, value in counts.items():
            if value < 1:
                raise ValueError(f"ObjectAsSceneEncoder {name} must be >= 1, got {value}.")
        if points_per_roi < self.point_encoder.min_points:
            raise ValueError(
                f"ObjectAsSceneEncoder points_per_roi ({points_per_roi}) is below what the point"
                f" encoder needs ({self.point_encoder.min_points}); raise points_per_roi or lower"
                " the point encoder's num_group/group_size."
            )
        if dim % num_heads:
            raise ValueError(
                f"ObjectAsSceneEncoder num_heads ({num_heads}) must divide the point encoder's"
                f" feature_dim ({dim})."
            )
        self.num_rois, self.points_per_roi = num_rois, points_per_roi
        self.normalize, self.roi_chunk, self.seed = normalize, roi_chunk, seed
        self.train_resampling = train_resampling
        if pe_activation not in _PE_ACTIVATIONS:
            raise ValueError(
                f"ObjectAsSceneEncoder pe_activation must be one of {sorted(_PE_ACTIVATIONS)},"
                f" got {pe_activation!r}."
            )
        if box_encoding not in BOX_ENCODINGS:
            raise ValueError(
                f"ObjectAsSceneEncoder box_encoding must be one of {BOX_ENCODINGS}, got"
                f" {box_encoding!r}."
            )
        if fusion_block not in FUSION_BLOCKS:
            raise ValueError(
                f"ObjectAsSceneEncoder fusion_block must be one of {FUSION_BLOCKS}, got"
                f" {fusion_block!r}."
            )
        hidden = pe_hidden or dim
        self.box_encoding = box_encoding
        self.box_embed = nn.Sequential(  # f_PE
            nn.Linear(6, hidden), _PE_ACTIVATIONS[pe_activation](), nn.Linear(hidden, dim)
        )
        self.fusion = QueryFusion(
            dim, num_queries, num_layers, num_heads, mlp_ratio, dropout, block=fusion_block
        )
        self.proj = nn.Linear(dim, out_dim) if out_dim else None
        self.out_features = out_dim or dim
        self.num_tokens = num_queries

    def encode_boxes(self, boxes: Tensor) -> Tensor:
        """The six numbers ``f_PE`` reads for ``(..., 6)`` centre/size boxes (``box_encoding``)."""
        if self.box_encoding == "center_size":
            return boxes
        center, size = boxes[..., :3], boxes[..., 3:]
        return torch.cat([center - size / 2, center + size / 2], dim=-1)

    def scene_rois(self, item: Mapping[str, Any]) -> Tensor:
        """The candidate RoIs of one sample (step 1), before empty ones are skipped: ``(m, 6)``."""
        scene_id = item.get("scene_id")
        if item.get("use_instance_boxes"):
            if item.get("boxes") is None:
                raise ValueError(
                    f"Sample of scene {scene_id!r} sets use_instance_boxes but has no 'boxes'."
                )
            return check_boxes(item["boxes"], "the sample's 'boxes'", scene_id)
        if self.roi_source is None:
            raise ValueError(
                f"Sample of scene {scene_id!r} does not set use_instance_boxes and"
                " ObjectAsSceneEncoder has no roi_source: set roi_source=dict(type=...) from"
                " ROI_SOURCES (e.g. PrecomputedRoISource)."
            )
        return self.roi_source(item)

    def roi_points(self, item: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
        """Steps 1–2a for one sample: the kept RoIs and the points sampled in each.

        Returns:
            ``(m, 6)`` boxes (``1 <= m <= num_rois``) and ``(m, points_per_roi, c)`` points
            (``c`` = the point encoder's ``in_channels``), on the CPU.
        """
        scene_id = item.get("scene_id")
        c = self.point_encoder.in_channels
        points = torch.as_tensor(item["points"], dtype=torch.float32).cpu()
        if points.dim() != 2 or points.shape[1] < c or points.shape[0] == 0:
            raise ValueError(
                f"Points of scene {scene_id!r} have shape {tuple(points.shape)}; expected (N, {c}+)"
                f" with N > 0 (the point encoder reads {c} channels)."
            )
        points = points[:, :c]
        kept, members = self._nonempty_rois(points[:, :3], self.scene_rois(item).cpu())
        generator = None
        if not self.training or not self.train_resampling:
            generator = torch.Generator().manual_seed(
                self.seed + zlib.crc32(str(scene_id).encode())
            )
        index = torch.stack(
            [
                sample_indices(m.nonzero().squeeze(1), self.points_per_roi, generator)
                for m in members
            ]
        )
        sampled = points[index]  # (m, p, c)
        if self.normalize:
            sampled = torch.cat([normalize_unit_sphere(sampled[..., :3]), sampled[..., 3:]], dim=-1)
        return kept, sampled

    def _nonempty_rois(self, xyz: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
        """The first ``num_rois`` boxes holding points, ``(m, 6)``, and their ``(m, N)`` membership.

        Boxes are tested ``num_rois`` at a time, so a detector's long tail costs nothing once
        enough non-empty ones are found. With none, the whole scene is the one RoI.
        """
        kept, members, found = [], [], 0
        for chunk in boxes.split(self.num_rois):
            inside = points_in_boxes(xyz, chunk)  # (chunk, N)
            nonempty = inside.any(dim=1)
            kept.append(chunk[nonempty])
            members.append(inside[nonempty])
            found += int(nonempty.sum())
            if found >= self.num_rois:
                break
        if found == 0:
            return scene_box(xyz), torch.ones(1, xyz.shape[0], dtype=torch.bool)
        return torch.cat(kept)[: self.num_rois], torch.cat(members)[: self.num_rois]

    def _encode_rois(self, points: Tensor) -> Tensor:
        frozen = not any(p.requires_grad for p in self.point_encoder.parameters())
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
            return torch.cat(
                [self.point_encoder.encode_points(chunk) for chunk in points.split(self.roi_chunk)]
            )

    def precomputed_rois(self, item: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
        """The kept RoIs of a sample carrying precomputed object features, and those features.

        LAMM's 3D data (:mod:`octavius.data.lamm_features`) ships one feature per object,
        computed offline by the release's point encoder, with its box; the release feeds them
        straight to ``pos_3d_proj`` and the resampler (OpenGVLab/LAMM ``octavius.py``,
        ``encode_pcl``). Here they replace steps 1–2: the first ``num_rois`` rows are kept (the
        release keeps every proposal of a scene; set ``num_rois`` to at least the largest count
        to do the same).

        Returns:
            ``(m, 6)`` boxes and ``(m, d)`` features, ``1 <= m <= num_rois``, on the CPU.

        Raises:
            ValueError: naming the scene, for features that are not ``(m, d)`` with ``d`` the
                fusion width, or boxes that are not one ``(6,)`` row per feature.
        """
        scene_id = item.get("scene_id")
        features = torch.as_tensor(item["roi_features"]).float().cpu()
        dim = self.point_encoder.feature_dim
        if features.dim() != 2 or features.shape[0] == 0 or features.shape[1] != dim:
            raise ValueError(
                f"Precomputed 'roi_features' of scene {scene_id!r} have shape"
                f" {tuple(features.shape)}; expected (m, {dim}) with m > 0 ({dim} is the fusion"
                " width, the point encoder's feature_dim: set it to the features' width)."
            )
        if item.get("boxes") is None:
            raise ValueError(
                f"Sample of scene {scene_id!r} has 'roi_features' but no 'boxes' (one per feature)."
            )
        boxes = check_boxes(item["boxes"], "the sample's precomputed 'boxes'", scene_id).cpu()
        if boxes.shape[0] != features.shape[0]:
            raise ValueError(
                f"Sample of scene {scene_id!r} has {features.shape[0]} precomputed features but"
                f" {boxes.shape[0]} boxes; expected one box per feature."
            )
        return boxes[: self.num_rois], features[: self.num_rois]

    def live_rois(self, inputs: list[Mapping[str, Any]]) -> list[tuple[Tensor, Tensor]]:
        """Steps 1–2 (eq. 5) for samples with points: ``(boxes (m, 6), h^pcl (m, d))`` each.

        The RoIs of all samples go through the point encoder together, ``roi_chunk`` at a time.
        """
        if not inputs:
            return []
        per_scene = [self.roi_points(item) for item in inputs]
        counts = [boxes.shape[0] for boxes, _ in per_scene]
        all_points = torch.cat([pts for _, pts in per_scene]).to(self.device)  # (Σm, p, c)
        features = self._encode_rois(all_points)  # h^pcl: (Σm, d)
        return [(boxes, f) for (boxes, _), f in zip(per_scene, features.split(counts))]

    def fuse(self, per_scene: list[tuple[Tensor, Tensor]]) -> Tensor:
        """Step 3 (eq. 6) on ``(boxes (m, 6), features (m, d))`` per scene → ``(b, q, out_features)``.

        Scenes with fewer RoIs are padded; padded keys get no attention.
        """
        device, dtype = self.device, self.box_embed[0].weight.dtype
        counts = [boxes.shape[0] for boxes, _ in per_scene]
        b, m, d = len(per_scene), max(counts), per_scene[0][1].shape[-1]
        kv = torch.zeros(b, m, d, device=device, dtype=dtype)
        boxes = torch.zeros(b, m, 6, device=device, dtype=dtype)
        padding = torch.ones(b, m, dtype=torch.bool, device=device)
        for i, (scene_boxes, feats) in enumerate(per_scene):
            kv[i, : counts[i]] = feats.to(device=device, dtype=dtype)
            boxes[i, : counts[i]] = scene_boxes.to(device=device, dtype=dtype)
            padding[i, : counts[i]] = False
        fused = self.fusion(kv + self.box_embed(self.encode_boxes(boxes)), padding)
        return self.proj(fused) if self.proj is not None else fused

    def forward(self, inputs: list[Mapping[str, Any]]) -> EncoderOutput:
        """Encode a batch of scenes (legend: b scenes, m RoIs, p points, c channels, q queries, d width).

        Args:
            inputs: ``b`` samples, each ``dict(points=(N, 6), boxes=(M, 6) or None, scene_id=str,
                use_instance_boxes=bool)``, or with precomputed object features
                ``dict(roi_features=(m, d), boxes=(m, 6), scene_id=str)`` (LAMM's 3D data:
                the point encoder is skipped, see :meth:`precomputed_rois`). A batch may mix both.

        Returns:
            ``tokens (b, q, out_features)``, mask all True.
        """
        for i, item in enumerate(inputs):
            if not isinstance(item, Mapping) or not ({"points", "roi_features"} & item.keys()):
                raise TypeError(
                    f"ObjectAsSceneEncoder input {i} must be a dict with 'points' or"
                    f" 'roi_features', got {type(item).__name__}."
                )
        precomputed = [item.get("roi_features") is not None for item in inputs]
        live = iter(self.live_rois([x for x, pre in zip(inputs, precomputed) if not pre]))
        per_scene = [
            self.precomputed_rois(item) if pre else next(live)
            for item, pre in zip(inputs, precomputed)
        ]
        tokens = self.fuse(per_scene)
        return EncoderOutput(
            tokens=tokens, mask=torch.ones(tokens.shape[:2], dtype=torch.bool, device=self.device)
        )

    # ------------------------------------------------------------------ feature cache
    def _require_frozen(self) -> None:
        if any(p.requires_grad for p in self.point_encoder.parameters()):
            raise ValueError(
                "ObjectAsSceneEncoder: the point encoder trains (frozen=False), so its RoI"
                " features cannot be cached; freeze it or train without a feature cache."
            )

    def frozen_features(self, inputs: list[Mapping[str, Any]]) -> list[dict[str, Tensor]]:
        """Steps 1–2 per scene: ``dict(boxes=(m, 6), roi_features=(m, d))`` from the frozen
        point encoder; the fusion (step 3) trains and runs from these at every step."""
        self._require_frozen()
        with torch.no_grad():
            per_scene = self.live_rois(list(inputs))
        return [{"boxes": boxes, "roi_features": feats} for boxes, feats in per_scene]

    def from_frozen_features(self, features: list[Mapping[str, Tensor]]) -> EncoderOutput:
        """Step 3 on cached ``boxes (m, 6)`` and ``roi_features (m, d)`` per scene."""
        dim = self.point_encoder.feature_dim
        for i, f in enumerate(features):
            shape = tuple(f["roi_features"].shape)
            if len(shape) != 2 or shape[1] != dim or f["boxes"].shape != (shape[0], 6):
                raise ValueError(
                    f"Cached RoI features of scene {i} are {shape} with boxes"
                    f" {tuple(f['boxes'].shape)}; expected (m, {dim}) and (m, 6). Rebuild the"
                    " feature cache."
                )
        tokens = self.fuse([(f["boxes"], f["roi_features"]) for f in features])
        return EncoderOutput(
            tokens=tokens, mask=torch.ones(tokens.shape[:2], dtype=torch.bool, device=self.device)
        )

    def frozen_module(self) -> nn.Module:
        """The point encoder (Point-BERT)."""
        self._require_frozen()
        return self.point_encoder

    def frozen_settings(self) -> dict[str, Any]:
        """The point encoder's architecture, RoI selection and point sampling (steps 1–2a)."""
        return {
            "point_encoder": repr(self.point_encoder),
            "point_encoder_settings": {
                k: v
                for k, v in vars(self.point_encoder).items()
                if not k.startswith("_")
                and k != "training"
                and isinstance(v, (bool, int, float, str))
            },
            # The RoI files themselves are checked per entry (frozen_dependencies), so the
            # source's directory is not part of the settings: a moved data tree stays valid.
            "roi_source": None
            if self.roi_source is None
            else {
                "type": type(self.roi_source).__name__,
                **{
                    k: v
                    for k, v in vars(self.roi_source).items()
                    if not k.startswith("_")
                    and k != "training"
                    and isinstance(v, (bool, int, float, str))
                },
            },
            "num_rois": self.num_rois,
            "points_per_roi": self.points_per_roi,
            "normalize": self.normalize,
            "seed": self.seed,
        }

    def frozen_dependencies(self, item: Mapping[str, Any]) -> list[str]:
        """The scene's RoI file, for a scene-level sample with a file-backed RoI source."""
        path_for = getattr(self.roi_source, "path_for", None)
        if item.get("use_instance_boxes") or path_for is None:
            return []
        return [str(path_for(str(item.get("scene_id"))))]

    @classmethod
    def example_config(cls, root: str | os.PathLike) -> dict[str, Any]:
        """A tiny instance over a tiny Point-BERT (64-d RoI features), RoIs from the sample's boxes."""
        return dict(
            point_encoder=dict(
                type="PointBERT", in_channels=6, trans_dim=32, depth=1, num_heads=2,
                group_size=8, num_group=8, encoder_dims=32, num_points=64,
            ),
            roi_source=dict(type="GTBoxRoISource"),
            num_rois=4, points_per_roi=32, num_queries=3, num_heads=2,
        )  # fmt: skip
