"""The fusion block of the official Object-As-Scene release: cross-attention, then self-attention.

OpenGVLab/LAMM ``src/model/Octavius/resampler3d.py`` (``Resampler3D``) stacks, per layer, a
cross-attention of the queries to the RoI features and a self-attention among the queries, each a
post-norm residual block ``x ← LN(x + Dropout(MHA(x, kv, kv)))`` with dropout 0.1 on the attention
output, Xavier-uniform projection weights and zero biases, and no feed-forward network. The
release configures one such layer (``num_layers_rsp_3d: 1``): the paper's "two stacked
transformer layers" (Octavius §3.2.2, step 3) are its cross- and self-attention.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["PostNormAttention", "QueryCrossSelfLayer"]


class PostNormAttention(nn.Module):
    """``x ← LN(x + Dropout(MHA(q = x, k = v = kv)))``, initialised as the official release.

    Args:
        dim: width of queries and keys/values.
        num_heads: attention heads (must divide ``dim``).
        dropout: dropout on the attention output (0.1 in the release).
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)
        # The release has separate q/k/v/o linears, each Xavier-uniform with zero bias; the packed
        # in-projection is initialised chunk by chunk so each gets its own (d, d) fan.
        for chunk in self.attn.in_proj_weight.data.chunk(3, dim=0):
            nn.init.xavier_uniform_(chunk)
        nn.init.zeros_(self.attn.in_proj_bias)
        nn.init.xavier_uniform_(self.attn.out_proj.weight)
        nn.init.zeros_(self.attn.out_proj.bias)

    def forward(self, x: Tensor, kv: Tensor, padding: Tensor | None = None) -> Tensor:
        """``x (b, q, d)`` attends to ``kv (b, m, d)``; ``padding (b, m)`` True on padded keys."""
        attended, _ = self.attn(x, kv, kv, key_padding_mask=padding, need_weights=False)
        return self.norm(x + self.dropout(attended))


class QueryCrossSelfLayer(nn.Module):
    """Queries read the RoI features (cross-attention), then exchange among themselves.

    ``q ← LN(q + MHCA(q, kv)); q ← LN(q + MHSA(q))`` — one layer of the official ``Resampler3D``.

    Args:
        dim: width of queries and keys/values.
        num_heads: attention heads (must divide ``dim``).
        dropout: dropout on each attention output.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.cross_attn = PostNormAttention(dim, num_heads, dropout)
        self.self_attn = PostNormAttention(dim, num_heads, dropout)

    def forward(self, queries: Tensor, kv: Tensor, padding: Tensor) -> Tensor:
        """Update the queries (legend: b batch, q queries, m keys, d width).

        Args:
            queries: ``(b, q, d)``.
            kv: ``(b, m, d)`` keys and values.
            padding: ``(b, m)`` bool, True on padded keys, which get zero attention weight.

        Returns:
            ``(b, q, d)``.
        """
        queries = self.cross_attn(queries, kv, padding)
        return self.self_attn(queries, queries)
