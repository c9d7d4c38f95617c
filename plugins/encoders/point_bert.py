"""Point-BERT: the point-patch transformer that Octavius uses as ``f^Point-Bert`` (eq. 5).

Yu et al., "Point-BERT", CVPR 2022, with ULIP's feature head (Xue et al., 2023): farthest point
sampling picks ``num_group`` centres, each centre's ``group_size`` nearest points (relative to the
centre) pass through a mini-PointNet, the tokens plus a cls token run through ``depth`` transformer
blocks with a positional-embedding MLP on the centres, and the cloud feature is ``[cls ; max over
groups]`` followed by ULIP's optional projection. Parameter names follow ULIP's ``PointTransformer``
so its checkpoints load (mapping in :mod:`octavius.models.pointbert_checkpoint`).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping
from typing import Any, Literal

import torch
from timm.models.vision_transformer import Block
from torch import Tensor, nn

from octavius.models.base_encoder import BasePointEncoder, EncoderOutput
from octavius.models.point_ops import (
    farthest_point_sample,
    gather_points,
    knn_indices,
    normalize_unit_sphere,
    sample_indices,
)
from octavius.models.pointbert_checkpoint import load_pointbert_checkpoint
from octavius.registry import ENCODERS

__all__ = ["PointBERT"]


class _MiniPointNet(nn.Module):
    """Point-BERT's group ``Encoder``: shared MLP → max-pool → concat → shared MLP → max-pool."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.first_conv = nn.Sequential(
            nn.Conv1d(in_channels, 128, 1),
            nn.BatchNorm1d(128),
            nn.ReLU(inplace=True),
            nn.Conv1d(128, 256, 1),
        )
        self.second_conv = nn.Sequential(
            nn.Conv1d(512, 512, 1),
            nn.BatchNorm1d(512),
            nn.ReLU(inplace=True),
            nn.Conv1d(512, out_channels, 1),
        )

    def forward(self, groups: Tensor) -> Tensor:
        """``(b, g, s, c)`` point groups → ``(b, g, out_channels)`` tokens (s points per group)."""
        b, g, s, c = groups.shape
        feature = self.first_conv(groups.reshape(b * g, s, c).transpose(1, 2))  # (bg, 256, s)
        pooled = feature.amax(dim=2, keepdim=True)
        feature = self.second_conv(torch.cat([pooled.expand(-1, -1, s), feature], dim=1))
        return feature.amax(dim=2).reshape(b, g, -1)


class _Blocks(nn.Module):
    """ULIP's ``TransformerEncoder``: the positional embedding is added before every block."""

    def __init__(self, dim: int, depth: int, num_heads: int, drop_path_rate: float) -> None:
        super().__init__()
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList(
            Block(
                dim,
                num_heads,
                mlp_ratio=4.0,
                qkv_bias=False,
                drop_path=rate,
                norm_layer=nn.LayerNorm,
            )
            for rate in rates
        )

    def forward(self, x: Tensor, pos: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x + pos)
        return x


