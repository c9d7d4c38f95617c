"""Published model sizes of the papers' checkpoints, for estimates without the files.

From the checkpoints' ``config.json`` as released: Vicuna 7B (v1.3 / v1.5) and 13B (v0) have the
LLaMA architecture of their base models (Touvron et al. 2023, Table 2: d = 4096 / 5120, 32 / 40
layers and heads, SwiGLU width 11008 / 13824, 32000-token vocabulary); CLIP ViT-L/14 (Radford et
al. 2021) is 24 layers of width 1024 with 16 heads and a 4096-wide MLP, at 224 or 336 pixels with
14-pixel patches.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CLIP_VIT_L14", "CLIP_VIT_L14_336", "PUBLISHED_LLMS", "VICUNA_7B", "VICUNA_13B"]

VICUNA_7B: dict[str, Any] = dict(
    model_type="llama",
    hidden_size=4096,
    intermediate_size=11008,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=32,
    vocab_size=32000,
    max_position_embeddings=4096,
    tie_word_embeddings=False,
)
VICUNA_13B: dict[str, Any] = dict(
    VICUNA_7B,
    hidden_size=5120,
    intermediate_size=13824,
    num_hidden_layers=40,
    num_attention_heads=40,
    num_key_value_heads=40,
    max_position_embeddings=2048,
)
CLIP_VIT_L14: dict[str, Any] = dict(
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=24,
    num_attention_heads=16,
    image_size=224,
    patch_size=14,
    projection_dim=768,
)
CLIP_VIT_L14_336: dict[str, Any] = dict(CLIP_VIT_L14, image_size=336)

#: Checkpoint directory names used by the paper configs → published LLM config.
PUBLISHED_LLMS: dict[str, dict[str, Any]] = {
    "vicuna-7b-v1.3": VICUNA_7B,
    "vicuna-7b-v1.5": VICUNA_7B,
    "vicuna-13b-v0": VICUNA_13B,
}
PUBLISHED_CLIPS: dict[str, dict[str, Any]] = {
    "clip-vit-large-patch14": CLIP_VIT_L14,
    "clip-vit-large-patch14-336": CLIP_VIT_L14_336,
}
