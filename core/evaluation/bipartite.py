"""Maximum bipartite matching of predictions to references (LAMM's detection matching).

LAMM's ``LAMM_Detection.hungarian_match`` (``src/ChEF/metric/detection.py``) is Kuhn's
augmenting-path algorithm on the graph "prediction *i* may match reference *j*" (IoU ≥ threshold,
and the same class when the class counts): it finds a matching with the largest number of pairs,
whatever their IoU. Greedy matching by decreasing IoU can find fewer: with references A, B and
predictions p, q where p overlaps A and B and q overlaps only A, greedy may give A to p and leave q
and B unmatched; the maximum matching pairs p–B and q–A.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["max_bipartite_matching"]


def max_bipartite_matching(allowed: Sequence[Sequence[bool]]) -> list[tuple[int, int]]:
    """A maximum-cardinality matching of rows (predictions) to columns (references).

    Args:
        allowed: ``allowed[i][j]`` is whether prediction ``i`` may match reference ``j``; all
            rows have the same length.

    Returns:
        ``(prediction index, reference index)`` pairs, sorted by prediction index.
    """
    n_cols = len(allowed[0]) if len(allowed) else 0
    owner: list[int | None] = [None] * n_cols  # reference j -> prediction matched to it

    def augment(i: int, seen: list[bool]) -> bool:
        for j in range(n_cols):
            if allowed[i][j] and not seen[j]:
                seen[j] = True
                if owner[j] is None or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    for i in range(len(allowed)):
        augment(i, [False] * n_cols)
    return sorted((i, j) for j, i in enumerate(owner) if i is not None)
