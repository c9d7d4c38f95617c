"""An example Octavius plugin distribution."""

from octavius_plugin_example.cosine_router import CosineRouter

__all__ = ["CosineRouter"]
