"""A mixture of instruction datasets with sampling frequencies λ (LLaVA-MoLE §3.2)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from octavius.data.errors import data_logger
from octavius.registry import DATASETS

__all__ = ["MixtureDataset"]


@DATASETS.register_module()
class MixtureDataset(Dataset):
    """``D_mix = Σ_m λ_m D_m``: dataset ``m`` appears ``λ_m`` times per epoch (LLaVA-MoLE §3.2).

    An epoch holds ``⌊λ_m⌋`` full copies of every dataset plus a random subset of
    ``round((λ_m − ⌊λ_m⌋)·|D_m|)`` distinct samples for the fractional part, so dataset ``m``
    contributes ``round(λ_m·|D_m|)`` samples. ``λ_m = 0`` drops the dataset (it is not even
    built); ``λ = [1, 2, 0]`` is LLaVA-MoLE's "[1,2,0]" mixture. The subsets are drawn from a
    generator seeded with ``seed``, so the mixture is the same on every run and every rank;
    shuffling is the sampler's job.

    Args:
        datasets: dataset configs (``DATASETS``) or built datasets.
        frequencies: ``λ_m`` per dataset (non-negative, not all zero); all ones when ``None``.
        names: a name per dataset (default: the dataset's ``name`` attribute or ``dataset<m>``),
            written to each sample's ``data_sample['dataset']``.
        seed: seed of the fractional subsets.
    """

    def __init__(
        self,
        datasets: Sequence[Mapping[str, Any] | Dataset],
        frequencies: Sequence[float] | None = None,
        names: Sequence[str] | None = None,
        seed: int = 0,
    ) -> None:
        if not datasets:
            raise ValueError("MixtureDataset: `datasets` is empty; give at least one dataset.")
        lambdas = [1.0] * len(datasets) if frequencies is None else [float(f) for f in frequencies]
        if len(lambdas) != len(datasets):
            raise ValueError(
                f"MixtureDataset: {len(datasets)} datasets but {len(lambdas)} frequencies; give one λ per dataset."
            )
        if any(not math.isfinite(f) or f < 0 for f in lambdas) or not any(lambdas):
            raise ValueError(
                f"MixtureDataset: frequencies must be finite, ≥ 0 and not all 0, got {lambdas}."
            )
        if names is not None and len(names) != len(datasets):
            raise ValueError(f"MixtureDataset: {len(datasets)} datasets but {len(names)} names.")
        self.frequencies = lambdas
        self.seed = seed
        self.datasets: list[Dataset | None] = []
        self.names: list[str] = []
        for m, (cfg, lam) in enumerate(zip(datasets, lambdas)):
            dataset = None
            if lam > 0:
                dataset = DATASETS.build(dict(cfg)) if isinstance(cfg, Mapping) else cfg
            self.datasets.append(dataset)
            default = getattr(dataset, "name", None) or (
                cfg.get("name") if isinstance(cfg, Mapping) else None
            )
            self.names.append(str(names[m]) if names is not None else str(default or f"dataset{m}"))
        self.index = self._build_index()
        counts = ", ".join(
            f"{n}: {c} (λ={lam:g})" for n, c, lam in zip(self.names, self.counts, lambdas)
        )
        data_logger().info(f"MixtureDataset of {len(self)} samples per epoch — {counts}")

    def _build_index(self) -> np.ndarray:
        parts = []
        for m, (dataset, lam) in enumerate(zip(self.datasets, self.frequencies)):
            if dataset is None:
                continue
            n = len(dataset)
            whole, frac = math.floor(lam), lam - math.floor(lam)
            rows = [np.tile(np.arange(n), whole)]
            extra = round(frac * n)
            if extra:
                rng = np.random.default_rng([self.seed, m])
                rows.append(np.sort(rng.choice(n, size=extra, replace=False)))
            sample_idx = np.concatenate(rows)
            parts.append(np.stack([np.full_like(sample_idx, m), sample_idx], axis=1))
        index = np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.int64)
        if not len(index):
            raise ValueError("MixtureDataset: the frequencies select no sample at all.")
        return index

    @property
    def counts(self) -> list[int]:
        """Samples per epoch drawn from each dataset, in dataset order."""
        return [int((self.index[:, 0] == m).sum()) for m in range(len(self.datasets))]

    @property
    def metainfo(self) -> dict[str, Any]:
        """The first dataset's meta information plus the mixture's names and frequencies."""
        first = next(d for d in self.datasets if d is not None)
        meta = dict(getattr(first, "metainfo", {}) or {})
        meta.update(mixture=dict(zip(self.names, self.frequencies)))
        return meta

    def __len__(self) -> int:
        return len(self.index)

    def source_of(self, idx: int) -> tuple[int, int]:
        """``(dataset index, sample index)`` of mixture item ``idx``."""
        m, i = self.index[idx]
        return int(m), int(i)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        m, i = self.source_of(idx)
        sample = self.datasets[m][i]
        if isinstance(sample, dict) and isinstance(sample.get("data_sample"), dict):
            sample["data_sample"]["dataset"] = self.names[m]
        return sample
