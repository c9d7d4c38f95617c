"""The multimodal LLM: encoders → projectors → modality tokens spliced into a causal LM.

Octavius §3 (Fig. 2): image features ``h^img = f^CLIP(I)`` and point-cloud features from
Object-As-Scene are projected to the word-embedding space (eq. 4), placed at their placeholders
in the instruction (Fig. 4: system prompt, modality tokens, question, response), and the LLM —
frozen, with LoRA experts injected (eq. 3) — is trained on the response tokens only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn

from octavius.adapters.context import RoutingContext, use_routing_context
from octavius.data.data_preprocessor import InstructionDataPreprocessor
from octavius.data.templates import IGNORE_INDEX
from octavius.data.tokenizer import PLACEHOLDERS, load_tokenizer
from octavius.features.cached_features import CachedFeatures
from octavius.models.base_encoder import BaseEncoder, build_encoder
from octavius.models.generation import GenerationResult, default_generation_config
from octavius.models.llm_loading import load_causal_lm
from octavius.models.projectors import build_projector
from octavius.models.splicing import SplicedBatch, splice_modality_tokens
from octavius.models.text_encoding import TEXT_ENCODING_MODES, FrozenLLMTextEncoder
from octavius.registry import MODELS

__all__ = ["GenerationResult", "MultimodalLLM"]

_MODES = ("loss", "predict", "tensor")


@MODELS.register_module()
class MultimodalLLM(BaseModel):
    """A Hugging Face causal LM fed with spliced image / point-cloud tokens (mmengine model).

    Modes (mmengine): ``loss`` → ``dict(loss_lm=..., loss_<aux>=...)``; ``predict`` → the data
    samples with ``pred_text`` added (generation); ``tensor`` → the logits ``(b, n, V)``.

    The LLM is loaded with ``from_pretrained`` and frozen; adapters are injected into it with
    :func:`octavius.adapters.inject_adapters` (which keeps only adapters and routers
    trainable). Encoders follow their own freezing; projectors are trainable. Around every LLM
    call a :class:`~octavius.adapters.context.RoutingContext` carries ``attention_mask``,
    ``question_mask`` (user-turn text tokens, Octavius ``z^qu``), ``inputs_embeds``,
    ``task_ids``, ``task_names``, ``task_definitions`` and ``text_encoder`` (see
    :mod:`octavius.models.text_encoding`); routers' auxiliary losses collected in it are
    averaged over layers, multiplied by ``aux_loss_weights[name]`` (1 when absent) and returned
    as ``loss_<name>``; a weight of 0 logs the term as ``aux_<name>`` without training on it.

    Args:
        llm: directory or hub name of the causal LM, or ``dict(pretrained=..., dtype='bfloat16',
            attn_implementation='sdpa', ...)`` (the rest goes to ``from_pretrained``).
        tokenizer: tokenizer directory / name; the LLM's when ``None``.
        encoders: modality (``"image"``, ``"point_cloud"``) → encoder config (``ENCODERS``).
        projector: projector config for every modality (``dict(type='MLPProjector')``), or a
            dict modality → config.
        adapters: adapter rules or preset (see :mod:`octavius.adapters.rules`); none when
            ``None``.
        aux_loss_weights: weight per auxiliary loss name.
        freeze_llm: freeze the LLM's own weights (set ``False`` for full fine-tuning).
        freeze_projectors: freeze the projectors too (e.g. MixLoRA's instruction tuning keeps
            the stage-1 projector fixed and trains only the adapters).
        text_encoder: ``"llm_mean"`` or ``"embedding_mean"`` (the routing context's encoder).
        generation: defaults of ``transformers.GenerationConfig`` fields (``max_new_tokens``,
            ``do_sample``, ``num_beams``…) for :meth:`generate` and :meth:`chat`.
        max_length: longest spliced sequence; the LLM's ``max_position_embeddings`` by default.
        gradient_checkpointing: recompute each decoder layer in backward instead of keeping its
            activations (transformers' ``gradient_checkpointing_enable``, non-reentrant, so the
            adapters get gradients even when the inputs need none); a layer then keeps only its
            input (see ``python -m octavius estimate``).
        data_preprocessor: config of the data preprocessor (an ``InstructionDataPreprocessor``
            by default; its ``pad_token_id`` is set from the tokenizer).
        init_cfg: mmengine initialisation config.
        routing_recorder: called with ``(layer_name, decision, context)`` by every routed layer
            (e.g. :class:`~octavius.adapters.recording.RoutingRecorder`); every routing context
            the model builds carries it. Settable later as ``model.routing_recorder``.
    """

    def __init__(
        self,
        llm: str | os.PathLike | Mapping[str, Any],
        tokenizer: str | os.PathLike | None = None,
        encoders: Mapping[str, Mapping[str, Any] | BaseEncoder] | None = None,
        projector: Mapping[str, Any] | str = "LinearProjector",
        adapters: str | Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        aux_loss_weights: Mapping[str, float] | None = None,
        freeze_llm: bool = True,
        freeze_projectors: bool = False,
        text_encoder: str = "llm_mean",
        generation: Mapping[str, Any] | None = None,
        max_length: int | None = None,
        gradient_checkpointing: bool = False,
        data_preprocessor: Mapping[str, Any] | nn.Module | None = None,
        init_cfg: dict | list | None = None,
        routing_recorder: Callable[[str, Any, RoutingContext], None] | None = None,
    ) -> None:
        # What save_pretrained() records, so the directory rebuilds the model without its config.
        init_kwargs = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        if text_encoder not in TEXT_ENCODING_MODES:
            raise ValueError(
                f"MultimodalLLM: text_encoder must be one of {TEXT_ENCODING_MODES}, got {text_encoder!r}."
            )
        if data_preprocessor is None:
            data_preprocessor = {"type": "InstructionDataPreprocessor"}
        if isinstance(data_preprocessor, Mapping):
            data_preprocessor = MODELS.build(dict(data_preprocessor))
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.init_kwargs = init_kwargs
        self.llm, llm_path = load_causal_lm(llm)
        self.tokenizer = load_tokenizer(tokenizer if tokenizer is not None else llm_path)
        if freeze_llm:
            self.llm.requires_grad_(False)
        hidden = self.llm.get_input_embeddings().embedding_dim
        self.encoders = nn.ModuleDict()
        self.projectors = nn.ModuleDict()
        for modality, cfg in (encoders or {}).items():
            self._add_modality(modality, cfg, projector, hidden)
        if freeze_projectors:
            self.projectors.requires_grad_(False)
        self.placeholder_ids = {
            m: self.tokenizer.convert_tokens_to_ids(PLACEHOLDERS[m]) for m in PLACEHOLDERS
        }
        self.adapter_report = None
        if adapters is not None:
            try:
                from octavius.adapters import inject_adapters
            except ImportError as err:
                raise ImportError(
                    f"MultimodalLLM: `adapters` is set but octavius.adapters.inject_adapters is unavailable: {err}"
                ) from err
            self.adapter_report = inject_adapters(self.llm, adapters)
        self.aux_loss_weights = {str(k): float(v) for k, v in (aux_loss_weights or {}).items()}
        self.generation_config = default_generation_config(self.tokenizer, generation)
        self.max_length = int(
            max_length or getattr(self.llm.config, "max_position_embeddings", 0) or 2**31
        )
        self.text_encoder = FrozenLLMTextEncoder(self.llm, self.tokenizer, mode=text_encoder)
        self.routing_recorder = routing_recorder
        # from_pretrained returns the LLM in eval mode; follow the model's mode like any child.
        self.train(self.training)
        # The LLM is pre-trained and its adapters are initialised at injection: mmengine's
        # init_weights() (run by the Runner) must not call the Hugging Face re-initialisation.
        self.llm.is_init = True
        if gradient_checkpointing:
            kwargs = {"use_reentrant": False}
            if hasattr(self.llm, "activation_checkpointing_enable"):  # transformers >= 5
                self.llm.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:
                self.llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        if (
            isinstance(self.data_preprocessor, InstructionDataPreprocessor)
            and self.data_preprocessor.pad_token_id is None
        ):
            self.data_preprocessor.pad_token_id = self.tokenizer.pad_token_id

    def _add_modality(
        self, modality: str, cfg: Any, projector: Mapping[str, Any] | str, hidden: int
    ) -> None:
        if modality not in PLACEHOLDERS:
            raise ValueError(
                f"MultimodalLLM: unknown modality {modality!r} in `encoders`; use {sorted(PLACEHOLDERS)}."
            )
        encoder = build_encoder(cfg)
        if encoder.modality != modality:
            raise ValueError(
                f"MultimodalLLM: encoders['{modality}'] is {type(encoder).__name__}, an encoder for "
                f"'{encoder.modality}'; put it under that key."
            )
        proj_cfg = projector
        if isinstance(projector, Mapping) and "type" not in projector:
            if modality not in projector:
                raise ValueError(
                    f"MultimodalLLM: `projector` has no entry for modality '{modality}'."
                )
            proj_cfg = projector[modality]
        self.encoders[modality] = encoder
        self.projectors[modality] = build_projector(
            proj_cfg, in_features=encoder.out_features, out_features=hidden
        )

    # ------------------------------------------------------------------ inputs
    def prepare_inputs(
        self,
        inputs: Mapping[str, Any],
        data_samples: Sequence[Mapping[str, Any]] | None = None,
        padding_side: str | None = None,
    ) -> SplicedBatch:
        """Encode and project the modality items and splice them into the embedded text.

        Shapes: ``b`` batch, ``n`` text tokens, ``t`` tokens per item, ``d`` hidden.

        Args:
            inputs: the data preprocessor's ``inputs`` (``input_ids (b, n)``, ``attention_mask``,
                ``labels``, ``question_mask``, ``images``, ``point_clouds``, ``padding_side``).
            data_samples: the samples' metadata (sample ids name the culprits in errors).
            padding_side: padding of the output; the input's side when ``None``.
        """
        input_ids = inputs["input_ids"]
        attention_mask = inputs.get("attention_mask")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        labels = inputs.get("labels")
        if labels is None:
            labels = torch.full_like(input_ids, IGNORE_INDEX)
        question_mask = inputs.get("question_mask")
        if question_mask is None:
            question_mask = torch.zeros_like(input_ids, dtype=torch.bool)
        names = (
            [str(s.get("sample_id", f"#{i}")) for i, s in enumerate(data_samples)]
            if data_samples
            else None
        )
        features = {}
        for modality, key in (("image", "images"), ("point_cloud", "point_clouds")):
            per_sample = inputs.get(key) or [[] for _ in range(input_ids.shape[0])]
            self._check_items(modality, input_ids, attention_mask, per_sample, names)
            items = [item for sample in per_sample for item in sample]
            if items:
                features[modality] = self.encode_modality(modality, items)
        batch = splice_modality_tokens(
            input_ids,
            attention_mask,
            labels,
            question_mask,
            self.llm.get_input_embeddings(),
            {m: self.placeholder_ids[m] for m in PLACEHOLDERS},
            features,
            padding_side or inputs.get("padding_side", "right"),
            names,
        )
        lengths = batch.attention_mask.sum(-1)
        if batch.attention_mask.shape[1] > self.max_length:
            worst = int(lengths.argmax())
            who = names[worst] if names else f"#{worst}"
            raise ValueError(
                f"sample {who} is {batch.attention_mask.shape[1]} tokens long after splicing the modality "
                f"tokens, more than max_length={self.max_length}; shorten it or lower the encoders' token count."
            )
        return batch

    def _check_items(
        self,
        modality: str,
        input_ids: Tensor,
        mask: Tensor,
        per_sample: Sequence[Sequence[Any]],
        names: list[str] | None,
    ) -> None:
        counts = ((input_ids == self.placeholder_ids[modality]) & mask.bool()).sum(-1).tolist()
        if len(per_sample) != len(counts):
            raise ValueError(
                f"the batch has {len(counts)} samples but {len(per_sample)} {modality} lists."
            )
        for i, (count, items) in enumerate(zip(counts, per_sample)):
            who = names[i] if names else f"#{i}"
            if count != len(items):
                raise ValueError(
                    f"sample {who} has {count} {PLACEHOLDERS[modality]} placeholder(s) but {len(items)} {modality} item(s)."
                )
            if count and modality not in self.encoders:
                raise ValueError(
                    f"sample {who} has a {modality} but the model has no encoder for it; add "
                    f"encoders=dict({modality}=...) to the model config."
                )

    def encode_modality(self, modality: str, items: list[Any]) -> tuple[Tensor, Tensor]:
        """``(tokens (m, t, d), valid (m, t))`` in the LLM's embedding space for ``m`` items.

        Items read from a feature cache (:class:`~octavius.features.cached_features.CachedFeatures`)
        skip the encoder's frozen part: only ``from_frozen_features`` runs, after checking that
        the cache was written by this encoder (same frozen weights and settings).
        """
        encoder = self.encoders[modality]
        cached = [isinstance(item, CachedFeatures) for item in items]
        if any(cached):
            out = encoder.from_frozen_features(self._cached_tensors(modality, encoder, items))
        else:
            out = encoder(items)
        projector = self.projectors[modality]
        param = next(projector.parameters())
        tokens = projector(out.tokens.to(device=param.device, dtype=param.dtype))
        return tokens.to(self.llm.get_input_embeddings().weight.dtype), out.mask.to(tokens.device)

    def _cached_tensors(
        self, modality: str, encoder: BaseEncoder, items: list[Any]
    ) -> list[dict[str, Tensor]]:
        """The tensors of cached items, refused if any item is not cached or is stale."""
        from octavius.features.fingerprint import encoder_fingerprint

        if not all(isinstance(item, CachedFeatures) for item in items):
            raise ValueError(
                f"a batch mixes cached and live {modality} items; read every training dataset"
                " from the feature cache, or none."
            )
        ours = encoder_fingerprint(encoder)
        for item in items:
            if item.fingerprint != ours:
                raise ValueError(
                    f"feature cache {item.cache_dir} is stale for model.encoders.{modality}: its"
                    f" entry {item.key} ({item.source}) was written by an encoder with fingerprint"
                    f" {item.fingerprint[:12]}, this {type(encoder).__name__} has {ours[:12]}"
                    " (its frozen weights or settings changed); re-run python"
                    " tools/data/cache_features.py CONFIG."
                )
        return [item.tensors for item in items]

    def routing_context(
        self,
        batch: SplicedBatch,
        inputs: Mapping[str, Any],
        data_samples: Sequence[Mapping[str, Any]] | None,
    ) -> RoutingContext:
        """The routing signals of a batch (see the class docstring)."""
        task_ids = inputs.get("task_ids")
        return RoutingContext(
            attention_mask=batch.attention_mask,
            question_mask=batch.question_mask,
            inputs_embeds=batch.inputs_embeds,
            task_ids=task_ids.to(batch.attention_mask.device)
            if isinstance(task_ids, Tensor)
            else task_ids,
            task_names=[str(s.get("task_type", "")) for s in data_samples]
            if data_samples
            else None,
            task_definitions=[s.get("task_definition") or None for s in data_samples]
            if data_samples
            else None,
            datasets=[str(s.get("dataset") or s.get("source") or "") for s in data_samples]
            if data_samples
            else None,
            text_encoder=self.text_encoder,
            recorder=self.routing_recorder,
        )

    def _run_llm(self, batch: SplicedBatch) -> Tensor:
        out = self.llm(
            inputs_embeds=batch.inputs_embeds,
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
            use_cache=False,
        )
        return out.logits

    # ------------------------------------------------------------------ modes
    def forward(
        self,
        inputs: Mapping[str, Any],
        data_samples: Sequence[Mapping[str, Any]] | None = None,
        mode: str = "tensor",
    ) -> Any:
        """mmengine entry point; ``mode`` is ``"loss"``, ``"predict"`` or ``"tensor"``."""
        if mode == "loss":
            return self.loss(inputs, data_samples)
        if mode == "predict":
            return self.predict(inputs, data_samples)
        if mode == "tensor":
            batch = self.prepare_inputs(inputs, data_samples)
            with use_routing_context(self.routing_context(batch, inputs, data_samples)):
                return self._run_llm(batch)
        raise ValueError(f"MultimodalLLM.forward: mode must be one of {_MODES}, got {mode!r}.")

    def loss(
        self, inputs: Mapping[str, Any], data_samples: Sequence[Mapping[str, Any]] | None = None
    ) -> dict[str, Tensor]:
        """Next-token cross-entropy on response tokens, plus weighted auxiliary losses.

        Returns:
            ``loss_lm`` (mean over the batch's response tokens), and ``loss_<name>`` (or
            ``aux_<name>`` at weight 0) per router auxiliary loss.
        """
        batch = self.prepare_inputs(inputs, data_samples)
        ctx = self.routing_context(batch, inputs, data_samples)
        with use_routing_context(ctx):
            logits = self._run_llm(batch)  # (b, n, V)
        targets = batch.labels[:, 1:]
        if not bool((targets != IGNORE_INDEX).any()):
            raise ValueError("the batch has no response token to train on (every label is -100).")
        loss_lm = F.cross_entropy(
            logits[:, :-1].flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX
        )
        losses = {"loss_lm": loss_lm}
        for name, value in ctx.reduced_aux_losses().items():
            weight = self.aux_loss_weights.get(name, 1.0)
            if weight == 0:
                losses[f"aux_{name}"] = value.detach()
            else:
                losses[name if name.startswith("loss") else f"loss_{name}"] = weight * value
        return losses

    def generate(
        self,
        inputs: Mapping[str, Any],
        data_samples: Sequence[Mapping[str, Any]] | None = None,
        **generation_kwargs: Any,
    ) -> GenerationResult:
        """Answers to a batch of prompts (routing decided once per sample, at the prompt).

        See :func:`octavius.inference.generate.generate_batch` (``routing=``, ``merge=``,
        ``return_routing=``, ``streamer=``, ``seed=`` and ``transformers.GenerationConfig``
        fields).

        Args:
            inputs: the data preprocessor's ``inputs`` or its whole output (any padding side).
            data_samples: the samples' metadata (task names and definitions for routing).
        """
        from octavius.inference.generate import generate_batch

        return generate_batch(self, inputs, data_samples, **generation_kwargs)

    def chat(self, prompt: str, **kwargs: Any) -> Any:
        """Answer one message; see :func:`octavius.inference.chat.chat` (``image=``,
        ``point_cloud=``, ``history=``, ``task=``, ``routing=``, generation settings)."""
        from octavius.inference.chat import chat

        return chat(self, prompt, **kwargs)

    def predict(
        self, inputs: Mapping[str, Any], data_samples: Sequence[Mapping[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """Generate and return the data samples with ``pred_text``, ``pred_token_ids`` and
        ``pred_truncated`` (the answer hit its ``max_new_tokens`` without ending)."""
        result = self.generate(inputs, data_samples)
        samples = [dict(s) for s in data_samples] if data_samples else [{} for _ in result.texts]
        for sample, text, ids, cut in zip(
            samples, result.texts, result.token_ids, result.truncated
        ):
            sample["pred_text"] = text
            sample["pred_token_ids"] = ids
            sample["pred_truncated"] = cut
        return samples

    # ------------------------------------------------------------------ model directory
    def save_pretrained(self, out_dir: str | os.PathLike, **kwargs: Any) -> Path:
        """Write a self-contained model directory (see :mod:`octavius.models.pretrained_dir`)."""
        from octavius.models.pretrained_dir import save_pretrained

        return save_pretrained(self, out_dir, **kwargs)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, **kwargs: Any) -> MultimodalLLM:
        """Load a directory written by :meth:`save_pretrained`, without the original config."""
        from octavius.models.pretrained_dir import from_pretrained

        return from_pretrained(directory, **kwargs)
