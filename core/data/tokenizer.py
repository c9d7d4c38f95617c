"""Loading the tokenizer shared by the data pipeline and the model.

The dataset and :class:`~octavius.models.multimodal_llm.MultimodalLLM` must agree on every token
id, in particular the modality placeholders. Both load the tokenizer with :func:`load_tokenizer`,
which adds the placeholders (``<image>``, ``<point_cloud>``) as special tokens when a checkpoint
lacks them and gives it a padding token. The LLM's embedding matrix is *not* resized for them: the
model replaces every placeholder by modality tokens before the embedding lookup, so their ids never
reach the embedding layer and the LM head never predicts them.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

__all__ = ["PLACEHOLDERS", "load_tokenizer", "placeholder_ids"]

#: The placeholder token of each modality.
PLACEHOLDERS: dict[str, str] = {"image": "<image>", "point_cloud": "<point_cloud>"}


def _load(pretrained: str, kwargs: tuple[tuple[str, Any], ...]) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(pretrained, **dict(kwargs))
    missing = [tok for tok in PLACEHOLDERS.values() if tok not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens(
            {"additional_special_tokens": missing}, replace_extra_special_tokens=False
        )
    if tokenizer.pad_token is None:
        # LLaMA checkpoints ship without a pad token; unk (or eos) never carries a label here.
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    if tokenizer.eos_token is None:
        raise ValueError(
            f"The tokenizer at {pretrained!r} has no eos_token; responses end with it, so set one "
            "in its tokenizer_config.json."
        )
    return tokenizer


_cached = lru_cache(maxsize=8)(_load)


def load_tokenizer(pretrained: str | os.PathLike, **kwargs: Any) -> Any:
    """Load a tokenizer with ``AutoTokenizer.from_pretrained`` and make it ready for Octavius.

    Args:
        pretrained: a directory or a hub name.
        **kwargs: passed to ``from_pretrained`` (e.g. ``use_fast``, ``revision``).

    Returns:
        The tokenizer, with the modality placeholders as special tokens and a pad token. Loaded
        once per process and argument set (datasets and the model share the same object).
    """
    return _cached(str(pretrained), tuple(sorted(kwargs.items())))


def placeholder_ids(tokenizer: Any) -> dict[str, int]:
    """The token id of each modality's placeholder."""
    return {m: tokenizer.convert_tokens_to_ids(tok) for m, tok in PLACEHOLDERS.items()}
