"""A deterministic, offline text encoder: signed feature hashing of words and word pairs."""

from __future__ import annotations

import torch
from torch import nn

from octavius.registry import TEXT_ENCODERS


@TEXT_ENCODERS.register_module()
class HashingTextEncoder(nn.Module):
    """Embeds texts by hashing their word n-grams into ``embed_dim`` signed buckets.

    A frozen text encoder ``f_φ`` for task-embedding routing (MixLoRA appendix A, eq. 10) that
    needs no weights, no download and no training: scikit-learn's ``HashingVectorizer``
    (MurmurHash3 of each n-gram, a second hash choosing the sign, L2-normalised counts). Task
    definitions that share words get nearby embeddings, identical texts identical ones, on every
    machine and run. It has no parameters, so it never trains and adds nothing to checkpoints.

    Args:
        embed_dim: number of hash buckets, the embedding size.
        ngram_range: smallest and largest n-gram length in words, e.g. ``(1, 2)``.
        lowercase: fold case before hashing.
    """

    def __init__(
        self,
        embed_dim: int = 256,
        ngram_range: tuple[int, int] | list[int] = (1, 2),
        lowercase: bool = True,
    ) -> None:
        super().__init__()
        if not (isinstance(embed_dim, int) and embed_dim > 0):
            raise ValueError(
                f"HashingTextEncoder: embed_dim must be a positive int, got {embed_dim!r}."
            )
        low, high = tuple(ngram_range)
        if not 1 <= low <= high:
            raise ValueError(
                f"HashingTextEncoder: ngram_range must be (min, max) with 1 ≤ min ≤ max, got "
                f"{ngram_range!r}."
            )
        # Imported here: scikit-learn takes a while to import and only this encoder needs it.
        from sklearn.feature_extraction.text import HashingVectorizer

        self.embed_dim = embed_dim
        self.ngram_range = (low, high)
        self._vectorizer = HashingVectorizer(
            n_features=embed_dim,
            ngram_range=self.ngram_range,
            lowercase=lowercase,
            alternate_sign=True,
            norm="l2",
        )

    def forward(self, texts: list[str]) -> torch.Tensor:
        """Embed ``texts``.

        Args:
            texts: ``b`` strings.

        Returns:
            ``(b, embed_dim)`` float32 embeddings of unit L2 norm (zero for a text without words).
        """
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("HashingTextEncoder takes a list of strings.")
        features = self._vectorizer.transform(list(texts)).toarray()
        return torch.from_numpy(features).to(torch.float32)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, ngram_range={self.ngram_range}"
