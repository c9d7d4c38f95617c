"""Every figure is a non-empty PNG of the announced size; t-SNE returns the right shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from octavius.analysis import (
    RoutingMap,
    SampleRouting,
    plot_interference,
    plot_routing_maps,
    plot_tsne,
    selection_features,
    tsne_embedding,
)


def _png(path, size):
    assert path.stat().st_size > 1000
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == size
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 5  # something was drawn, not a blank canvas


def _map(layer: str, experts: int = 4) -> RoutingMap:
    mean = torch.tensor([[0.7, 0.3, 0.0, 0.0], [0.0, 0.1, 0.4, 0.5]], dtype=torch.float64)[
        :, :experts
    ]
    return RoutingMap(layer, "instance", ["vqa", "detection"], mean, mean / 4, [5, 5])


def test_plot_routing_maps(tmp_path):
    out = plot_routing_maps(
        [_map("a"), _map("b"), _map("c")],
        tmp_path / "maps.png",
        columns=2,
        panel_size=(3.0, 2.5),
        dpi=80,
    )
    _png(out, (2 * 3.0 * 80, int((2 * 2.5 + 0.5) * 80)))
    with pytest.raises(ValueError, match="at least one routing map"):
        plot_routing_maps([], tmp_path / "none.png")


def test_plot_interference(tmp_path):
    matrix = torch.tensor([[1.0, -0.4, 0.2], [0.3, 1.0, float("nan")], [-2.0, 0.1, 1.0]])
    out = plot_interference(
        {"LoRA A": matrix, "LoRA B": matrix.T},
        ["a", "b", "c"],
        tmp_path / "sub" / "interference.png",
        panel_size=(4.0, 3.6),
        dpi=50,
    )
    _png(out, (2 * 4.0 * 50, int((3.6 + 0.4) * 50)))
    with pytest.raises(ValueError, match="expected 2×2"):
        plot_interference({"A": matrix}, ["a", "b"], tmp_path / "bad.png")


def test_tsne_shapes_and_plot(tmp_path):
    rng = np.random.default_rng(0)
    routing = SampleRouting(
        tasks=["a"] * 6 + ["b"] * 6,
        shares={
            "layers.0.mlp": torch.tensor(rng.random((12, 4))),
            "layers.0.attn": torch.tensor(rng.random((12, 3))),
            "layers.1.mlp": torch.tensor(rng.random((12, 4))),
        },
        levels=dict.fromkeys(("layers.0.mlp", "layers.0.attn", "layers.1.mlp"), "instance"),
    )
    features = selection_features(routing, layers="mlp")
    assert features.shape == (12, 8)
    np.testing.assert_array_equal(features[:, 4:], routing.shares["layers.1.mlp"].numpy())
    embedding = tsne_embedding(features, perplexity=30, seed=0, max_iter=250)
    assert embedding.shape == (12, 2) and np.isfinite(embedding).all()
    np.testing.assert_allclose(embedding, tsne_embedding(features, seed=0, max_iter=250))
    out = plot_tsne(embedding, routing.tasks, tmp_path / "tsne.png", figsize=(4.0, 3.0), dpi=60)
    _png(out, (240, 180))
    with pytest.raises(ValueError, match="N >= 2"):
        tsne_embedding(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="no recorded layer matches"):
        selection_features(routing, layers="ffn")
