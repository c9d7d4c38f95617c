"""Octavius: instruction-tuning multimodal LLMs with mixtures of LoRA experts.

Import paths follow the file layout: ``core/`` is ``octavius`` and ``plugins/`` is
``octavius.plugins``. Registries live in :mod:`octavius.registry`; built-in components register
themselves the first time a registry is searched.
"""

from __future__ import annotations

import warnings

# mmengine 0.10.7 imports torch.jit APIs that torch 2.14 deprecates; the warnings are not ours.
warnings.filterwarnings("ignore", message=r".*torch\.jit.*", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=r".*torch\.jit.*", category=FutureWarning)
warnings.filterwarnings("ignore", message=r".*pkg_resources is deprecated.*", category=UserWarning)

__version__ = "0.1.0"

__all__ = ["__version__", "load_model"]


def __getattr__(name: str):
    # ``octavius.load_model`` without importing torch and transformers at ``import octavius``.
    if name == "load_model":
        from octavius.loading import load_model

        return load_model
    raise AttributeError(f"module 'octavius' has no attribute {name!r}")
