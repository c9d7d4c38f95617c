"""Class names compared as LAMM compares them: synonyms, plurals, spaced and joined spellings.

LAMM's detection and classification metrics (``src/ChEF/metric/utils.py``: ``voc_syndict`` and
``classification_acc``; ``classification.py``: ``LAMM_Classification``) map a predicted word through
a synonym table (``man`` → ``person``, ``table`` → ``diningtable``), lemmatise it with WordNet and
accept it when it is one of the reference's WordNet lemma names. WordNet is not available offline,
so :class:`ClassSynonyms` replaces it with explicit tables (LAMM's ``voc_syndict`` with VOC's
spellings for detection; the CIFAR-10 classes' first-synset lemma names for classification) that a
config can extend, and with
plural rules instead of the lemmatiser. Names are compared in a canonical form: lower case, words
singularised, spaces removed — so ``"dining table"``, ``"diningtable"`` and ``"Dining tables"`` are
one class (WordNet knows none of VOC's joined names, so LAMM never matches them with the class).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import pairwise

__all__ = [
    "LAMM_CLASSIFICATION_SYNONYMS",
    "LAMM_DETECTION_SYNONYMS",
    "ClassSynonyms",
    "canonical_name",
    "singular",
    "spans",
]

#: Detection (VOC): LAMM's ``voc_syndict`` (metric/utils.py) and VOC's joined names spelt out.
LAMM_DETECTION_SYNONYMS: dict[str, str] = {
    # voc_syndict, verbatim
    "man": "person", "men": "person", "woman": "person", "women": "person", "baby": "person",
    "people": "person", "child": "person", "children": "person", "girl": "person",
    "boy": "person", "guy": "person", "ship": "boat", "sailboat": "boat", "yacht": "boat",
    "puppy": "dog", "table": "diningtable", "calf": "cow", "hummingbird": "bird",
    "bike": "bicycle", "kayaker": "person", "motorcycle": "motorbike", "pony": "horse",
    # VOC's joined names and their usual spellings
    "dining table": "diningtable", "potted plant": "pottedplant", "plant": "pottedplant",
    "tv monitor": "tvmonitor", "tv": "tvmonitor", "television": "tvmonitor",
    "monitor": "tvmonitor", "airplane": "aeroplane", "plane": "aeroplane", "couch": "sofa",
}  # fmt: skip
#: Classification (CIFAR-10): the one-word lemma names of each class's first WordNet synset, which
#: ``LAMM_Classification`` accepts besides the label (``syn_set[0].lemma_names()``).
LAMM_CLASSIFICATION_SYNONYMS: dict[str, str] = {
    "aeroplane": "airplane", "plane": "airplane", "car": "automobile", "auto": "automobile",
    "machine": "automobile", "motorcar": "automobile", "cervid": "deer", "toad": "frog",
    "anuran": "frog", "batrachian": "frog", "salientian": "frog", "motortruck": "truck",
}  # fmt: skip
_IRREGULAR = {"men": "man", "women": "woman", "children": "child", "people": "person", "mice": "mouse",
              "geese": "goose", "feet": "foot", "teeth": "tooth", "sheep": "sheep", "deer": "deer",
              "fish": "fish", "bus": "bus", "glasses": "glasses"}  # fmt: skip
_WORD = re.compile(r"[a-z0-9]+")


def singular(word: str) -> str:
    """A noun's singular by the rules WordNet's ``morphy`` applies first (``-ies``, ``-es``, ``-s``)."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    for suffix, repl in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("xes", "x"), ("ses", "s")):
        if word.endswith(suffix) and len(word) > len(suffix) + 1:
            return word[: -len(suffix)] + repl
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _words(name: str) -> list[str]:
    return [singular(w) for w in _WORD.findall(name.lower())]


def canonical_name(name: str) -> str:
    """``"Dining tables"`` → ``"diningtable"``: lower case, singular words, no spaces."""
    return "".join(_words(name))


class ClassSynonyms:
    """Which names stand for a class, and whether a predicted phrase names it.

    A class's names are its own and every name the table maps to it, transitively
    (``names_of("aeroplane")`` holds ``airplane`` and ``plane``). A phrase names the class when one
    of those names is the whole phrase, one of its words or two adjacent words joined
    (``"a small brown dog"`` names ``dog``, ``"a dining table"`` names ``diningtable``) — LAMM's test
    that a reference synonym is among the predicted words.

    Args:
        extra: More ``name → class`` entries, merged over ``base`` (a config's
            ``synonyms=dict(couch="sofa")``).
        base: The built-in table: :data:`LAMM_DETECTION_SYNONYMS` (default) or
            :data:`LAMM_CLASSIFICATION_SYNONYMS`; ``None`` for none.
    """

    def __init__(
        self,
        extra: Mapping[str, str] | None = None,
        base: Mapping[str, str] | None = LAMM_DETECTION_SYNONYMS,
    ) -> None:
        table = dict(base or {})
        table.update(dict(extra or {}))
        self.table = {canonical_name(k): canonical_name(v) for k, v in table.items()}

    def names_of(self, label: str) -> set[str]:
        """Canonical names standing for ``label``: itself and, transitively, its synonyms."""
        names = {canonical_name(label)} - {""}
        while True:
            more = {self.table[n] for n in names if n in self.table}
            more |= {k for k, v in self.table.items() if v in names}
            if more <= names:
                return names
            names |= more

    def same_class(self, reference: str, phrase: str) -> bool:
        """Whether ``phrase`` (predicted) names the ``reference`` class."""
        return bool(self.names_of(reference) & spans(phrase))


def spans(phrase: str) -> set[str]:
    """Canonical forms of a phrase, of each of its words and of each pair of adjacent words."""
    words = _words(phrase)
    out = set(words) | {a + b for a, b in pairwise(words)}
    if words:
        out.add("".join(words))
    return out
