"""Projectors: map encoder tokens into the LLM's word-embedding space.

Two are built in, both registered in ``PROJECTORS``:

- :class:`LinearProjector` — one linear layer, ``z = W h + b`` (Octavius eq. 4, LLaVA v1);
- :class:`MLPProjector` — LLaVA-1.5's two-layer MLP, ``z = W₂ GELU(W₁ h + b₁) + b₂``.

Projectors are trainable by default; :func:`build_projector` builds one from a config dict and
checks that it is a projector.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from octavius.registry import PROJECTORS

__all__ = ["BaseProjector", "LinearProjector", "MLPProjector", "build_projector"]


class BaseProjector(nn.Module):
    """Base class of projectors: ``(b, t, d_enc) → (b, t, d)``.

    Args:
        in_features: encoder token width ``d_enc``.
        out_features: LLM hidden width ``d``.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"{type(self).__name__}: {name} must be a positive int, got {value!r}."
                )
        self.in_features = in_features
        self.out_features = out_features


@PROJECTORS.register_module()
class LinearProjector(BaseProjector):
    """A single linear layer, ``z = W h + b`` (Octavius eq. 4, ``f^proj``).

    With ``norm=True`` a LayerNorm follows, ``z = LN(W h + b)``: the Octavius release's 3D
    projector (``llama_proj_3d = Sequential(Linear(768, 5120), LayerNorm(5120))``).

    Args:
        in_features: encoder token width.
        out_features: LLM width.
        bias: bias of the linear layer.
        norm: a LayerNorm over the output.
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, norm: bool = False
    ) -> None:
        super().__init__(in_features, out_features)
        self.proj = nn.Linear(in_features, out_features, bias=bias)
        self.norm = nn.LayerNorm(out_features) if norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """Project tokens.

        Shapes: ``b`` batch, ``t`` modality tokens, ``d_enc`` encoder width, ``d`` LLM width.

        Args:
            x: ``(b, t, d_enc)``.

        Returns:
            ``(b, t, d)``.
        """
        return self.norm(self.proj(x))


@PROJECTORS.register_module()
class MLPProjector(BaseProjector):
    """LLaVA-1.5's projector: ``z = W₂ GELU(W₁ h + b₁) + b₂`` (``mlp2x_gelu``).

    Args:
        in_features: encoder token width ``d_enc``.
        out_features: LLM hidden width ``d``.
        hidden_features: width of the hidden layer; ``out_features`` when ``None`` (as LLaVA-1.5).
        num_layers: number of linear layers (2 in LLaVA-1.5), GELU between them.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_features: int | None = None,
        num_layers: int = 2,
    ) -> None:
        super().__init__(in_features, out_features)
        if num_layers < 1:
            raise ValueError(f"MLPProjector: num_layers must be >= 1, got {num_layers}.")
        hidden = hidden_features or out_features
        layers: list[nn.Module] = []
        width = in_features
        for i in range(num_layers):
            last = i == num_layers - 1
            layers.append(nn.Linear(width, out_features if last else hidden))
            if not last:
                layers.append(nn.GELU())
            width = hidden
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Project tokens.

        Shapes: ``b`` batch, ``t`` modality tokens, ``d_enc`` encoder width, ``d`` LLM width.

        Args:
            x: ``(b, t, d_enc)``.

        Returns:
            ``(b, t, d)``.
        """
        return self.mlp(x)


def build_projector(cfg: Mapping[str, Any] | str, **defaults: Any) -> BaseProjector:
    """Build a projector from a config dict or a bare type name.

    Args:
        cfg: ``dict(type='MLPProjector', ...)`` or ``'LinearProjector'``.
        **defaults: filled in when the config lacks them (``in_features``, ``out_features``).

    Raises:
        TypeError: when the config does not build a :class:`BaseProjector`.
    """
    if isinstance(cfg, str):
        cfg = {"type": cfg}
    if not isinstance(cfg, Mapping) or "type" not in cfg:
        raise TypeError(
            f"A projector config must be a dict with a 'type' key (e.g. dict(type='MLPProjector')),"
            f" got {cfg!r}."
        )
    full = {**defaults, **dict(cfg)}
    projector = PROJECTORS.build(full)
    if not isinstance(projector, BaseProjector):
        raise TypeError(
            f"{type(projector).__name__} is not a projector (a BaseProjector subclass)."
        )
    return projector
