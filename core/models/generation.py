"""Greedy decoding from input embeddings, with or without the key/value cache.

The prompt (text and spliced modality tokens) only exists as embeddings, and position ids must
count attended tokens so that a left-padded sample decodes exactly as it would alone; a short
explicit loop over the Hugging Face model keeps both under control. With ``use_cache=True`` the
prompt is run once (prefill) and each step feeds one token with the cache
(``transformers.DynamicCache``); with ``use_cache=False`` every step re-runs the whole sequence —
the reference the cached path is tested against.

The caller keeps one routing context alive around the whole call, so instance-level routing
decided at prefill is reused at every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from octavius.models.splicing import position_ids_from_mask

__all__ = ["GenerationConfig", "greedy_generate"]


@dataclass
class GenerationConfig:
    """Decoding settings.

    Attributes:
        max_new_tokens: most tokens generated per sample.
        use_cache: decode with the key/value cache.
        eos_token_id: ends a sample's answer (included in the output, then padding).
        pad_token_id: fills finished samples' slots.
        task_max_new_tokens: task type → a lower limit for its answers (e.g. a few tokens for
            classification under a limit sized for detection). A batch decodes up to its longest
            limit and each answer is cut at its own: greedy decoding of a left-padded batch
            equals decoding each sample alone.
        stop_strings: an answer ends at the first of these (its text is cut there), as the
            Octavius release cuts its answers at the ``###`` separator.
    """

    max_new_tokens: int = 64
    use_cache: bool = True
    eos_token_id: int | None = None
    pad_token_id: int = 0
    task_max_new_tokens: dict[str, int] | None = None
    stop_strings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be ≥ 1, got {self.max_new_tokens}.")
        limits = dict(self.task_max_new_tokens or {})
        bad = {k: v for k, v in limits.items() if not isinstance(v, int) or v < 1}
        if bad:
            raise ValueError(f"task_max_new_tokens values must be integers ≥ 1, got {bad}.")
        self.task_max_new_tokens = limits or None
        if isinstance(self.stop_strings, str):
            raise TypeError(
                f"stop_strings must be a list of strings, e.g. [{self.stop_strings!r}]."
            )
        self.stop_strings = tuple(str(s) for s in self.stop_strings if s)

    def limit_for(self, task: str) -> int:
        """The most new tokens of an answer of ``task`` (never above ``max_new_tokens``)."""
        return min(
            (self.task_max_new_tokens or {}).get(task, self.max_new_tokens), self.max_new_tokens
        )


@torch.no_grad()
def greedy_generate(
    llm: nn.Module,
    inputs_embeds: Tensor,
    attention_mask: Tensor,
    config: GenerationConfig,
) -> Tensor:
    """Greedy decoding of a left-padded batch of prompt embeddings.

    Shapes: ``b`` batch, ``n`` prompt tokens, ``d`` hidden, ``g`` generated tokens.

    Args:
        llm: a Hugging Face causal LM (transformers ≥ 5.23 arguments: ``inputs_embeds``,
            ``attention_mask``, ``position_ids``, ``cache``, ``logits_to_keep``).
        inputs_embeds: ``(b, n, d)`` prompts, left-padded (every prompt ends at column ``n-1``).
        attention_mask: ``(b, n)`` 1 on attended tokens.
        config: decoding settings.

    Returns:
        ``(b, g)`` generated ids, ``g ≤ max_new_tokens``; after a sample's EOS, pad ids.
    """
    if attention_mask.shape != inputs_embeds.shape[:2]:
        raise ValueError(
            f"attention_mask {tuple(attention_mask.shape)} does not match the embeddings "
            f"{tuple(inputs_embeds.shape[:2])}."
        )
    if not bool(attention_mask[:, -1].all()):
        raise ValueError(
            "greedy_generate needs left-padded prompts (the last column attended in every row)."
        )
    embed = llm.get_input_embeddings()
    b = inputs_embeds.shape[0]
    mask = attention_mask.long()
    finished = torch.zeros(b, dtype=torch.bool, device=inputs_embeds.device)
    generated: list[Tensor] = []
    cache = None
    if config.use_cache:
        from transformers import DynamicCache

        cache = DynamicCache()
    step_embeds = inputs_embeds
    all_embeds = inputs_embeds
    for _ in range(config.max_new_tokens):
        positions = position_ids_from_mask(mask)
        if config.use_cache:
            out = llm(
                inputs_embeds=step_embeds,
                attention_mask=mask,
                position_ids=positions[:, -step_embeds.shape[1] :],
                cache=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            cache = out.cache
        else:
            out = llm(
                inputs_embeds=all_embeds,
                attention_mask=mask,
                position_ids=positions,
                use_cache=False,
                logits_to_keep=1,
            )
        next_ids = out.logits[:, -1].argmax(dim=-1)  # (b,)
        next_ids = torch.where(finished, torch.full_like(next_ids, config.pad_token_id), next_ids)
        generated.append(next_ids)
        if config.eos_token_id is not None:
            finished |= next_ids == config.eos_token_id
        if bool(finished.all()):
            break
        step_embeds = embed(next_ids[:, None]).to(inputs_embeds.dtype)  # (b, 1, d)
        all_embeds = torch.cat([all_embeds, step_embeds], dim=1)
        mask = torch.cat([mask, mask.new_ones(b, 1)], dim=1)
    return torch.stack(generated, dim=1)
