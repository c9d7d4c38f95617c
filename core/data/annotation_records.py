"""Reading LLaVA- and LAMM-style annotation files into normalised instruction records.

Accepted files: a JSON list of samples (``.json``) or one sample per line (``.jsonl``). A sample::

    {"id": "000001",                          # optional; default: "<file stem>#<line>"
     "image": "images/000001.png",            # LLaVA / LAMM 2D: a path or a list of paths
     "scene_id": "scene0000", "object_id": 2,  # LAMM 3D: the scene and, optionally, one instance
     "task_type": "detection",                # optional; default: the dataset's default_task
     "task_definition": "...",                # optional; default: the task's definition
     "conversations": [{"from": "human", "value": "<image>\\nWhat is ..."},
                       {"from": "gpt", "value": "..."}]}

Each ``<image>`` / ``<point_cloud>`` placeholder in the user turns marks where that modality's
tokens go; there must be exactly one per image and one per point cloud. The full description with
examples is docs/data_formats.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from octavius.data.errors import DataError
from octavius.data.scene_files import SceneResolver
from octavius.data.tasks import FALLBACK_TASK, TASK_DEFINITIONS, normalize_task
from octavius.data.tokenizer import PLACEHOLDERS

__all__ = ["RecordParser", "Turn", "iter_annotation_file"]

_USER_ROLES = {"human", "user"}
_ASSISTANT_ROLES = {"gpt", "assistant", "bot", "model"}
_POINT_KEYS = ("point_cloud", "pcl")
_CONSUMED = {
    "id",
    "image",
    "conversations",
    "scene_id",
    "object_id",
    "task_type",
    "task_definition",
    "boxes",
    *_POINT_KEYS,
}


@dataclass(frozen=True)
class Turn:
    """One message of a conversation: ``role`` is ``"user"`` or ``"assistant"``."""

    role: str
    text: str


def _undecodable(path: Path, err: UnicodeDecodeError, line: int) -> DataError:
    return DataError(
        "bad_encoding",
        f"bytes {err.object[err.start : err.end]!r} are not valid UTF-8 ({err.reason}); save the "
        "annotation file as UTF-8.",
        source=str(path),
        line=line,
    )


def iter_annotation_file(path: str | Path) -> Iterator[tuple[int | str, Any, DataError | None]]:
    """Yield ``(line, raw_sample, error)`` for every sample of a JSON or JSONL file.

    ``line`` is the 1-based line number in a JSONL file and ``"#i"`` (record index) in a JSON
    list. ``error`` is set (and ``raw_sample`` is ``None``) for a malformed JSONL line, so a
    caller can skip it; a JSON file that does not parse as a whole raises at once.

    Raises:
        DataError: the file is missing, or a ``.json`` file is not valid JSON or not a list.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            "missing_annotation", f"annotation file not found: {path}", source=str(path)
        )
    if path.suffix == ".jsonl":
        with path.open("rb") as handle:
            for number, raw_line in enumerate(handle, start=1):
                try:
                    text = raw_line.decode("utf-8")
                except UnicodeDecodeError as err:
                    yield number, None, _undecodable(path, err, number)
                    continue
                if not text.strip():
                    continue
                try:
                    yield number, json.loads(text), None
                except json.JSONDecodeError as err:
                    yield (
                        number,
                        None,
                        DataError(
                            "malformed_json",
                            f"malformed JSON line ({err.msg} at column {err.colno}); expected one JSON "
                            "object per line.",
                            source=str(path),
                            line=number,
                        ),
                    )
        return
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _undecodable(path, err, raw.count(b"\n", 0, err.start) + 1) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(
            "malformed_json",
            f"not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}); use a JSON list "
            "of samples, or .jsonl with one sample per line.",
            source=str(path),
            line=err.lineno,
        ) from err
    if isinstance(data, Mapping):  # mmengine's {"metainfo": ..., "data_list": [...]} layout
        data = data.get("data_list", data.get("annotations"))
    if not isinstance(data, list):
        raise DataError(
            "malformed_json",
            "expected a JSON list of samples (or {'data_list': [...]}).",
            source=str(path),
        )
    for index, raw in enumerate(data):
        yield f"#{index}", raw, None