@ENCODERS.register_module()
class PointBERT(BasePointEncoder):
    """Point-BERT point-patch transformer with ULIP's cloud feature (Octavius eq. 5).

    Defaults are ULIP's Point-BERT: 8192 points, 512 groups of 32, 12 blocks of width 384 with 6
    heads, 256-d group tokens; the cloud feature is 768-d (``proj_dim=None``) or ULIP's 512-d
    projection (``proj_dim=512``).

    Args:
        in_channels: 3 (xyz) or 6 (xyz + rgb; the colour channels go through the mini-PointNet
            next to the centre-relative xyz).
        trans_dim: transformer width.
        depth: number of transformer blocks.
        num_heads: attention heads.
        group_size: points per group (kNN).
        num_group: groups (FPS centres) per cloud.
        encoder_dims: width of the mini-PointNet tokens.
        drop_path_rate: stochastic depth, linearly increasing over the blocks.
        num_points: points each cloud is resampled to in :meth:`forward`.
        proj_dim: width of the bias-free projection of the cloud feature (ULIP's
            ``pc_projection``); None for none.
        output: ``"global"`` — one token per cloud, the cloud feature; ``"tokens"`` — the cls and
            group tokens after the final norm, ``(1 + num_group)`` tokens of width ``trans_dim``.
        normalize: centre and scale every cloud into the unit sphere first (ULIP's preprocessing).
        checkpoint: ULIP / Point-BERT weights (.pt/.pth/.safetensors); None keeps random weights.
        frozen: no gradients and eval mode for the whole encoder.
        dtype: torch dtype name the weights are kept in after loading (``"bfloat16"`` for a
            frozen encoder); None keeps float32. Inputs are cast to it, outputs come out in it.
        seed: seed of the resampling in eval mode (mixed with the scene id), so eval is
            reproducible; training draws from the global generator.
    """

    def __init__(
        self,
        in_channels: int = 3,
        trans_dim: int = 384,
        depth: int = 12,
        num_heads: int = 6,
        group_size: int = 32,
        num_group: int = 512,
        encoder_dims: int = 256,
        drop_path_rate: float = 0.1,
        num_points: int = 8192,
        proj_dim: int | None = None,
        output: Literal["global", "tokens"] = "global",
        normalize: bool = True,
        checkpoint: str | os.PathLike | None = None,
        frozen: bool = True,
        seed: int = 0,
        dtype: str | None = None,
    ) -> None:
        super().__init__()
        torch_dtype = getattr(torch, dtype, None) if dtype is not None else torch.float32
        if not isinstance(torch_dtype, torch.dtype):
            raise ValueError(
                f"PointBERT dtype {dtype!r} is not a torch dtype name (e.g. 'bfloat16')."
            )
        if in_channels not in (3, 6):
            raise ValueError(
                f"PointBERT in_channels must be 3 (xyz) or 6 (xyz+rgb), got {in_channels}."
            )
        if trans_dim % num_heads:
            raise ValueError(
                f"PointBERT trans_dim ({trans_dim}) must be divisible by num_heads ({num_heads})."
            )
        if num_points < max(num_group, group_size):
            raise ValueError(
                f"PointBERT num_points ({num_points}) must be at least num_group ({num_group}) and"
                f" group_size ({group_size})."
            )
        if output not in ("global", "tokens"):
            raise ValueError(f"PointBERT output must be 'global' or 'tokens', got {output!r}.")
        self.in_channels, self.trans_dim = in_channels, trans_dim
        self.group_size, self.num_group, self.num_points = group_size, num_group, num_points
        self.output, self.normalize, self.seed, self.frozen = output, normalize, seed, frozen
        self.min_points = max(num_group, group_size)

        self.encoder = _MiniPointNet(in_channels, encoder_dims)
        self.reduce_dim = nn.Linear(encoder_dims, trans_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, trans_dim))
        self.cls_pos = nn.Parameter(torch.randn(1, 1, trans_dim))
        self.pos_embed = nn.Sequential(nn.Linear(3, 128), nn.GELU(), nn.Linear(128, trans_dim))
        self.blocks = _Blocks(trans_dim, depth, num_heads, drop_path_rate)
        self.norm = nn.LayerNorm(trans_dim)
        self.proj = nn.Linear(2 * trans_dim, proj_dim, bias=False) if proj_dim else None

        self.feature_dim = proj_dim or 2 * trans_dim
        self.out_features = self.feature_dim if output == "global" else trans_dim
        self.num_tokens = 1 if output == "global" else 1 + num_group
        if checkpoint is not None:
            load_pointbert_checkpoint(self, checkpoint, with_projection=self.proj is not None)
        self.to(torch_dtype)
        if frozen:
            self.freeze(self)

    def group(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """FPS centres and their kNN groups (Point-BERT's ``Group``).

        Args:
            points: ``(b, n, c)``; xyz in the first three channels.

        Returns:
            ``(b, g, s, c)`` groups with xyz relative to their centre, and ``(b, g, 3)`` centres.
        """
        xyz = points[..., :3].contiguous()
        centers = gather_points(xyz, farthest_point_sample(xyz, self.num_group))  # (b, g, 3)
        groups = gather_points(points, knn_indices(xyz, centers, self.group_size))  # (b, g, s, c)
        relative = groups[..., :3] - centers.unsqueeze(2)
        return torch.cat([relative, groups[..., 3:]], dim=-1), centers

    def forward_features(self, points: Tensor) -> Tensor:
        """Transformer features of equal-size clouds.

        Args:
            points: ``(b, n, c)`` with ``c == in_channels``, ``n >= min_points``.

        Returns:
            ``(b, 1 + g, trans_dim)``: the cls token, then one token per group.
        """
        if points.dim() != 3 or points.shape[-1] != self.in_channels:
            raise ValueError(
                f"PointBERT expects points (b, n, {self.in_channels}); got {tuple(points.shape)}."
                " Set in_channels to match the data (3 = xyz, 6 = xyz+rgb)."
            )
        if points.shape[1] < self.min_points:
            raise ValueError(
                f"PointBERT needs at least {self.min_points} points per cloud, got {points.shape[1]}."
            )
        # Grouping (FPS, kNN) in fp32 whatever the weights' dtype: rounding must not move centres.
        groups, centers = self.group(points.float())
        dtype = self.cls_token.dtype
        groups, centers = groups.to(dtype), centers.to(dtype)
        tokens = self.reduce_dim(self.encoder(groups))  # (b, g, trans_dim)
        b = tokens.shape[0]
        x = torch.cat([self.cls_token.expand(b, -1, -1), tokens], dim=1)
        pos = torch.cat([self.cls_pos.expand(b, -1, -1), self.pos_embed(centers)], dim=1)
        return self.norm(self.blocks(x, pos))

    def pool(self, features: Tensor) -> Tensor:
        """ULIP's cloud feature ``[cls ; max over groups]`` (then ``proj``): ``(b, 1+g, d) → (b, feature_dim)``."""
        pooled = torch.cat([features[:, 0], features[:, 1:].amax(dim=1)], dim=-1)
        return self.proj(pooled) if self.proj is not None else pooled

    def encode_points(self, points: Tensor) -> Tensor:
        """Cloud features of equal-size clouds ``(b, n, c) → (b, feature_dim)``."""
        return self.pool(self.forward_features(points))

    def _prepare(self, item: Any) -> Tensor:
        points = item["points"] if isinstance(item, Mapping) else item
        points = torch.as_tensor(points, dtype=torch.float32)
        if points.dim() != 2 or points.shape[1] < self.in_channels or points.shape[0] == 0:
            raise ValueError(
                f"PointBERT input must be (N, >={self.in_channels}) points with N > 0, got"
                f" {tuple(points.shape)}."
            )
        generator = None
        if not self.training:
            scene = str(item.get("scene_id", "")) if isinstance(item, Mapping) else ""
            generator = torch.Generator().manual_seed(self.seed + zlib.crc32(scene.encode()))
        index = sample_indices(torch.arange(points.shape[0]), self.num_points, generator)
        points = points[index, : self.in_channels]
        if self.normalize:
            points = torch.cat(
                [normalize_unit_sphere(points[None, :, :3])[0], points[:, 3:]], dim=-1
            )
        return points

    def forward(self, inputs: list[Any]) -> EncoderOutput:
        """Encode a batch of clouds (legend: b clouds, n points, c channels, g groups, d width).

        Args:
            inputs: ``b`` items, each a ``(N, c)`` tensor or a dict with ``points``; clouds are
                resampled to ``num_points`` and only the first ``in_channels`` channels are read.

        Returns:
            ``tokens (b, 1, feature_dim)`` for ``output="global"``, ``(b, 1 + g, trans_dim)`` for
            ``output="tokens"``; mask all True.
        """
        points = torch.stack([self._prepare(item) for item in inputs]).to(self.device)  # (b, n, c)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            features = self.forward_features(points)
            tokens = self.pool(features).unsqueeze(1) if self.output == "global" else features
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        return EncoderOutput(tokens=tokens, mask=mask)

    @classmethod
    def example_config(cls, root: str | os.PathLike) -> dict[str, Any]:
        """A tiny Point-BERT (2 blocks, width 32, 16 groups of 8 over 128 points); ``root`` unused."""
        return dict(
            in_channels=6, trans_dim=32, depth=2, num_heads=2, group_size=8, num_group=16,
            encoder_dims=32, num_points=128,
        )  # fmt: skip
