"""The multimodal model: encoders, projectors and the LLM with its adapters.

Importing this package registers ``MultimodalLLM`` (MODELS) and the projectors (PROJECTORS).
"""

from octavius.models import multimodal_llm, projectors

__all__ = ["multimodal_llm", "projectors"]
