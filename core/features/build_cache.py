"""Build a feature cache for a config, and point a config's training data at one.

``python tools/data/cache_features.py CONFIG`` calls :func:`build_feature_cache`: every image and
every scene of the training datasets goes once through the frozen part of its encoder (the whole
CLIP tower; Object-As-Scene's RoI selection, point sampling and Point-BERT — its query fusion
trains and keeps running live), and the results are stored by file-content key
(:mod:`octavius.features.item_keys`) under the encoder's fingerprint
(:mod:`octavius.features.fingerprint`). Training with ``feature_cache=DIR`` (a top-level config
key, applied by :func:`apply_feature_cache`) then reads them instead of running those parts.

The encoders run in eval mode, so Object-As-Scene samples each RoI's points with its seeded
sampling: a cached run sees one fixed sample per RoI, where live training draws new points every
step unless the encoder sets ``train_resampling=False`` (then live and cached runs are the same).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import torch

from octavius.features.feature_store import FeatureStoreWriter
from octavius.features.fingerprint import encoder_fingerprint, encoder_identity, file_sha256
from octavius.features.item_keys import cached_point_format, image_key, point_cloud_key

__all__ = ["apply_feature_cache", "build_feature_cache", "instruction_dataset_configs"]

_MODALITY_OF = {"image": "images", "point_cloud": "point_clouds"}


def instruction_dataset_configs(node: Any) -> Iterator[dict[str, Any]]:
    """Every ``InstructionDataset`` config dict inside a dataloader / dataset config."""
    if isinstance(node, Mapping):
        if node.get("type") in ("InstructionDataset", "octavius.InstructionDataset"):
            yield node  # type: ignore[misc]
        for value in node.values():
            yield from instruction_dataset_configs(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from instruction_dataset_configs(value)


def apply_feature_cache(cfg: Any) -> int:
    """Set the top-level ``feature_cache`` directory on every training ``InstructionDataset``.

    Returns:
        How many dataset configs now read the cache (0 without ``feature_cache``).
    """
    directory = cfg.get("feature_cache")
    if not directory:
        return 0
    datasets = list(instruction_dataset_configs(cfg.get("train_dataloader")))
    for dataset in datasets:
        dataset["feature_cache"] = str(directory)
    return len(datasets)


def _cacheable_encoders(model_cfg: Mapping[str, Any]) -> dict[str, Any]:
    from octavius.models.base_encoder import build_encoder

    encoders = {}
    for modality, enc_cfg in dict(model_cfg.get("encoders") or {}).items():
        encoder = build_encoder(dict(enc_cfg)).eval()
        encoder.frozen_module()  # raises, naming what to change, when nothing is frozen
        if getattr(encoder, "train_resampling", False):
            warnings.warn(
                f"model.encoders.{modality}: training from the cache uses one seeded point sample"
                " per RoI, where live training resamples every step; set"
                " train_resampling=False for live runs that match cached ones.",
                stacklevel=2,
            )
        encoders[modality] = encoder
    return encoders


def _first(transform: Callable[[dict], dict], results: dict, field: str) -> Any:
    """The first item a loading transform puts in ``results[field]``."""
    return transform(dict(results))[field][0]


def _work_items(cfg: Any) -> list[tuple[str, str, Callable[[], Any], str, dict[str, Any]]]:
    """``(modality, key, load, source, probe)`` for every item of the training datasets, unique
    keys; ``probe`` is what ``frozen_dependencies`` reads of the item."""
    from octavius.data.load_images import LoadInstructionImages
    from octavius.data.load_point_cloud import LoadPointCloud
    from octavius.registry import DATASETS

    items: dict[tuple[str, str], tuple[str, str, Callable[[], Any], str, dict[str, Any]]] = {}
    images = LoadInstructionImages()
    for ds_cfg in instruction_dataset_configs(cfg.get("train_dataloader")):
        ds_cfg = {**dict(ds_cfg), "feature_cache": None}
        loader = {
            "color_range": ds_cfg.get("color_range", "auto"),
            "allow_xyz": ds_cfg.get("allow_xyz", False),
        }
        points = LoadPointCloud(**loader)
        dataset = DATASETS.build(ds_cfg)
        for i in range(len(dataset)):
            record = dataset.get_data_info(i)
            for path in record.get("image_paths", []):
                key = image_key(path)

                load = partial(_first, images, {"image_paths": [path]}, "images")
                items.setdefault(("image", key), ("image", key, load, str(path), {}))
            if cached_point_format(record):
                key = point_cloud_key(record, loader)

                load = partial(_first, points, dict(record), "point_clouds")
                source = str(record["point_path"])
                probe = {
                    "scene_id": record.get("scene_id") or "",
                    "use_instance_boxes": record.get("object_id") is not None,
                }
                items.setdefault(("point_cloud", key), ("point_cloud", key, load, source, probe))
    return list(items.values())


def build_feature_cache(
    cfg: Any,
    out_dir: str | os.PathLike,
    batch_size: int = 16,
    shard_size: int = 256,
    progress: bool = True,
) -> dict[str, Any]:
    """Encode every image and scene of ``cfg``'s training data once into ``out_dir``.

    Entries already in ``out_dir`` under the same encoder fingerprint are kept (only new or
    changed files are encoded); a modality whose encoder changed is rebuilt; entries no dataset
    uses any more are dropped.

    Returns:
        ``dict(dir=..., encoded={modality: n}, reused={modality: n}, rebuilt=[modalities])``.
    """
    from octavius.engine.prepare import prepare_assets

    prepare_assets(cfg)
    encoders = _cacheable_encoders(cfg.model)
    identities = {m: (encoder_fingerprint(e), encoder_identity(e)) for m, e in encoders.items()}
    writer = FeatureStoreWriter(out_dir, identities, shard_size=shard_size)
    keep: dict[str, list[str]] = {m: [] for m in encoders}
    todo = []
    for modality, key, load, source, probe in _work_items(cfg):
        if modality not in encoders:
            continue
        keep[modality].append(key)
        paths = encoders[modality].frozen_dependencies(probe)
        depends = {p: file_sha256(p) for p in paths if os.path.isfile(p)}
        if not writer.has(modality, key, depends):
            todo.append((modality, key, load, source, depends))
    encoded = {m: 0 for m in encoders}
    bar = _progress(progress, len(todo))
    with bar as live, torch.no_grad():
        task = live.add_task("caching features", total=len(todo)) if live else None
        for modality, encoder in encoders.items():
            mine = [w for w in todo if w[0] == modality]
            for start in range(0, len(mine), batch_size):
                chunk = mine[start : start + batch_size]
                loaded = [load() for _, _, load, _, _ in chunk]
                for (_, key, _, source, depends), tensors in zip(
                    chunk, encoder.frozen_features(loaded)
                ):
                    writer.add(modality, key, tensors, source=source, depends=depends)
                encoded[modality] += len(chunk)
                if live:
                    live.update(task, advance=len(chunk))
    writer.close(keep=keep)
    return {
        "dir": str(Path(out_dir)),
        "encoded": encoded,
        "reused": {m: len(set(keep[m])) - encoded[m] for m in encoders},
        "rebuilt": list(writer.dropped),
    }


def _progress(enabled: bool, total: int) -> Any:
    if not enabled or total == 0:
        return nullcontext(None)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        "ETA",
        TimeRemainingColumn(),
    )