@dataclass
class RecordParser:
    """Turns raw LLaVA / LAMM samples into the dicts an :class:`InstructionDataset` stores.

    Args:
        image_root: directory that relative image paths are resolved against.
        point_root: directory of ``<scene_id>.npy`` point clouds and ``<scene_id><box_suffix>``
            instance boxes.
        task_ids: known task name → id; a sample with another task type is an error.
        task_definitions: definition text per task (overrides the built-in ones).
        default_task: task type of samples without ``task_type``; with ``None`` they are
            ``"conversation"`` (LLaVA's instruction files have no task type); records say
            ``task_defaulted``.
        box_suffix: file-name suffix of the instance-box file of a scene.
        add_missing_placeholder: prepend the placeholder to the first user turn when a sample
            has a modality but no placeholder (LAMM 3D files have none); otherwise that is an
            error.
        check_files: check that image/point/box files exist and that point and box arrays
            have the right shape (headers only) while parsing.
        require_response: the conversation must end with an assistant turn (training).
        allow_xyz: accept ``(N, 3)`` xyz-only point files (LAMM's ShapeNet clouds); colours 0.
        feature_root: scenes are LAMM's precomputed object features under this root.
    """

    image_root: Path
    point_root: Path
    task_ids: Mapping[str, int]
    task_definitions: Mapping[str, str] = field(default_factory=dict)
    default_task: str | None = None
    box_suffix: str = "_boxes.npy"
    add_missing_placeholder: bool = False
    check_files: bool = True
    require_response: bool = True
    allow_xyz: bool = False
    feature_root: Path | None = None

    def __post_init__(self) -> None:
        self.scenes = SceneResolver(
            self.point_root, self.box_suffix, self.allow_xyz, self.check_files, self.feature_root
        )

    def parse(self, raw: Any, source: str, line: int | str) -> dict[str, Any]:
        """Parse and check one sample.

        Raises:
            DataError: naming ``source``, ``line`` and the sample id, on any problem.
        """
        sample_id = raw.get("id") if isinstance(raw, Mapping) else None
        sample_id = str(sample_id) if sample_id is not None else f"{Path(source).stem}:{line}"
        try:
            return self._parse(raw, sample_id, source, line)
        except DataError as err:
            raise err.at(source, line, sample_id) from None

    def _parse(self, raw: Any, sample_id: str, source: str, line: int | str) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            raise DataError(
                "malformed_sample", f"a sample must be a JSON object, got {type(raw).__name__}."
            )
        turns = self._turns(raw.get("conversations"))
        images = self._images(raw.get("image"))
        scene = self.scenes.resolve(raw)
        turns = self._placeholders(
            turns, {"image": len(images), "point_cloud": int(scene.point_path is not None)}
        )
        task, defaulted = self._task(raw)
        definition = (
            raw.get("task_definition")
            or self.task_definitions.get(task)
            or TASK_DEFINITIONS.get(task, "")
        )
        return {
            "sample_id": sample_id,
            "source": source,
            "line": line,
            "turns": [(t.role, t.text) for t in turns],
            "image_paths": images,
            "point_path": scene.point_path,
            "point_format": scene.point_format,
            "boxes_path": scene.boxes_path,
            "boxes": raw.get("boxes"),
            "scene_id": scene.scene_id,
            "object_id": scene.object_id,
            "object_name": scene.object_name,
            "task_type": task,
            "task_defaulted": defaulted,
            "task_id": self.task_ids[task],
            "task_definition": str(definition),
            "extra": self._extra(raw),
        }

    def _turns(self, conversations: Any) -> list[Turn]:
        if not isinstance(conversations, list) or not conversations:
            raise DataError(
                "malformed_sample",
                "'conversations' must be a non-empty list of {'from': ..., 'value': ...} messages.",
            )
        turns = []
        for i, message in enumerate(conversations):
            if not isinstance(message, Mapping) or not isinstance(message.get("value"), str):
                raise DataError(
                    "malformed_sample", f"conversations[{i}] must have a string 'value'."
                )
            speaker = str(message.get("from", "")).lower()
            if speaker in _USER_ROLES:
                role = "user"
            elif speaker in _ASSISTANT_ROLES:
                role = "assistant"
            else:
                raise DataError(
                    "malformed_sample",
                    f"conversations[{i}] has 'from': {message.get('from')!r}; expected 'human'/'user' "
                    "or 'gpt'/'assistant'.",
                )
            expected = "user" if i % 2 == 0 else "assistant"
            if role != expected:
                raise DataError(
                    "malformed_sample",
                    f"conversations[{i}] is a {role} turn where a {expected} turn was expected; "
                    "turns must alternate, starting with the user.",
                )
            turns.append(Turn(role, message["value"]))
        if self.require_response and turns[-1].role != "assistant":
            raise DataError(
                "malformed_sample", "the conversation must end with an assistant response."
            )
        return turns

    def _images(self, image: Any) -> list[str]:
        if image is None:
            return []
        names = [image] if isinstance(image, str) else image
        if not isinstance(names, Sequence) or not all(isinstance(n, str) and n for n in names):
            raise DataError(
                "malformed_sample", f"'image' must be a path or a list of paths, got {image!r}."
            )
        paths = [str(self.image_root / n) for n in names]
        if self.check_files:
            for path in paths:
                if not Path(path).is_file():
                    raise DataError("missing_image", f"image file not found: {path}")
        return paths

    def _placeholders(self, turns: list[Turn], counts: dict[str, int]) -> list[Turn]:
        for modality, expected in counts.items():
            token = PLACEHOLDERS[modality]
            if any(token in t.text for t in turns if t.role == "assistant"):
                raise DataError(
                    "placeholder_in_response",
                    f"a response contains the placeholder {token}; placeholders belong in user turns.",
                )
            found = sum(t.text.count(token) for t in turns)
            if found == expected:
                continue
            if found == 0 and expected == 1 and self.add_missing_placeholder:
                first = turns[0]
                turns = [Turn(first.role, f"{token}\n{first.text}"), *turns[1:]]
                continue
            name = "image" if modality == "image" else "point cloud"
            if found == 0:
                raise DataError(
                    "missing_placeholder",
                    f"the sample has {expected} {name}(s) but no {token} placeholder in its "
                    f"conversation; put {token} where the {name} goes (or set add_missing_placeholder=True).",
                )
            reason = "too_many_images" if expected > found else "too_many_placeholders"
            raise DataError(
                reason,
                f"the sample has {expected} {name}(s) but {found} {token} placeholder(s); "
                "each needs exactly one placeholder.",
            )
        return turns

    def _task(self, raw: Mapping[str, Any]) -> tuple[str, bool]:
        """The sample's task and whether it came from the default (no ``task_type``)."""
        given = raw.get("task_type")
        defaulted = not given
        if defaulted:
            given = self.default_task or FALLBACK_TASK
        task = normalize_task(given)
        if task not in self.task_ids:
            raise DataError(
                "unknown_task",
                f"task type {given!r} is not one of the known tasks {sorted(self.task_ids)}; "
                "add it to the dataset's `tasks`.",
            )
        return task, defaulted

    @staticmethod
    def _extra(raw: Mapping[str, Any]) -> dict[str, Any]:
        """Fields no one consumed, and the task type as the file spells it (``source_task``)."""
        extra = {k: v for k, v in raw.items() if k not in _CONSUMED}
        if raw.get("task_type"):
            extra["source_task"] = raw["task_type"]
        return extra
