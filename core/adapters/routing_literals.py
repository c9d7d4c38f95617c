"""The closed vocabularies of routing, declared once: levels, modes, sharing, router inputs.

Each is a ``Literal`` type for annotations and a tuple of its values for validation messages;
every router, rule and decision imports them from here.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "INPUT_SOURCES",
    "LEVELS",
    "MODES",
    "SHARING",
    "InputSource",
    "Level",
    "Mode",
    "Sharing",
]

#: ``"instance"``: one choice per sample, reused for every token (Octavius eq. 3);
#: ``"token"``: one choice per token (LLaVA-MoLE eq. 3).
Level = Literal["instance", "token"]
#: ``"sparse"`` top-k with renormalised weights, ``"dense"`` weighted sum of every expert,
#: ``"individual"`` a fixed task→expert table (Octavius Table 4).
Mode = Literal["sparse", "dense", "individual"]
#: One router per adapted linear, per block (LLaVA-MoLE's MLP router) or for the whole model
#: (Octavius's instance gate).
Sharing = Literal["module", "block", "global"]
#: What a router reads: the layer (or block) input, the LLM input embeddings, or nothing.
InputSource = Literal["layer", "embeddings", "none"]

LEVELS: tuple[str, ...] = get_args(Level)
MODES: tuple[str, ...] = get_args(Mode)
SHARING: tuple[str, ...] = get_args(Sharing)
INPUT_SOURCES: tuple[str, ...] = get_args(InputSource)
