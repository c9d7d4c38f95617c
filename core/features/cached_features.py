"""What a data pipeline reading a feature cache hands the model instead of an image or a scene."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

__all__ = ["CachedFeatures"]


@dataclass
class CachedFeatures:
    """The frozen part's output for one modality item, read from a feature cache.

    :class:`~octavius.models.multimodal_llm.MultimodalLLM` passes these to the encoder's
    ``from_frozen_features`` (the trainable rest) instead of calling the whole encoder, after
    checking that ``fingerprint`` is its own encoder's: a cache written for other weights or
    settings is refused.

    Attributes:
        tensors: what the encoder's ``frozen_features`` returned for the item.
        fingerprint: the encoder fingerprint the cache was written with
            (:func:`~octavius.features.fingerprint.encoder_fingerprint`).
        key: the item's cache key (from its files' content).
        source: the item's file, for error messages.
        cache_dir: the cache directory, for error messages.
    """

    tensors: dict[str, Tensor]
    fingerprint: str
    key: str
    source: str = ""
    cache_dir: str = field(default="", repr=False)
