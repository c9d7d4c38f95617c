"""t-SNE of expert / factor selection, coloured by task (MixLoRA Fig. 5).

Each sample is described by its routing in the chosen layers — the per-sample distributions of
:func:`~octavius.analysis.routing_capture.capture_routing` (for MixLoRA, the weights of the
``r`` factors chosen for LoRA A out of ``E``) concatenated over layers — and embedded in 2-D with
scikit-learn's :class:`~sklearn.manifold.TSNE`. Samples of one task clustering together means the
router gives tasks their own factor sets.
"""

from __future__ import annotations

import numpy as np
import torch

from octavius.analysis.routing_capture import SampleRouting

__all__ = ["selection_features", "tsne_embedding"]


def selection_features(routing: SampleRouting, layers: str | None = None) -> np.ndarray:
    """``(N, Σ_layers e)``: each sample's routing in the selected layers, side by side.

    Args:
        routing: the captured per-sample routing.
        layers: optional regular expression (``re.search``) on layer names (MixLoRA Fig. 5 uses
            the MLP layers, e.g. ``r"mlp"``).
    """
    names = routing.select(layers)
    if not names:
        raise ValueError(f"selection_features: no recorded layer matches {layers!r}.")
    return torch.cat([routing.shares[n] for n in names], dim=1).numpy()


def tsne_embedding(
    features: np.ndarray, perplexity: float = 30.0, seed: int = 0, max_iter: int = 1000
) -> np.ndarray:
    """2-D t-SNE of ``features`` (scikit-learn), deterministic for a given ``seed``.

    Args:
        features: ``(N, f)`` with ``N ≥ 2``.
        perplexity: t-SNE perplexity; lowered to ``(N − 1) / 3`` for small ``N`` since
            scikit-learn requires it below ``N``.
        seed: ``random_state`` of the embedding.
        max_iter: optimisation steps (scikit-learn's minimum is 250).

    Returns:
        ``(N, 2)`` float array.
    """
    from sklearn.manifold import TSNE

    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(
            f"tsne_embedding needs (N, f) features with N >= 2, got shape {features.shape}."
        )
    n = features.shape[0]
    perplexity = float(min(perplexity, max((n - 1) / 3.0, 1.0)))
    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        init="pca" if features.shape[1] >= 2 else "random",
        random_state=seed,
        max_iter=max(int(max_iter), 250),
    )
    return tsne.fit_transform(features)
