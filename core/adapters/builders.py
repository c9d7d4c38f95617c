"""Typed builders for routers and expert banks.

Configs name components by their registry key (``dict(type="TokenRouter", top_k=1)``); these
functions build through the registries and check that what was built is of the expected kind, so a
misplaced type name fails at build time with a message instead of deep inside a forward pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from octavius.adapters.base_expert import BaseExpertBank
from octavius.adapters.base_router import BaseRouter
from octavius.registry import EXPERTS, ROUTERS, TEXT_ENCODERS


def _checked_cfg(cfg: Any, what: str) -> dict[str, Any]:
    if not isinstance(cfg, Mapping):
        raise TypeError(
            f"A {what} config must be a dict with a 'type' key, got {type(cfg).__name__}."
        )
    if "type" not in cfg:
        raise KeyError(f"The {what} config {dict(cfg)} has no 'type' key naming the component.")
    return dict(cfg)


def build_router(cfg: Mapping[str, Any] | BaseRouter, **defaults: Any) -> BaseRouter:
    """Build a router from ``cfg``; ``defaults`` fill keys the config leaves out.

    Args:
        cfg: ``dict(type=<registered router name>, **kwargs)``, or a built router (returned as is).
        **defaults: e.g. ``in_features`` and ``num_experts``, set by the injection.

    Raises:
        TypeError: when the registered class is not a :class:`BaseRouter`.
    """
    if isinstance(cfg, BaseRouter):
        return cfg
    router = ROUTERS.build(_checked_cfg(cfg, "router"), default_args=defaults)
    if not isinstance(router, BaseRouter):
        raise TypeError(
            f"Router config type '{cfg['type']}' built a {type(router).__name__}, which is not a "
            "BaseRouter; register routers that subclass octavius.adapters.BaseRouter."
        )
    return router


def build_experts(cfg: Mapping[str, Any] | BaseExpertBank, **defaults: Any) -> BaseExpertBank:
    """Build an expert bank from ``cfg``; ``defaults`` fill keys the config leaves out.

    Args:
        cfg: ``dict(type=<registered expert name>, **kwargs)``, or a built bank (returned as is).
        **defaults: e.g. ``in_features`` and ``out_features``, set by the injection.

    Raises:
        TypeError: when the registered class is not a :class:`BaseExpertBank`.
    """
    if isinstance(cfg, BaseExpertBank):
        return cfg
    experts = EXPERTS.build(_checked_cfg(cfg, "experts"), default_args=defaults)
    if not isinstance(experts, BaseExpertBank):
        raise TypeError(
            f"Experts config type '{cfg['type']}' built a {type(experts).__name__}, which is not "
            "a BaseExpertBank; register expert banks that subclass octavius.adapters.BaseExpertBank."
        )
    return experts


def build_text_encoder(cfg: Mapping[str, Any]) -> nn.Module:
    """Build a registered text encoder (``TEXT_ENCODERS``) and check its interface.

    A text encoder maps ``list[str]`` to ``(b, embed_dim)`` embeddings (task-embedding routing,
    MixLoRA appendix A).

    Raises:
        TypeError: when ``cfg`` has no ``type`` or the built object is not a callable with an
            integer ``embed_dim``.
    """
    if not isinstance(cfg, Mapping) or "type" not in cfg:
        raise TypeError(
            "text_encoder must be a dict with a 'type' key naming a registered text encoder "
            f"(e.g. dict(type='HashingTextEncoder')), got {cfg!r}."
        )
    encoder = TEXT_ENCODERS.build(dict(cfg))
    if not (callable(encoder) and isinstance(getattr(encoder, "embed_dim", None), int)):
        raise TypeError(
            f"Text encoder '{cfg['type']}' built a {type(encoder).__name__}, which is not a "
            "callable with an integer 'embed_dim'; a text encoder maps list[str] to (b, embed_dim)."
        )
    return encoder
