"""Multiple-choice and classification answers judged as LAMM judges them (ScienceQA, CIFAR-10)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from octavius.evaluation.class_synonyms import ClassSynonyms, spans

__all__ = ["lamm_choice_correct", "lamm_class_correct", "lamm_smile_label"]

_LETTERS = "ABCDEFG"
# LAMM_VQA.metric_func (OpenGVLab/LAMM src/ChEF/metric/vqa.py), in its order of precedence.
_ANSWER_IS = re.compile(r"The answer is \(?[A-E]\)?\W|the answer is \(?[A-E]\)?\W")
_ANSWER_COLON = re.compile(r"ANSWER: [A-E]")
_PAREN_LETTER = re.compile(r"\([A-E]\)")


def lamm_choice_correct(answer: str, options: Sequence[str], gt_index: int) -> bool:
    """Whether ``answer`` picks option ``gt_index`` by LAMM's ScienceQA rule (``LAMM_VQA``).

    The first of these that occurs decides:

    1. ``"The answer is (B)."`` / ``"the answer is B,"`` (a non-word character must follow): right
       iff every such phrase contains the reference letter;
    2. ``"ANSWER: B"``: right iff the first one's letter is the reference;
    3. ``"(B)"``: right iff every parenthesised letter is the reference;
    4. otherwise the text: right iff the reference option's text occurs (case-insensitive) and no
       other option's text does.
    """
    gt_letter = _LETTERS[gt_index]
    found = _ANSWER_IS.findall(answer)
    if found:
        return all(gt_letter in f for f in found)
    found = _ANSWER_COLON.findall(answer)
    if found:
        return found[0][-1] == gt_letter
    found = _PAREN_LETTER.findall(answer)
    if found:
        return all(gt_letter in f for f in found)
    text = answer.lower()
    if str(options[gt_index]).lower() not in text:
        return False
    return not any(str(o).lower() in text for i, o in enumerate(options) if i != gt_index)


_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['-][A-Za-z0-9]+)*")


def lamm_class_correct(answer: str, label: str, synonyms: ClassSynonyms) -> bool:
    """Whether ``answer`` names class ``label`` by LAMM's classification rule (``LAMM_Classification``).

    LAMM tokenises the lower-cased answer, drops punctuation and stop words, lemmatises every word
    (WordNet ``morphy``) and accepts the answer when the whole answer, or one of its words, is the
    label or a lemma name of the label's first WordNet synset (``airplane`` → ``aeroplane``,
    ``plane``). Here the lemma names come from ``synonyms`` (by default
    :data:`~octavius.evaluation.class_synonyms.LAMM_CLASSIFICATION_SYNONYMS`), plurals are
    singularised by rule, and two adjacent words also count (multi-word class names); dropping stop
    words is left out, as no class name or synonym is a stop word.
    """
    accepted = synonyms.names_of(label)
    words = [w for w in _TOKEN.findall(answer.lower())]
    return bool(accepted & spans(" ".join(words)))


def lamm_smile_label(answer: str) -> str:
    """CelebA smile as ``LAMM_Facial_Smile_Classification`` reads it: ``"-1"`` (not smiling) when
    the answer has the word "no" or "not", else ``"1"`` — the values of the benchmark's ``attr``."""
    words = {w.lower() for w in _TOKEN.findall(answer)}
    return "-1" if {"no", "not"} & words else "1"
