"""The tiny tokenizer of the tiny assets: byte-level BPE trained on a small corpus.

Built with ``tokenizers`` and saved as a ``PreTrainedTokenizerFast``, so it loads with
``AutoTokenizer.from_pretrained`` like a real checkpoint's tokenizer.
"""

from __future__ import annotations

import os
from pathlib import Path

from octavius.testing.asset_cache import build_dir, spec_key

__all__ = ["CORPUS", "MODALITY_TOKENS", "SPECIAL_TOKENS", "build_tiny_tokenizer", "write_tokenizer"]

#: Special tokens of the tiny tokenizer, by role.
SPECIAL_TOKENS: dict[str, str] = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "pad_token": "<pad>",
    "unk_token": "<unk>",
}
#: Modality placeholders added as special tokens so they are never split.
MODALITY_TOKENS: tuple[str, ...] = ("<image>", "<point_cloud>")

# Words the synthetic instruction set and the conversation templates use; the byte-level BPE can
# encode any text, these only make the common words short.
CORPUS = """
Answer the question. When options are given, answer with the letter of the correct option and its
text. Describe what you see accurately and briefly. Answer with the category of the object in
question. Identify the objects and give each one as its name followed by its bounding box
A chat between a curious human and an artificial intelligence assistant. The assistant gives
helpful, detailed, and polite answers to the human's questions. USER: ASSISTANT: Human: Assistant:
You are an AI visual assistant that can analyze a single image or a 3D point cloud scene.
Identify all the objects in the image and give their bounding boxes. Detect every object.
Answer the question with the letter of the correct option. Options: (A) (B) (C) (D) The answer is
Describe the image briefly. Describe the scene. Classify the object. What is the colour of the
What shape is the object? How many objects are there? Where is the object? What is in the scene?
red green blue yellow orange purple white black gray cyan magenta brown pink
square circle triangle rectangle star box cube sphere cylinder chair table bed sofa lamp shelf
left right top bottom center middle corner large small big tiny one two three four five six seven
eight nine ten zero there is are a an the of in on at and with object objects shape shapes colour
color scene image point cloud picture contains shows located near next to above below behind front
[0.00, 0.10, 0.25, 0.50, 0.75, 1.00] 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 0 1 2 3 4 5 6 7 8 9
yes no true false caption detection classification vqa question answer task definition
"""


def build_tiny_tokenizer(path: str | os.PathLike, *, vocab_size: int = 768) -> Path:
    """Train a byte-level BPE tokenizer on a small corpus and save it as a fast tokenizer.

    Byte-level BPE encodes any text without unknown tokens and decodes it back exactly, which
    the generation tests rely on. ``<s>``, ``</s>``, ``<pad>``, ``<unk>``, ``<image>`` and
    ``<point_cloud>`` are special tokens; the tokenizer adds no BOS/EOS by itself (the
    conversation templates place them).

    Args:
        path: the directory to save into (``tokenizer.json`` + ``tokenizer_config.json``).
        vocab_size: BPE vocabulary size including the 256 byte symbols and the special tokens.

    Returns:
        ``path``, loadable with ``AutoTokenizer.from_pretrained(path)``.
    """
    if vocab_size < 300:
        raise ValueError(
            f"vocab_size must be at least 300 (256 bytes + specials), got {vocab_size}."
        )
    spec = {"vocab_size": vocab_size, "corpus": spec_key("corpus", {"text": CORPUS})}

    def build(tmp: Path) -> None:
        write_tokenizer(tmp, vocab_size)

    return build_dir(path, "tokenizer", spec, build)


def write_tokenizer(directory: Path, vocab_size: int) -> None:
    """Train the byte-level BPE on :data:`CORPUS` and save it into ``directory`` (no caching)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [*SPECIAL_TOKENS.values(), *MODALITY_TOKENS]
    tok = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Leading spaces: byte-level BPE learns "Ġword", the form words take inside sentences.
    lines = [" " + line.strip() for line in CORPUS.splitlines() if line.strip()]
    tok.train_from_iterator(lines * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        additional_special_tokens=list(MODALITY_TOKENS),
        padding_side="right",
        clean_up_tokenization_spaces=False,
        **SPECIAL_TOKENS,
    )
    fast.save_pretrained(directory)
