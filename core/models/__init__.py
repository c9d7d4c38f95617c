"""The multimodal model: encoders, projectors and the LLM with its adapters."""

from octavius.models import projectors, tiny_assets  # noqa: F401  (register PROJECTORS)
from octavius.models import multimodal_llm  # noqa: F401  (register MODELS)
