"""Batch answering: a questions file in, one JSON line per answer out, resumable.

The file formats follow LLaVA's ``llava/eval/model_vqa.py``: a question is a JSON line with
``question_id`` (or ``id``), ``text`` (or ``question`` / ``prompt``) and optionally ``image``
(a path or a list, relative to the questions file or ``image_root``), plus Octavius's
``point_cloud``, ``task`` (or ``task_type``), ``history`` and ``routing`` (a pin); an answer is
``{"question_id", "prompt", "text", "model_id", "routing", "metadata"}``. Answers are appended and
flushed to disk after every batch, so a run that is killed loses at most the batch in flight;
a rerun skips every id already answered (a torn last line is dropped first).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from octavius.inference.requests import InferenceRequest, build_batch

__all__ = ["answer_questions", "answered_ids", "read_questions"]

_TEXT_KEYS = ("text", "question", "prompt")


def _resolve(paths: Any, root: Path) -> list[str]:
    items = paths if isinstance(paths, list) else [] if paths is None else [paths]
    return [str(p if Path(p).is_absolute() else root / p) for p in items]


def read_questions(
    path: str | os.PathLike, media_root: str | os.PathLike | None = None
) -> list[dict[str, Any]]:
    """The questions of a JSONL file, with media paths resolved.

    Raises:
        ValueError: for a line that is not JSON, has no text, or repeats an id (naming the line).
    """
    path = Path(path)
    root = Path(media_root) if media_root is not None else path.parent
    questions, seen = [], set()
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number}: not a JSON line ({err}).") from err
            qid = raw.get("question_id", raw.get("id", f"{path.stem}#{number}"))
            text = next((raw[k] for k in _TEXT_KEYS if k in raw), None)
            if not isinstance(text, str):
                raise ValueError(f"{path}:{number}: no question text (keys {list(_TEXT_KEYS)}).")
            if str(qid) in seen:
                raise ValueError(f"{path}:{number}: question id {qid!r} appears twice.")
            seen.add(str(qid))
            questions.append(
                {
                    "question_id": qid,
                    "text": text,
                    "images": _resolve(raw.get("image"), root),
                    "point_clouds": _resolve(raw.get("point_cloud"), root),
                    "task": raw.get("task", raw.get("task_type", "conversation")),
                    "history": raw.get("history") or [],
                    "routing": raw.get("routing"),
                }
            )
    return questions


def answered_ids(path: str | os.PathLike) -> set[str]:
    """Ids already answered in ``path``; a torn last line (a killed run) is cut off the file."""
    path = Path(path)
    if not path.exists():
        return set()
    data = path.read_bytes()
    good = data.rfind(b"\n") + 1
    if good < len(data):
        with path.open("r+b") as handle:
            handle.truncate(good)
    done = set()
    for line in data[:good].decode("utf-8").splitlines():
        if line.strip():
            done.add(str(json.loads(line)["question_id"]))
    return done


def _batches(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def answer_questions(
    model: Any,
    questions: list[dict[str, Any]],
    output: str | os.PathLike,
    *,
    batch_size: int = 4,
    model_id: str = "",
    return_routing: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    generation: Mapping[str, Any] | None = None,
) -> dict[str, int]:
    """Answer every question not yet in ``output``, appending one JSON line per answer.

    Args:
        model: a :class:`~octavius.models.MultimodalLLM`.
        questions: from :func:`read_questions`.
        output: the answers file (created, or resumed).
        batch_size: questions per ``generate`` call.
        model_id: written with every answer.
        return_routing: write each answer's routing per layer.
        on_progress: called with ``(answered this run, still to answer at the start)``.
        generation: generation settings (``transformers.GenerationConfig`` fields, ``seed``,
            ``merge``).

    Returns:
        ``{"total", "skipped", "answered"}``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}.")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    done = answered_ids(output)
    todo = [q for q in questions if str(q["question_id"]) not in done]
    template = getattr(model, "conversation_template", None)
    answered = 0
    with output.open("a", encoding="utf-8") as handle:
        for chunk in _batches(todo, batch_size):
            requests = [
                InferenceRequest(
                    prompt=q["text"],
                    images=q["images"],
                    point_clouds=q["point_clouds"],
                    history=q["history"],
                    task=q["task"],
                    routing=q["routing"],
                    request_id=str(q["question_id"]),
                )
                for q in chunk
            ]
            batch, pins = build_batch(model, requests, template)
            result = model.generate(
                batch, routing=pins, return_routing=return_routing, **dict(generation or {})
            )
            for i, q in enumerate(chunk):
                record = {
                    "question_id": q["question_id"],
                    "prompt": q["text"],
                    "text": result.texts[i],
                    "model_id": model_id,
                    "routing": result.routing[i] if result.routing else None,
                    "metadata": {"task": q["task"], "num_tokens": len(result.token_ids[i])},
                }
                handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
            answered += len(chunk)
            if on_progress is not None:
                on_progress(answered, len(todo))
    return {"total": len(questions), "skipped": len(questions) - len(todo), "answered": answered}
