"""``model.chat(prompt, image=..., point_cloud=..., history=...)``: one answer, optionally streamed."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from octavius.inference.pinning import PinnedRouting
from octavius.inference.requests import InferenceRequest, build_batch, conversation_turns

__all__ = ["ChatResponse", "chat", "stream_chat"]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


@dataclass
class ChatResponse:
    """An answer and the conversation it extends.

    Attributes:
        text: the answer.
        history: the conversation including this exchange, ``[{"role", "content"}, ...]``.
        token_ids: the generated ids.
        routing: ``{layer: {experts, weights, ...}}`` when asked for (``return_routing=True``).
    """

    text: str
    history: list[dict[str, str]] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)
    routing: dict[str, Any] | None = None


def _request(prompt: str, **kwargs: Any) -> InferenceRequest:
    return InferenceRequest(
        prompt=prompt,
        images=_as_list(kwargs.get("image")),
        point_clouds=_as_list(kwargs.get("point_cloud")),
        history=list(kwargs.get("history") or ()),
        task=kwargs.get("task") or "conversation",
        routing=kwargs.get("routing"),
    )


def _history(request: InferenceRequest, answer: str) -> list[dict[str, str]]:
    messages = [{"role": t.role, "content": t.text} for t in conversation_turns(request)]
    return [*messages, {"role": "assistant", "content": answer}]


def chat(
    model: Any,
    prompt: str,
    *,
    image: Any = None,
    point_cloud: Any = None,
    history: Sequence[Any] | None = None,
    task: str = "conversation",
    routing: PinnedRouting | Mapping[str, Any] | None = None,
    template: Any = None,
    use_chat_template: bool | None = None,
    return_routing: bool = False,
    streamer: Any = None,
    **generation_kwargs: Any,
) -> ChatResponse:
    """Answer ``prompt`` in the conversation ``history``.

    Args:
        model: a :class:`~octavius.models.MultimodalLLM`.
        prompt: the user's message.
        image: an image path or PIL image (or a list); placed as ``<image>\\n`` before the
            message unless the conversation already has its placeholder.
        point_cloud: a ``.npy`` path or encoder item (or a list), like ``image``.
        history: earlier turns (``(user, assistant)`` pairs or role/content messages); the
            images of earlier turns must be passed again with their placeholders kept.
        task: the task type (system prompt and routing signals).
        routing: pin the experts (``{"experts": [...], "weights": [...]}``) or the task
            (``{"task": name}``).
        template: the configured conversation template (used when the tokenizer has no chat
            template of its own); defaults to the template the model was loaded with.
        use_chat_template: force or forbid the tokenizer's chat template.
        return_routing: return the answer's routing per layer.
        streamer: a transformers streamer fed with the answer's tokens.
        **generation_kwargs: ``transformers.GenerationConfig`` fields and ``seed``/``merge``.
    """
    request = _request(
        prompt, image=image, point_cloud=point_cloud, history=history, task=task, routing=routing
    )
    template = template if template is not None else getattr(model, "conversation_template", None)
    batch, pins = build_batch(model, [request], template, use_chat_template)
    result = model.generate(
        batch,
        routing=pins,
        return_routing=return_routing,
        streamer=streamer,
        **generation_kwargs,
    )
    return ChatResponse(
        text=result.texts[0],
        history=_history(request, result.texts[0]),
        token_ids=result.token_ids[0],
        routing=result.routing[0] if result.routing else None,
    )


def stream_chat(model: Any, prompt: str, **kwargs: Any) -> tuple[Iterator[str], Any]:
    """Start :func:`chat` in a thread; returns ``(text pieces as they come, wait)``.

    ``wait()`` joins the thread and returns the :class:`ChatResponse` (or raises its error).
    """
    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(model.tokenizer, skip_prompt=True, skip_special_tokens=True)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["response"] = chat(model, prompt, streamer=streamer, **kwargs)
        except BaseException as err:  # re-raised by wait() in the caller's thread
            box["error"] = err
            streamer.end()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def wait() -> ChatResponse:
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["response"]

    return iter(streamer), wait
