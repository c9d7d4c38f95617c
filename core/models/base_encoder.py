"""Modality encoders: the contract between an encoder and the multimodal model.

An encoder turns one batch of raw modality items (preprocessed images, point-cloud samples) into a
fixed number of tokens per sample, which a projector maps into the LLM's embedding space and the
model splices in at the modality's placeholder (``<image>``, ``<point_cloud>``). Encoders are
registered in ``ENCODERS`` and built with :func:`build_encoder`; the registry key is the class name.

Frozen parts stay frozen: :meth:`BaseEncoder.freeze` turns gradients off *and* keeps the module in
eval mode through later ``model.train()`` calls, so batch-norm statistics and dropout of a frozen
pre-trained network never change during instruction tuning.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor, nn

from octavius.registry import ENCODERS

__all__ = ["BaseEncoder", "BasePointEncoder", "EncoderOutput", "build_encoder"]

MODALITIES = ("image", "point_cloud")


@dataclass
class EncoderOutput:
    """What an encoder returns for a batch.

    Attributes:
        tokens: ``(b, t, d_enc)`` features; ``t`` is fixed by the encoder's config.
        mask: ``(b, t)`` bool, True on valid tokens.
    """

    tokens: Tensor
    mask: Tensor

    def __post_init__(self) -> None:
        if self.tokens.dim() != 3:
            raise ValueError(
                f"EncoderOutput.tokens must be (b, t, d), got {tuple(self.tokens.shape)}."
            )
        if self.mask.shape != self.tokens.shape[:2] or self.mask.dtype != torch.bool:
            raise ValueError(
                f"EncoderOutput.mask must be a bool tensor of shape {tuple(self.tokens.shape[:2])},"
                f" got {self.mask.dtype} {tuple(self.mask.shape)}."
            )


class BaseEncoder(nn.Module, ABC):
    """Base class of modality encoders (registered in ``ENCODERS``).

    Subclasses set the class attribute :attr:`modality` and the instance attributes
    :attr:`out_features` and :attr:`num_tokens` in ``__init__``.

    Attributes:
        modality: ``"image"`` or ``"point_cloud"``; the placeholder is ``f"<{modality}>"``.
        out_features: width ``d_enc`` of the produced tokens (the projector's input).
        num_tokens: number of tokens ``t`` produced per sample.
    """

    modality: ClassVar[str]
    out_features: int
    num_tokens: int

    def __init__(self) -> None:
        super().__init__()
        # Plain list, not a ModuleList: the frozen modules are already registered as children.
        self._frozen_modules: list[nn.Module] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        modality = cls.__dict__.get("modality")
        if modality is not None and modality not in MODALITIES:
            raise TypeError(
                f"{cls.__name__}.modality is {modality!r}; expected one of {MODALITIES}."
            )

    @abstractmethod
    def forward(self, inputs: list[Any]) -> EncoderOutput:
        """Encode a batch given as one item per sample."""

    @property
    def device(self) -> torch.device:
        """The device of the encoder's first parameter or buffer (CPU when it has none)."""
        for tensor in (*self.parameters(), *self.buffers()):
            return tensor.device
        return torch.device("cpu")

    def freeze(self, module: nn.Module) -> None:
        """Turn off gradients of ``module`` and keep it in eval mode from now on."""
        module.requires_grad_(False)
        module.eval()
        self._frozen_modules.append(module)

    def train(self, mode: bool = True) -> BaseEncoder:
        """Set train/eval mode, keeping the modules passed to :meth:`freeze` in eval mode."""
        super().train(mode)
        for module in self._frozen_modules:
            # nn.Module.train directly: a frozen module may be this encoder itself.
            nn.Module.train(module, False)
        return self

    # ------------------------------------------------------------------ feature cache
    # An encoder whose first part is frozen can have that part's output computed once and
    # stored (``tools/data/cache_features.py``); training then runs only the rest. The
    # contract: ``from_frozen_features(frozen_features(x))`` equals ``forward(x)``.

    def frozen_features(self, inputs: list[Any]) -> list[dict[str, Tensor]]:
        """The output of the encoder's frozen part, one dict of tensors per item (no grad)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no frozen part a feature cache can hold; train without"
            " a feature cache for this modality."
        )

    def from_frozen_features(self, features: list[Mapping[str, Tensor]]) -> EncoderOutput:
        """The rest of :meth:`forward`, from what :meth:`frozen_features` returned."""
        raise NotImplementedError(f"{type(self).__name__} cannot encode from cached features.")

    def frozen_module(self) -> nn.Module:
        """The frozen module whose weights the cached features depend on."""
        raise NotImplementedError(f"{type(self).__name__} has no frozen part.")

    def frozen_settings(self) -> dict[str, Any]:
        """Every setting besides the frozen weights that changes :meth:`frozen_features`
        (layer choice, preprocessing, sampling), as plain JSON values."""
        raise NotImplementedError(f"{type(self).__name__} has no frozen part.")

    def frozen_dependencies(self, item: Mapping[str, Any]) -> list[str]:
        """Files besides the item's own that its frozen features are read from (RoI files)."""
        return []

    @classmethod
    def example_config(cls, root: str | os.PathLike) -> dict[str, Any]:
        """Keyword arguments of a tiny working instance, for tests and the quickstart.

        Args:
            root: a writable directory where the encoder may save files it needs (a tiny
                checkpoint); calling it again on the same directory reuses them.
        """
        raise NotImplementedError(f"{cls.__name__} does not define example_config().")


class BasePointEncoder(BaseEncoder):
    """A point-cloud encoder that also encodes batches of equal-size clouds to one vector each.

    Object-As-Scene (Octavius eq. 5) uses any such encoder as ``f^Point-Bert`` on the points of
    every RoI.

    Attributes:
        in_channels: 3 (xyz) or 6 (xyz+rgb): the channels :meth:`encode_points` reads.
        feature_dim: width of the vectors :meth:`encode_points` returns.
        min_points: the fewest points per cloud :meth:`encode_points` accepts.
    """

    modality: ClassVar[str] = "point_cloud"
    in_channels: int
    feature_dim: int
    min_points: int

    @abstractmethod
    def encode_points(self, points: Tensor) -> Tensor:
        """Encode ``(b, n, c)`` clouds (xyz already normalised) to ``(b, feature_dim)``."""


_E = TypeVar("_E", bound=BaseEncoder)


def build_encoder(cfg: Mapping[str, Any] | BaseEncoder, expected: type[_E] = BaseEncoder) -> _E:
    """Build an encoder from a config dict (``type`` = registered class name).

    Args:
        cfg: ``dict(type='CLIPImageEncoder', pretrained=...)``, or an already built encoder.
        expected: the encoder class the caller needs (e.g. :class:`BasePointEncoder`).

    Raises:
        TypeError: when the config does not build an instance of ``expected``.
    """
    if isinstance(cfg, nn.Module):
        encoder: Any = cfg
    elif isinstance(cfg, Mapping) and "type" in cfg:
        encoder = ENCODERS.build(dict(cfg))
    else:
        raise TypeError(
            f"An encoder config must be a dict with a 'type' key naming a class in ENCODERS,"
            f" got {cfg!r}."
        )
    if not isinstance(encoder, expected):
        raise TypeError(
            f"Encoder {type(encoder).__name__} is not a {expected.__name__}; choose an ENCODERS"
            f" type that is one."
        )
    return encoder
