"""Transform: a sample's images and scene from a feature cache instead of their files."""

from __future__ import annotations

import os
from typing import Any

from octavius.data.errors import DataError
from octavius.data.load_point_cloud import LoadPointCloud
from octavius.features.cached_features import CachedFeatures
from octavius.features.feature_store import FeatureStore
from octavius.features.fingerprint import file_sha256
from octavius.features.item_keys import cached_point_format, image_key, point_cloud_key
from octavius.registry import TRANSFORMS

__all__ = ["LoadCachedFeatures"]

_REBUILD = "re-run python tools/data/cache_features.py CONFIG"


@TRANSFORMS.register_module()
class LoadCachedFeatures:
    """Put :class:`~octavius.features.cached_features.CachedFeatures` in ``results['images']``
    and ``results['point_clouds']`` (what ``LoadInstructionImages`` and ``LoadPointCloud`` would
    load), read from the cache by the items' file-content keys
    (:mod:`octavius.features.item_keys`).

    A file whose content is not in the cache — edited since the cache was built, or never cached
    — is an error naming the file and its key, as is a RoI file that changed. LAMM's
    precomputed object features (``point_format='lamm_features'``) are features already and are
    loaded as usual.

    Args:
        cache_dir: the cache directory.
        color_range: the point loader's colour scale (part of scene keys).
        allow_xyz: the point loader's xyz-only setting (part of scene keys).
    """

    def __init__(
        self, cache_dir: str | os.PathLike, color_range: str = "auto", allow_xyz: bool = False
    ) -> None:
        self.cache_dir = str(cache_dir)
        self.store = FeatureStore(cache_dir)
        self.loader_settings = {"color_range": color_range, "allow_xyz": allow_xyz}
        self.points = LoadPointCloud(color_range, allow_xyz)

    def _lookup(self, modality: str, key: str, source: str) -> CachedFeatures:
        entry = self.store.entry(modality, key)
        if entry is None:
            raise DataError(
                "stale_feature_cache",
                f"feature cache {self.cache_dir} has no {modality} entry for {source} (key {key}):"
                f" the file changed since the cache was built, or was never cached; {_REBUILD}.",
                source=source,
            )
        for path, digest in entry.get("depends", {}).items():
            if not os.path.isfile(path) or file_sha256(path) != digest:
                raise DataError(
                    "stale_feature_cache",
                    f"{path}, which the cached {modality} features of {source} (key {key}) were"
                    f" computed from, changed or is gone; {_REBUILD}.",
                    source=source,
                )
        return CachedFeatures(
            tensors=self.store.read(modality, key),
            fingerprint=str(self.store.fingerprint(modality)),
            key=key,
            source=source,
            cache_dir=self.cache_dir,
        )

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        images = []
        for path in results.get("image_paths", []):
            if not os.path.isfile(path):
                raise DataError("missing_image", f"image file not found: {path}")
            images.append(self._lookup("image", image_key(path), str(path)))
        results["images"] = images
        if not cached_point_format(results):
            return self.points(results)
        key = point_cloud_key(results, self.loader_settings)
        results["point_clouds"] = [self._lookup("point_cloud", key, str(results["point_path"]))]
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(cache_dir={self.cache_dir!r})"
