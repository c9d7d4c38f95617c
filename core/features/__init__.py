"""Frozen-feature cache: encode every image and scene once with the frozen encoders.

``tools/data/cache_features.py CONFIG`` writes the cache (:func:`build_feature_cache`); training
with the top-level config key ``feature_cache=DIR`` reads it through :class:`LoadCachedFeatures`
and runs only the trainable rest of each encoder (``BaseEncoder.from_frozen_features``). See
docs/training.md, "Feature cache".
"""

from octavius.features.build_cache import (
    apply_feature_cache,
    build_feature_cache,
    instruction_dataset_configs,
)
from octavius.features.cached_features import CachedFeatures
from octavius.features.feature_store import FeatureCacheError, FeatureStore, FeatureStoreWriter
from octavius.features.fingerprint import encoder_fingerprint, encoder_identity, file_sha256
from octavius.features.load_cached_features import LoadCachedFeatures

__all__ = [
    "CachedFeatures",
    "FeatureCacheError",
    "FeatureStore",
    "FeatureStoreWriter",
    "LoadCachedFeatures",
    "apply_feature_cache",
    "build_feature_cache",
    "encoder_fingerprint",
    "encoder_identity",
    "file_sha256",
    "instruction_dataset_configs",
]
