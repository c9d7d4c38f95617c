"""Inference requests: a message, its image / point cloud, its history and routing → a model batch.

As in LLaVA's CLI, an image given without an ``<image>`` placeholder in the conversation is put
before the message (``<image>\\n{message}``); likewise ``<point_cloud>``. Point clouds are
``.npy`` files (N×6, xyz + rgb) or the encoder items :class:`~octavius.data.LoadPointCloud`
produces; images are paths or PIL images.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from octavius.data.annotation_records import Turn
from octavius.data.point_io import load_points
from octavius.data.tasks import TASK_DEFINITIONS, normalize_task, task_id_map
from octavius.data.tokenizer import PLACEHOLDERS
from octavius.inference.pinning import PinnedRouting, parse_pin
from octavius.inference.prompting import encode_prompt

__all__ = [
    "InferenceRequest",
    "build_batch",
    "conversation_turns",
    "history_turns",
    "load_image",
    "load_point_cloud",
]


@dataclass
class InferenceRequest:
    """One question to answer.

    Attributes:
        prompt: the user's message.
        images: image paths or PIL images.
        point_clouds: ``.npy`` paths or point-cloud encoder items.
        history: earlier turns, ``[(user, assistant), ...]`` or ``[{"role", "content"}, ...]``.
        task: task type (system prompt, task id and definition for routing).
        routing: ``{"experts": [...], "weights": [...]}`` to pin the experts, or
            ``{"task": name}`` to route as that task (e.g. under the individual gate).
        request_id: carried into the data sample (``sample_id``).
    """

    prompt: str
    images: Sequence[Any] = ()
    point_clouds: Sequence[Any] = ()
    history: Sequence[Any] = ()
    task: str = "conversation"
    routing: PinnedRouting | Mapping[str, Any] | None = None
    request_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def history_turns(history: Sequence[Any]) -> list[Turn]:
    """Turns from ``[(user, assistant), ...]`` pairs or ``[{"role", "content"}, ...]`` messages."""
    turns: list[Turn] = []
    for item in history:
        if isinstance(item, Turn):
            turns.append(item)
        elif isinstance(item, Mapping):
            role = {"human": "user", "gpt": "assistant"}.get(item["role"], item["role"])
            turns.append(Turn(role, str(item.get("content", item.get("text", "")))))
        else:
            user, assistant = item
            turns += [Turn("user", str(user)), Turn("assistant", str(assistant))]
    bad = [t.role for t in turns if t.role not in ("user", "assistant")]
    if bad:
        raise ValueError(f"history roles must be user/assistant, got {bad}.")
    return turns


def load_image(image: Any) -> Any:
    """A PIL RGB image from a path (PIL images pass through)."""
    if isinstance(image, (str, os.PathLike)):
        from PIL import Image

        path = Path(image).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"image file not found: {path}")
        with Image.open(path) as handle:
            return handle.convert("RGB")
    return image


def load_point_cloud(item: Any) -> dict[str, Any]:
    """The point-cloud encoder item of a ``.npy`` file (scene id = file stem, no boxes)."""
    if isinstance(item, Mapping):
        return dict(item)
    path = Path(item).expanduser()
    return {
        "points": torch.from_numpy(load_points(path)),
        "boxes": None,
        "scene_id": path.stem,
        "use_instance_boxes": False,
    }


def _with_placeholders(turns: list[Turn], modality: str, count: int) -> list[Turn]:
    token = PLACEHOLDERS[modality]
    present = sum(t.text.count(token) for t in turns if t.role == "user")
    if present > count:
        raise ValueError(
            f"the conversation has {present} {token} placeholder(s) but {count} {modality} item(s)."
        )
    if present < count:
        last = turns[-1]
        turns[-1] = Turn("user", f"{token}\n" * (count - present) + last.text)
    return turns


def conversation_turns(request: InferenceRequest) -> list[Turn]:
    """The request's history and message as turns, with the modality placeholders in place."""
    turns = [*history_turns(request.history), Turn("user", request.prompt)]
    turns = _with_placeholders(turns, "image", len(request.images))
    return _with_placeholders(turns, "point_cloud", len(request.point_clouds))


def _task_and_pin(request: InferenceRequest) -> tuple[str, PinnedRouting | None]:
    routing = request.routing
    if isinstance(routing, Mapping) and "task" in routing:
        if set(routing) != {"task"}:
            raise ValueError(f"a task pin is {{'task': name}} alone, got {dict(routing)!r}.")
        return normalize_task(str(routing["task"])), None
    return normalize_task(request.task), parse_pin(routing)


def build_batch(
    model: Any,
    requests: Sequence[InferenceRequest],
    template: Any = None,
    use_chat_template: bool | None = None,
) -> tuple[dict[str, Any], list[PinnedRouting | None]]:
    """The preprocessed batch of ``requests`` and their routing pins.

    Returns:
        ``({"inputs": ..., "data_samples": ...}, pins)`` — what :meth:`MultimodalLLM.generate`
        takes, and one pin (or ``None``) per request.
    """
    ids, qmasks, images, points, task_ids, samples, pins = [], [], [], [], [], [], []
    task_ids_by_name = task_id_map(None)
    for i, request in enumerate(requests):
        task, pin = _task_and_pin(request)
        turns = conversation_turns(request)
        encoded = encode_prompt(
            model.tokenizer, turns, task, template, use_chat_template=use_chat_template
        )
        ids.append(torch.tensor(encoded.input_ids, dtype=torch.long))
        qmasks.append(torch.tensor(encoded.question_mask, dtype=torch.bool))
        images.append([load_image(x) for x in request.images])
        points.append([load_point_cloud(x) for x in request.point_clouds])
        task_ids.append(task_ids_by_name.get(task, -1))
        samples.append(
            {
                "sample_id": request.request_id or f"#{i}",
                "task_type": task,
                "task_definition": TASK_DEFINITIONS.get(task, ""),
                "question": encoded.question,
            }
        )
        pins.append(pin)
    raw = {
        "inputs": {
            "input_ids": ids,
            "question_mask": qmasks,
            "images": images,
            "point_clouds": points,
            "task_ids": task_ids,
        },
        "data_samples": samples,
    }
    return model.data_preprocessor(raw, training=False), pins
