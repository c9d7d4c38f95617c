"""The frozen-LLM text encoder handed to routers through the routing context.

Task-embedding routing (MixLoRA appendix A, eq. 10) embeds a task-definition text with a frozen
encoder ``f_φ``. By default :class:`~octavius.models.multimodal_llm.MultimodalLLM` provides one
made of its own LLM, in one of two ways:

- ``"llm_mean"``: the mean of the LLM's last hidden states (after the final norm) over the text
  tokens, computed with every adapter bypassed — each adapted linear runs its frozen base layer
  only — so the embedding is the pre-trained model's and never moves during training;
- ``"embedding_mean"``: the mean of the input word embeddings of the text tokens (cheaper, also
  frozen).

Results are cached per text: the encoder is frozen, and task definitions repeat in every batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["TEXT_ENCODING_MODES", "FrozenLLMTextEncoder", "adapters_bypassed"]

TEXT_ENCODING_MODES = ("llm_mean", "embedding_mean")


@contextlib.contextmanager
def adapters_bypassed(model: nn.Module) -> Iterator[None]:
    """Within the block, every adapted linear of ``model`` computes its frozen base layer only.

    Adapted linears are recognised by their ``base_layer`` and ``experts`` attributes; an
    instance-level ``forward`` override is installed and removed again, so nothing else of the
    model changes and no router runs.
    """
    patched = [m for m in model.modules() if hasattr(m, "base_layer") and hasattr(m, "experts")]
    for module in patched:
        module.forward = module.base_layer.forward
    try:
        yield
    finally:
        for module in patched:
            del module.forward


class FrozenLLMTextEncoder:
    """Maps texts to ``(b, d)`` embeddings with the frozen LLM (see the module docstring).

    Args:
        llm: the causal LM (adapters may be injected; they are bypassed).
        tokenizer: its tokenizer.
        mode: ``"llm_mean"`` or ``"embedding_mean"``.
        max_length: texts are cut to this many tokens.
    """

    def __init__(
        self, llm: nn.Module, tokenizer: Any, mode: str = "llm_mean", max_length: int = 128
    ) -> None:
        if mode not in TEXT_ENCODING_MODES:
            raise ValueError(
                f"text encoder mode must be one of {TEXT_ENCODING_MODES}, got {mode!r}."
            )
        self.llm = llm
        self.tokenizer = tokenizer
        self.mode = mode
        self.max_length = max_length
        self.cache: dict[str, Tensor] = {}

    @property
    def embed_dim(self) -> int:
        """Width ``d`` of the embeddings (the LLM hidden size)."""
        return self.llm.get_input_embeddings().embedding_dim

    @torch.no_grad()
    def _encode_one(self, text: str) -> Tensor:
        ids = self.tokenizer(
            text, add_special_tokens=False, truncation=True, max_length=self.max_length
        )["input_ids"]
        embedding = self.llm.get_input_embeddings()
        device = embedding.weight.device
        if not ids:
            return torch.zeros(self.embed_dim, device=device)
        input_ids = torch.tensor([ids], device=device)
        if self.mode == "embedding_mean":
            return embedding(input_ids)[0].float().mean(0)
        modes = {m: m.training for m in self.llm.modules()}
        self.llm.eval()
        try:
            with adapters_bypassed(self.llm):
                hidden = self.llm.base_model(input_ids=input_ids, use_cache=False).last_hidden_state
        finally:
            for module, mode in modes.items():
                module.training = mode
        return hidden[0].float().mean(0)

    def __call__(self, texts: list[str]) -> Tensor:
        """Embed ``b`` texts → ``(b, d)`` float32."""
        if isinstance(texts, str):
            raise TypeError("the text encoder takes a list of strings, got one string.")
        if len(self.cache) > 4096:  # free-form texts: keep memory bounded
            self.cache.clear()
        for text in texts:
            if text not in self.cache:
                self.cache[text] = self._encode_one(text)
        device = self.llm.get_input_embeddings().weight.device
        return torch.stack([self.cache[t] for t in texts]).to(device)
