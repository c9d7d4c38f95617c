"""Task-specific routing from an embedding of the task definition text (MixLoRA appendix A)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from octavius.adapters.base_router import BaseRouter
from octavius.adapters.builders import build_text_encoder
from octavius.adapters.context import RoutingContext
from octavius.adapters.decision import FactorSelection, RoutingDecision
from octavius.adapters.pool_and_topk import top_k_renormalised
from octavius.adapters.routing_literals import InputSource, Level
from octavius.registry import ROUTERS


class MissingTaskDefinitionError(ValueError):
    """A sample routed by its task definition has none, and the config names no fallback."""


#: ``ctx.features`` key of the task-definition embeddings made by ``ctx.text_encoder``.
CONTEXT_EMBEDDINGS = "task_definition_embeddings"


@ROUTERS.register_module()
class TaskEmbeddingRouter(BaseRouter):
    """Chooses experts or factors from the sample's task definition, not from its content.

    MixLoRA appendix A (eq. 10) replaces the IFS router's input by ``Avg(f_φ(z))``, a frozen
    language model's embedding of the task definition ``z`` (e.g. OK-VQA: "Answer the question in
    natural language based on the content of the image. …"), then proceeds as eq. 6:
    ``top_k(softmax(W · f_φ(z)))``. The encoder ``f_φ`` is, by default, ``ctx.text_encoder``,
    which the model sets to the LLM's own mean hidden state (the paper's choice; its size is the
    LLM hidden size, which injection passes as ``in_features`` for ``input_source="embeddings"``);
    with ``text_encoder=dict(type=...)`` any encoder of the ``TEXT_ENCODERS`` registry is used
    instead (e.g. :class:`HashingTextEncoder`), and its ``embed_dim`` sets the input size.

    Embeddings are cached per distinct definition string: the encoder is frozen, so each text is
    encoded once for the router's lifetime (call :meth:`clear_cache` after swapping the encoder).
    Embeddings made by ``ctx.text_encoder`` are also kept in ``ctx.features`` for the call, so
    per-layer routers do not encode the batch once per layer.
    Samples of one task therefore always get the same choice — at every layer when the router is
    shared globally, which is the paper's setting.

    **Experts or factors.** The decision chooses ``top_k`` of ``num_experts`` choices, whatever
    they are: ``top_k`` LoRA experts of a :class:`LoRAExperts` bank (weighted sum, Octavius eq.
    3), or ``top_k = r`` factor pairs ``(a_e, b_e)`` of a :class:`LoRAFactorPool`, each a rank-1
    expert ``b_e a_eᵀ`` (eq. 4). With ``separate_b=True`` (factor pools only) a second head
    ``W_B`` picks B's factors independently from the same embedding, the paper's two IFS routers
    fed with eq. 10. The weights are the renormalised top-k probabilities, which carry the
    router's gradient.

    **Samples without a definition** (``None`` or blank in ``ctx.task_definitions``) are an
    error naming their dataset (``ctx.datasets``), unless the config names the text to use
    instead (``fallback_definition``). The official release silently routes every task it has no
    definition for by the string ``"None"`` (VT-NLP/MixLoRA ``llava/utils.py`` l. 680–687), so
    all of them share one routing.

    Args:
        in_features: size of ``ctx.text_encoder``'s embeddings (the LLM hidden size); unused
            when ``text_encoder`` is given.
        num_experts: how many experts or factors to choose among.
        top_k: how many to choose per sample (the pool's rank for a factor pool).
        text_encoder: config of a registered text encoder; ``None`` uses ``ctx.text_encoder``.
        separate_b: choose a factor pool's B factors with their own head.
        fallback_definition: the text routing samples without a task definition; ``None``
            (default) makes a missing definition an error.
    """

    level: ClassVar[Level] = "instance"
    input_source: ClassVar[InputSource] = "embeddings"

    def __init__(
        self,
        in_features: int,
        num_experts: int,
        top_k: int = 2,
        text_encoder: Mapping[str, Any] | None = None,
        separate_b: bool = False,
        fallback_definition: str | None = None,
    ) -> None:
        super().__init__(in_features, num_experts)
        if not (isinstance(top_k, int) and 1 <= top_k <= num_experts):
            raise ValueError(
                f"TaskEmbeddingRouter: top_k must be an integer in [1, num_experts={num_experts}], "
                f"got {top_k!r}."
            )
        if fallback_definition is not None and not (
            isinstance(fallback_definition, str) and fallback_definition.strip()
        ):
            raise ValueError(
                "TaskEmbeddingRouter: fallback_definition must be a non-empty text or None (a "
                f"missing definition is then an error), got {fallback_definition!r}."
            )
        self.top_k = top_k
        self.separate_b = bool(separate_b)
        self.fallback_definition = fallback_definition
        self.text_encoder = None if text_encoder is None else build_text_encoder(text_encoder)
        if self.text_encoder is not None:
            self.text_encoder.requires_grad_(False)
        self.embed_dim = in_features if self.text_encoder is None else self.text_encoder.embed_dim
        self.proj = nn.Linear(self.embed_dim, num_experts, bias=False)  # W (W_A)
        self.proj_b = nn.Linear(self.embed_dim, num_experts, bias=False) if separate_b else None
        self._cache: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor, ctx: RoutingContext | None) -> RoutingDecision:
        """Route each sample by its task definition.

        Shapes: ``b`` batch, ``n`` tokens, ``d`` embedding size, ``e`` choices, ``k`` top-k.

        Args:
            x: ``(b, n, ·)`` the layer input; only its batch size is used.
            ctx: routing context with ``task_definitions`` (``b`` strings) and, without a
                configured encoder, ``text_encoder``.

        Returns:
            Instance decision, ``indices``/``weights`` ``(b, k)``, ``probs`` ``(b, e)``; with
            ``separate_b``, B's choice in ``factors``.

        Raises:
            MissingTaskDefinitionError: a sample has no definition and there is no fallback.
        """
        definitions = self.require(ctx, "task_definitions")
        if isinstance(definitions, str) or len(definitions) != x.shape[0]:
            raise ValueError(
                f"TaskEmbeddingRouter: ctx.task_definitions must hold one string per sample "
                f"({x.shape[0]}), got {definitions!r:.200}."
            )
        definitions = self.resolve_definitions(definitions, ctx)
        if self.text_encoder is not None:
            embeddings = self.embed(list(definitions), self.text_encoder)  # (b, d)
        else:
            # Every router reading ctx.text_encoder in this call shares one lookup.
            embeddings = ctx.features.get(CONTEXT_EMBEDDINGS)
            if embeddings is None:
                encoder = self.require(ctx, "text_encoder")
                embeddings = self.embed(list(definitions), encoder)
                ctx.features[CONTEXT_EMBEDDINGS] = embeddings
            if embeddings.shape[-1] != self.embed_dim:
                raise ValueError(
                    f"TaskEmbeddingRouter: ctx.text_encoder makes {embeddings.shape[-1]}-d "
                    f"embeddings but this router reads {self.embed_dim}-d ones; set in_features "
                    "to the encoder's embedding size (the LLM hidden size)."
                )
            embeddings = embeddings.to(self.proj.weight.device, self.proj.weight.dtype)
        probs = self.proj(embeddings).float().softmax(dim=-1)  # (b, e)
        weights, indices = top_k_renormalised(probs, self.top_k)  # (b, k)
        factors = None
        if self.proj_b is not None:
            probs_b = self.proj_b(embeddings).float().softmax(dim=-1)
            weights_b, indices_b = top_k_renormalised(probs_b, self.top_k)
            factors = FactorSelection.chosen(indices_b, weights_b, probs_b)
        return RoutingDecision(
            level="instance", indices=indices, weights=weights, probs=probs, factors=factors
        )

    def resolve_definitions(
        self, definitions: list[str | None], ctx: RoutingContext | None
    ) -> list[str]:
        """Each sample's definition, the fallback for missing ones, or an error naming them."""
        missing = [i for i, t in enumerate(definitions) if not (isinstance(t, str) and t.strip())]
        if not missing:
            return list(definitions)
        if self.fallback_definition is not None:
            return [
                self.fallback_definition if i in missing else t for i, t in enumerate(definitions)
            ]
        datasets = None if ctx is None else ctx.datasets
        where = sorted({str(datasets[i]) for i in missing}) if datasets else ["<unknown dataset>"]
        raise MissingTaskDefinitionError(
            f"TaskEmbeddingRouter: sample(s) {missing} of dataset(s) {where} have no task "
            "definition; every sample needs a non-empty task definition (MixLoRA appendix A "
            "routes on it). Give those samples a "
            "'task_definition', give the dataset task_definitions={task: text}, or set the "
            "router config's fallback_definition='...' to route them all by one text."
        )

    def embed(
        self, definitions: list[str], encoder: Callable[[list[str]], torch.Tensor]
    ) -> torch.Tensor:
        """``(b, d)`` frozen embeddings of ``definitions``, encoding only texts not seen before."""
        for i, text in enumerate(definitions):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(
                    f"TaskEmbeddingRouter: the task definition of sample {i} is {text!r}; every "
                    "sample needs a non-empty task definition text."
                )
        missing = list(dict.fromkeys(t for t in definitions if t not in self._cache))
        if missing:
            with torch.no_grad():
                encoded = encoder(missing)
            if not (
                isinstance(encoded, torch.Tensor)
                and encoded.shape == (len(missing), self.embed_dim)
            ):
                shape = tuple(encoded.shape) if isinstance(encoded, torch.Tensor) else type(encoded)
                raise ValueError(
                    f"TaskEmbeddingRouter: the text encoder returned {shape} for {len(missing)} "
                    f"texts; expected ({len(missing)}, {self.embed_dim}). Set in_features to the "
                    "encoder's embedding size (the LLM hidden size for ctx.text_encoder)."
                )
            for text, row in zip(missing, encoded.detach()):
                self._cache[text] = row
        weight = self.proj.weight
        return torch.stack([self._cache[t] for t in definitions]).to(weight.device, weight.dtype)

    def clear_cache(self) -> None:
        """Forget the cached embeddings (after changing the text encoder)."""
        self._cache.clear()

    def condition(self, decision: RoutingDecision, experts: nn.Module) -> RoutingDecision:
        """Check that the bank can take this decision; the choice itself is unchanged."""
        if self.separate_b and not getattr(experts, "accepts_factor_selection", False):
            raise TypeError(
                "TaskEmbeddingRouter(separate_b=True) chooses A and B factors separately and "
                f"needs a factor pool such as LoRAFactorPool, got {type(experts).__name__}; set "
                "separate_b=False."
            )
        return decision

    @classmethod
    def example_config(cls) -> dict[str, Any]:
        """Top-2 with the offline hashing encoder, so no ``ctx.text_encoder`` is needed."""
        return {"top_k": 2, "text_encoder": {"type": "HashingTextEncoder", "embed_dim": 32}}

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, top_k={self.top_k}, embed_dim={self.embed_dim}, "
            f"separate_b={self.separate_b}"
        )
