"""Learnable-query cross-attention fusion: Object-As-Scene's aggregation of RoI features (Octavius eq. 6)."""

from __future__ import annotations

import torch
from timm.layers import Mlp
from torch import Tensor, nn

from octavius.models.query_cross_self_layer import QueryCrossSelfLayer

__all__ = ["FUSION_BLOCKS", "QueryCrossAttentionLayer", "QueryFusion"]

#: The fusion blocks :class:`QueryFusion` can stack.
FUSION_BLOCKS = ("cross", "cross_self")


class QueryCrossAttentionLayer(nn.Module):
    """One pre-norm transformer layer in which queries attend to keys/values (no self-attention).

    ``q ← q + MHCA(LN(q), LN(kv)); q ← q + FFN(LN(q))``.

    Args:
        dim: width of queries and keys/values.
        num_heads: attention heads (must divide ``dim``).
        mlp_ratio: FFN hidden width over ``dim``.
        dropout: dropout in attention and FFN.
    """

    def __init__(
        self, dim: int, num_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=dropout)

    def forward(self, queries: Tensor, kv: Tensor, padding: Tensor) -> Tensor:
        """Update the queries (legend: b batch, q queries, m keys, d width).

        Args:
            queries: ``(b, q, d)``.
            kv: ``(b, m, d)`` keys and values.
            padding: ``(b, m)`` bool, True on padded keys, which get zero attention weight.

        Returns:
            ``(b, q, d)``.
        """
        kv = self.norm_kv(kv)
        attended, _ = self.attn(
            self.norm_q(queries), kv, kv, key_padding_mask=padding, need_weights=False
        )
        queries = queries + attended
        return queries + self.mlp(self.norm_mlp(queries))


class QueryFusion(nn.Module):
    """``num_queries`` learnable queries ``e_q`` read a set of features through stacked layers.

    Octavius eq. 6: ``h_q = MHCA(q = e_q, kv = {h + f_PE(r)})``, with one of two blocks:

    - ``"cross_self"`` — the official release (``Resampler3D``): per layer, post-norm
      cross-attention then self-attention among the queries
      (:class:`~octavius.models.query_cross_self_layer.QueryCrossSelfLayer`), no FFN, queries
      initialised from ``N(0, 1)`` as ``nn.Embedding``; one layer in the release;
    - ``"cross"`` — pre-norm cross-attention and FFN, no self-attention
      (:class:`QueryCrossAttentionLayer`), queries from ``N(0, 0.02²)``, a final LayerNorm.

    Args:
        dim: width of queries and features.
        num_queries: number of learnable queries (output tokens).
        num_layers: stacked layers.
        num_heads: attention heads.
        mlp_ratio: FFN hidden width over ``dim`` (``"cross"`` only).
        dropout: dropout in attention and FFN.
        block: ``"cross"`` or ``"cross_self"``.
    """

    def __init__(
        self,
        dim: int,
        num_queries: int,
        num_layers: int = 2,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        block: str = "cross",
    ) -> None:
        super().__init__()
        if block not in FUSION_BLOCKS:
            raise ValueError(f"QueryFusion: block must be one of {FUSION_BLOCKS}, got {block!r}.")
        self.block = block
        self.queries = nn.Parameter(torch.empty(1, num_queries, dim))
        if block == "cross_self":
            nn.init.normal_(self.queries)
            self.layers = nn.ModuleList(
                QueryCrossSelfLayer(dim, num_heads, dropout) for _ in range(num_layers)
            )
            self.norm = nn.Identity()  # every block already ends with a LayerNorm
        else:
            nn.init.trunc_normal_(self.queries, std=0.02)
            self.layers = nn.ModuleList(
                QueryCrossAttentionLayer(dim, num_heads, mlp_ratio, dropout)
                for _ in range(num_layers)
            )
            self.norm = nn.LayerNorm(dim)

    def forward(self, kv: Tensor, padding: Tensor) -> Tensor:
        """``kv (b, m, d)`` with ``padding (b, m)`` (True = padded) → ``(b, q, d)``; every row needs one valid key."""
        queries = self.queries.expand(kv.shape[0], -1, -1)
        for layer in self.layers:
            queries = layer(queries, kv, padding)
        return self.norm(queries)
