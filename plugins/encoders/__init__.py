"""Built-in encoders: every module here registers one component when imported."""

from octavius._autoimport import import_submodules

__all__ = import_submodules(__name__, __path__)
