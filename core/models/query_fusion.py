"""Learnable-query cross-attention fusion: Object-As-Scene's aggregation of RoI features (Octavius eq. 6)."""

from __future__ import annotations

import torch
from timm.layers import Mlp
from torch import Tensor, nn

__all__ = ["QueryCrossAttentionLayer", "QueryFusion"]


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

    Octavius eq. 6: ``h_q = MHCA(q = e_q, kv = {h + f_PE(r)})``, here as ``num_layers`` stacked
    :class:`QueryCrossAttentionLayer` (two in the paper) and a final LayerNorm.

    Args:
        dim: width of queries and features.
        num_queries: number of learnable queries (output tokens).
        num_layers: stacked cross-attention layers.
        num_heads: attention heads.
        mlp_ratio: FFN hidden width over ``dim``.
        dropout: dropout in attention and FFN.
    """

    def __init__(
        self,
        dim: int,
        num_queries: int,
        num_layers: int = 2,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.empty(1, num_queries, dim))
        nn.init.trunc_normal_(self.queries, std=0.02)
        self.layers = nn.ModuleList(
            QueryCrossAttentionLayer(dim, num_heads, mlp_ratio, dropout) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, kv: Tensor, padding: Tensor) -> Tensor:
        """``kv (b, m, d)`` with ``padding (b, m)`` (True = padded) → ``(b, q, d)``; every row needs one valid key."""
        queries = self.queries.expand(kv.shape[0], -1, -1)
        for layer in self.layers:
            queries = layer(queries, kv, padding)
        return self.norm(queries)
