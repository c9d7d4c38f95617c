"""The CLIP vision tower as Octavius's image encoder ``f^CLIP`` (eq. 4)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor
from transformers import CLIPImageProcessor, CLIPVisionModel

from octavius.models.base_encoder import BaseEncoder, EncoderOutput
from octavius.registry import ENCODERS

__all__ = ["CLIPImageEncoder"]


@ENCODERS.register_module()
class CLIPImageEncoder(BaseEncoder):
    """Patch features of a Hugging Face CLIP vision tower (Octavius eq. 4: ``h^img = f^CLIP(I)``).

    As in LLaVA/LAMM, the features are the hidden states of one layer — the penultimate by
    default — as patch tokens, without the CLS token unless ``use_cls``. Images are preprocessed
    with the checkpoint's own processor config (``preprocessor_config.json``) by
    :meth:`preprocess`. The paper uses ViT-L/14 (``openai/clip-vit-large-patch14``).

    Args:
        pretrained: directory (or hub name, where a hub is reachable) holding a CLIP or CLIP
            vision checkpoint and its image processor config.
        feature_layer: index into the ``num_hidden_layers + 1`` hidden states (0 = embeddings,
            -1 = last layer, -2 = penultimate).
        use_cls: keep the CLS token in front of the patch tokens.
        frozen: no gradients and eval mode for the tower.
        dtype: torch dtype name to load the weights in (``"float16"``, ``"bfloat16"``); None
            keeps float32.
    """

    modality = "image"

    def __init__(
        self,
        pretrained: str | os.PathLike,
        feature_layer: int = -2,
        use_cls: bool = False,
        frozen: bool = True,
        dtype: str | None = None,
    ) -> None:
        super().__init__()
        torch_dtype = getattr(torch, dtype, None) if dtype is not None else torch.float32
        if not isinstance(torch_dtype, torch.dtype):
            raise ValueError(
                f"CLIPImageEncoder dtype {dtype!r} is not a torch dtype name (e.g. 'float16')."
            )
        try:
            self.model = CLIPVisionModel.from_pretrained(str(pretrained), dtype=torch_dtype)
            self.processor = CLIPImageProcessor.from_pretrained(str(pretrained))
        except (OSError, ValueError) as err:
            raise OSError(
                f"Cannot load the CLIP vision tower or its image processor config from"
                f" {str(pretrained)!r} (CLIPImageEncoder 'pretrained'): {err}"
            ) from None
        config = self.model.config
        num_states = config.num_hidden_layers + 1
        if not -num_states <= feature_layer < num_states:
            raise ValueError(
                f"CLIPImageEncoder feature_layer={feature_layer} is out of range for a tower with"
                f" {config.num_hidden_layers} layers; use -{num_states}..{num_states - 1}."
            )
        self.feature_layer, self.use_cls, self.frozen = feature_layer, use_cls, frozen
        self.out_features = config.hidden_size
        self.num_tokens = (config.image_size // config.patch_size) ** 2 + int(use_cls)
        if frozen:
            self.freeze(self.model)

    def preprocess(self, image: Image.Image) -> Tensor:
        """Resize, crop and normalise one PIL image as the checkpoint was trained: ``(3, H, W)``."""
        pixels = self.processor(images=image.convert("RGB"), return_tensors="pt")["pixel_values"]
        return pixels[0]

    def forward(self, inputs: list[Tensor | Image.Image]) -> EncoderOutput:
        """Encode a batch of images (legend: b images, t tokens, d hidden).

        Args:
            inputs: ``b`` tensors ``(3, H, W)`` from :meth:`preprocess`, or PIL images, which are
                preprocessed here.

        Returns:
            ``tokens (b, t, d)`` with ``t = (H/patch)² (+1 with CLS)``; mask all True.
        """
        images = [self.preprocess(x) if isinstance(x, Image.Image) else x for x in inputs]
        size = self.model.config.image_size
        for i, image in enumerate(images):
            if not isinstance(image, Tensor) or image.shape != (3, size, size):
                got = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
                raise ValueError(
                    f"CLIPImageEncoder input {i} is {got}; expected a (3, {size}, {size}) tensor"
                    " from preprocess() or a PIL image."
                )
        pixels = torch.stack(images).to(device=self.device, dtype=self.model.dtype)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            states = self.model(pixel_values=pixels, output_hidden_states=True).hidden_states
            tokens = states[self.feature_layer]  # (b, 1 + t, d)
        if not self.use_cls:
            tokens = tokens[:, 1:]
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        return EncoderOutput(tokens=tokens, mask=mask)

    def _require_frozen(self) -> None:
        if not self.frozen:
            raise ValueError(
                "CLIPImageEncoder(frozen=False) trains its tower, so its features cannot be"
                " cached; set frozen=True or train without a feature cache for images."
            )

    def frozen_features(self, inputs: list[Tensor | Image.Image]) -> list[dict[str, Tensor]]:
        """The tower's patch tokens, ``dict(tokens=(t, d))`` per image (the whole encoder is frozen)."""
        self._require_frozen()
        with torch.no_grad():
            tokens = self(inputs).tokens
        return [{"tokens": t} for t in tokens]

    def from_frozen_features(self, features: list[Mapping[str, Tensor]]) -> EncoderOutput:
        """Stack cached ``tokens (t, d)`` into ``(b, t, d)``, as :meth:`forward` returns them."""
        tokens = torch.stack([f["tokens"] for f in features]).to(self.device)
        if tokens.shape[1:] != (self.num_tokens, self.out_features):
            raise ValueError(
                f"Cached image features are {tuple(tokens.shape[1:])}; this CLIPImageEncoder"
                f" makes ({self.num_tokens}, {self.out_features}). Rebuild the feature cache."
            )
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        return EncoderOutput(tokens=tokens, mask=mask)

    def frozen_module(self) -> torch.nn.Module:
        """The vision tower."""
        self._require_frozen()
        return self.model

    def frozen_settings(self) -> dict[str, Any]:
        """Layer, CLS, weight dtype and the image preprocessing (the processor config)."""
        return {
            "feature_layer": self.feature_layer,
            "use_cls": self.use_cls,
            "dtype": str(self.model.dtype),
            "processor": self.processor.to_dict(),
        }

    @classmethod
    def example_config(cls, root: str | os.PathLike) -> dict[str, Any]:
        """Save a tiny CLIP vision tower (2 layers, width 32, 32-px images, 8-px patches) under ``root``."""
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

        path = Path(root) / "tiny_clip_vision"
        torch.manual_seed(0)
        config = CLIPVisionConfig(
            image_size=32,
            patch_size=8,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
        )
        CLIPVisionModel(config).save_pretrained(path)
        CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ).save_pretrained(path)
        return dict(pretrained=str(path))
