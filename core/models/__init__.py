"""The multimodal model: encoders, projectors and the LLM with its adapters."""
