"""The Vicuna v1 conversation template with per-task system prompts (LAMM / Octavius Fig. 4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from octavius.data.annotation_records import Turn
from octavius.data.tasks import SYSTEM_PROMPTS
from octavius.data.templates import BaseTemplate, Segment
from octavius.registry import TEMPLATES

__all__ = ["VicunaV1"]


@TEMPLATES.register_module()
class VicunaV1(BaseTemplate):
    """Vicuna v1: ``<s>{system} USER: {q1} ASSISTANT: {a1}</s>USER: {q2} ASSISTANT: {a2}</s>``.

    As in LLaVA's ``conv_vicuna_v1``; the system prompt depends on the sample's task as in LAMM and
    Octavius (Fig. 4: system prompt, modality tokens, question, response). Labels cover the
    responses and their ``</s>``; the question mask covers the user turns' text.

    Args:
        system_prompts: task → system prompt, merged over the built-in ones
            (:data:`octavius.data.tasks.SYSTEM_PROMPTS`); the ``"default"`` entry serves tasks
            without one.
        per_task_system: use each task's system prompt; ``False`` always uses ``"default"``.
        roles: the user and assistant role names.
    """

    def __init__(
        self,
        system_prompts: Mapping[str, str] | None = None,
        per_task_system: bool = True,
        roles: Sequence[str] = ("USER", "ASSISTANT"),
    ) -> None:
        if len(roles) != 2 or not all(isinstance(r, str) and r for r in roles):
            raise ValueError(
                f"VicunaV1: roles must be two non-empty names (user, assistant), got {roles!r}."
            )
        self.system_prompts = {**SYSTEM_PROMPTS, **dict(system_prompts or {})}
        if "default" not in self.system_prompts:
            raise ValueError("VicunaV1: system_prompts needs a 'default' entry.")
        self.per_task_system = per_task_system
        self.user, self.assistant = roles

    def system_prompt(self, task: str) -> str:
        """The system prompt used for ``task``."""
        if self.per_task_system and task in self.system_prompts:
            return self.system_prompts[task]
        return self.system_prompts["default"]

    def segments(
        self, turns: Sequence[Turn], task: str, add_generation_prompt: bool
    ) -> list[Segment]:
        """``bos``, system, then per turn pair: role names (context), question, response + ``eos``."""
        segments = [Segment("bos"), Segment("context", self.system_prompt(task) + " ")]
        for turn in turns:
            if turn.role == "user":
                segments.append(Segment("context", f"{self.user}: "))
                segments.append(Segment("question", turn.text))
                segments.append(Segment("context", f" {self.assistant}:"))
            else:
                segments.append(Segment("response", f" {turn.text}"))
                segments.append(Segment("eos"))
        if not add_generation_prompt and turns and turns[-1].role == "user":
            raise ValueError("VicunaV1: a training conversation must end with an assistant turn.")
        return segments
