"""LLaVA's ``mm_projector.bin`` as the image projector.

LLaVA's stage-1 pre-training (``llava/train/train.py``, ``tune_mm_mlp_adapter``) saves the
projector with ``torch.save`` as ``mm_projector.bin``: keys ``model.mm_projector.weight`` /
``.bias`` for ``mm_projector_type='linear'`` (LLaVA v1) and ``model.mm_projector.0.*``,
``model.mm_projector.2.*`` for ``'mlp2x_gelu'`` (LLaVA-1.5: Linear, GELU, Linear). LLaVA itself
loads it by stripping everything up to ``mm_projector.`` (``llava_arch.py``,
``initialize_vision_modules``). Here they land in
:class:`~octavius.models.projectors.LinearProjector` (``proj.*``) and
:class:`~octavius.models.projectors.MLPProjector` (``mlp.0.*``, ``mlp.2.*``). With
``mm_use_im_start_end`` the file also holds ``model.embed_tokens.weight``; the LLM's embeddings
stay frozen here, so it is ignored, by name, in the report.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from octavius.weights.key_map import KeyMapReport, KeyRule, load_mapped, map_keys
from octavius.weights.tensor_file import read_tensor_file

__all__ = ["import_llava_projector", "llava_projector_rules"]

_IGNORE = {
    r"model\.embed_tokens\.weight": (
        "LLaVA's embeddings for <im_start>/<im_end> (mm_use_im_start_end); the LLM's embeddings "
        "stay frozen here"
    ),
}


def llava_projector_rules(modality: str = "image") -> list[KeyRule]:
    """Rules from ``model.mm_projector.*`` to ``projectors.<modality>.*``."""
    prefix = r"(?:model\.)?mm_projector\."
    return [
        KeyRule(
            prefix + r"(\d+)\.(weight|bias)",
            rf"projectors.{modality}.mlp.\1.\2",
            None,
            "mlp2x_gelu layer",
        ),
        KeyRule(prefix + r"(weight|bias)", rf"projectors.{modality}.proj.\1", None, "linear"),
    ]


def import_llava_projector(
    model: nn.Module, path: str | os.PathLike, *, modality: str = "image", strict: bool = True
) -> KeyMapReport:
    """Load ``mm_projector.bin`` (read with ``weights_only=True``) into the model's projector.

    Raises:
        octavius.weights.WeightsImportError: when the file's projector type differs from the
            model's (``linear`` into an ``MLPProjector`` or back), its shapes do not fit (another
            vision tower or LLM width), or keys are left over; every key is named.
    """
    params = dict(model.named_parameters())
    prefix = f"projectors.{modality}."
    expected = [n for n in params if n.startswith(prefix)]
    if not expected:
        raise ValueError(
            f"{type(model).__name__} has no projector for '{modality}' to load {path} into; "
            f"add encoders=dict({modality}=...) to the model config."
        )
    tensors, report = map_keys(
        read_tensor_file(path),
        llava_projector_rules(modality),
        params,
        source=str(Path(path)),
        expected=expected,
        ignore=_IGNORE,
    )
    return load_mapped(model, tensors, report, strict=strict)
