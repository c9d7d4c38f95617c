"""A pure-Python stand-in for the PTB tokenisation of the COCO caption evaluation.

pycocoevalcap's ``PTBTokenizer`` runs Stanford CoreNLP in Java; this module reproduces what it
does to captions (with ``-lowerCase -preserveLines``) and then, like pycocoevalcap, drops
punctuation tokens: lower-case; punctuation split off words; clitics split (``don't`` → ``do n't``,
``cat's`` → ``cat 's``); hyphenated words, decimals and thousands (``3.5``, ``1,000``) kept whole.
"""

from __future__ import annotations

import re

# pycocoevalcap.tokenizer.ptbtokenizer.PUNCTUATIONS, plus the raw characters PTB rewrites into
# the bracket/quote tokens of that list.
PUNCTUATIONS = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-",
     "--", "...", ";", "(", ")", "[", "]", "{", "}", '"']
)  # fmt: skip
_CLITIC = re.compile(r"(?<=\w)(n't|'s|'re|'ve|'ll|'d|'m)\b")
_TOKEN = re.compile(
    r"\d+(?:[.,]\d+)+"  # 3.5, 1,000
    r"|n't|'(?:s|re|ve|ll|d|m)\b"  # clitics split off above
    r"|[^\W_]+(?:[-/&'][^\W_]+)*"  # words, hyphenated words
    r"|\.\.\.|--|\S"  # ellipsis, dash, any other single character
)


def ptb_tokenize(text: str) -> str:
    """Tokens of ``text`` joined by single spaces, as pycocoevalcap's scorers expect."""
    text = _CLITIC.sub(r" \1", text.lower().replace("\n", " "))
    return " ".join(t for t in _TOKEN.findall(text) if t not in PUNCTUATIONS)
