"""Splicing modality tokens into the embedded text at their placeholders.

A sample ``<s> … USER: <image>\\nWhat … ASSISTANT: …`` holds one placeholder token per image (or
point cloud). The embedded sequence keeps every text token and puts, where a placeholder was, the
``t`` projected tokens of that modality item (Octavius eq. 4: ``z^img = f^proj(h^img)``). The
per-token masks follow: modality tokens carry no label, are not part of the question, and are
attended to where the encoder marks them valid. Samples of different expanded lengths are padded
again on the batch's padding side, and position ids count attended tokens only, so a sample gets
the same positions whatever its padding — the basis of batched generation matching one-by-one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from octavius.data.templates import IGNORE_INDEX

__all__ = ["SplicedBatch", "position_ids_from_mask", "splice_modality_tokens"]


@dataclass
class SplicedBatch:
    """The LLM's inputs after splicing (``b`` batch, ``n`` tokens, ``d`` hidden).

    Attributes:
        inputs_embeds: ``(b, n, d)``.
        attention_mask: ``(b, n)`` long, 1 on attended tokens.
        labels: ``(b, n)`` long, ``-100`` except on response tokens.
        question_mask: ``(b, n)`` bool, the user-turn text tokens.
        position_ids: ``(b, n)`` long, position among the attended tokens.
        modality_mask: ``(b, n)`` long, 0 on text, ``1 + i`` on tokens of modality ``i`` (in the
            order of ``modalities``), whatever their validity.
        modalities: modality names, indexing ``modality_mask``.
    """

    inputs_embeds: Tensor
    attention_mask: Tensor
    labels: Tensor
    question_mask: Tensor
    position_ids: Tensor
    modality_mask: Tensor
    modalities: tuple[str, ...]


def position_ids_from_mask(attention_mask: Tensor) -> Tensor:
    """``(b, n)`` positions counting attended tokens only (0 for leading padding)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def splice_modality_tokens(
    input_ids: Tensor,
    attention_mask: Tensor,
    labels: Tensor,
    question_mask: Tensor,
    embed: Callable[[Tensor], Tensor],
    placeholder_ids: Mapping[str, int],
    features: Mapping[str, tuple[Tensor, Tensor]],
    padding_side: str,
    sample_names: Sequence[str] | None = None,
) -> SplicedBatch:
    """Embed the text and replace each placeholder by its modality item's tokens.

    Items of a modality are consumed in reading order: sample 0's placeholders left to right,
    then sample 1's, and so on — the order in which the model flattened them for the encoder.

    Args:
        input_ids: ``(b, n)`` padded token ids.
        attention_mask: ``(b, n)`` 1 on real tokens.
        labels: ``(b, n)``.
        question_mask: ``(b, n)``.
        embed: the LLM's input embedding layer.
        placeholder_ids: modality → placeholder token id.
        features: modality → ``(tokens (m, t, d), valid (m, t) bool)`` for its ``m`` items.
        padding_side: ``"left"`` or ``"right"``: where the output is padded.
        sample_names: names for error messages (sample ids).

    Raises:
        ValueError: when a sample's placeholders and the items do not match.
    """
    b = input_ids.shape[0]
    names = list(sample_names) if sample_names is not None else [f"#{i}" for i in range(b)]
    modalities = tuple(placeholder_ids)
    is_placeholder = torch.zeros_like(input_ids, dtype=torch.bool)
    for pid in placeholder_ids.values():
        is_placeholder |= input_ids == pid
    # Placeholder ids may lie outside the embedding matrix (tokens added to a stock tokenizer).
    text_embeds = embed(input_ids.masked_fill(is_placeholder, 0))  # (b, n, d)
    cursor = dict.fromkeys(modalities, 0)
    rows: list[tuple[Tensor, Tensor, Tensor, Tensor, Tensor]] = []
    for i in range(b):
        valid = attention_mask[i].bool()
        ids, emb = input_ids[i][valid], text_embeds[i][valid]
        lab, qm = labels[i][valid], question_mask[i][valid].bool()
        spots = is_placeholder[i][valid].nonzero().flatten().tolist()
        pieces: list[tuple[Tensor, Tensor, Tensor, Tensor, Tensor]] = []
        start = 0
        for pos in spots:
            modality = modalities[[placeholder_ids[m] for m in modalities].index(int(ids[pos]))]
            if modality not in features or cursor[modality] >= features[modality][0].shape[0]:
                raise ValueError(
                    f"sample {names[i]}: a {modality} placeholder has no {modality} item (the batch "
                    "carries fewer items than placeholders)."
                )
            tokens, ok = features[modality]
            k = cursor[modality]
            cursor[modality] += 1
            pieces.append(_text_piece(emb, lab, qm, start, pos))
            t = tokens.shape[1]
            kind = modalities.index(modality) + 1
            pieces.append(
                (
                    tokens[k].to(emb.dtype),
                    ok[k].long(),
                    torch.full((t,), IGNORE_INDEX, dtype=lab.dtype, device=lab.device),
                    torch.zeros(t, dtype=torch.bool, device=lab.device),
                    torch.full((t,), kind, dtype=torch.long, device=lab.device),
                )
            )
            start = pos + 1
        pieces.append(_text_piece(emb, lab, qm, start, len(ids)))
        rows.append(tuple(torch.cat([p[j] for p in pieces]) for j in range(5)))  # type: ignore[misc]
    for modality in modalities:
        if modality in features and cursor[modality] != features[modality][0].shape[0]:
            raise ValueError(
                f"the batch carries {features[modality][0].shape[0]} {modality} items but only "
                f"{cursor[modality]} {modality} placeholders."
            )
    return _pad_rows(rows, padding_side, modalities)


def _text_piece(emb: Tensor, lab: Tensor, qm: Tensor, start: int, end: int) -> tuple[Tensor, ...]:
    n = end - start
    ones = torch.ones(n, dtype=torch.long, device=lab.device)
    return emb[start:end], ones, lab[start:end], qm[start:end], torch.zeros_like(ones)


def _pad_rows(
    rows: list[tuple[Tensor, ...]], side: str, modalities: tuple[str, ...]
) -> SplicedBatch:
    length = max(r[0].shape[0] for r in rows)
    d = rows[0][0].shape[1]
    ref = rows[0][0]
    b = len(rows)
    embeds = ref.new_zeros(b, length, d)
    attn = torch.zeros(b, length, dtype=torch.long, device=ref.device)
    labels = torch.full((b, length), IGNORE_INDEX, dtype=torch.long, device=ref.device)
    qmask = torch.zeros(b, length, dtype=torch.bool, device=ref.device)
    mmask = torch.zeros(b, length, dtype=torch.long, device=ref.device)
    for i, (e, a, lab, q, m) in enumerate(rows):
        span = slice(0, len(e)) if side == "right" else slice(length - len(e), length)
        embeds[i, span], attn[i, span], labels[i, span], qmask[i, span], mmask[i, span] = (
            e,
            a,
            lab,
            q,
            m,
        )
    return SplicedBatch(
        embeds, attn, labels, qmask, position_ids_from_mask(attn), mmask, modalities
    )
