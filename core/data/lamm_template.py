"""The "### Human / ### Assistant" template Octavius trains and tests with (LAMM's default).

OpenGVLab/LAMM: ``train_octavius_slurm.sh`` passes ``--conv_template default --use_system``;
``conversations.default_conversation`` is ``conv_v1_2`` (roles ``Human``/``Assistant``, separator
``###``); ``make_prompt_start`` (``src/model/Octavius/octavius.py``) and ``build_one_instance``
(``src/model/LAMM/openlamm.py``) lay a training sample out as::

    <s>{system}\\n\\n### Human: <Img>{image}</Img> {q1}\\n### Assistant: {a1}\\n###Human: {q2}\\n### Assistant: {a2}\\n###

with LAMM's per-task system message (:mod:`octavius.data.lamm_system_messages`), and a test
prompt without it (``prepare_generation_embedding``: "no system header in test")::

    <s>### Human: <Img>{image}</Img> {q}\\n### Assistant:

Labels cover each answer and its ``\\n###``. The release stops decoding on ``###`` with a stopping
criterion; here an ``</s>`` follows the ``\\n###`` of every answer (labelled too) so decoding stops
on the EOS token, and the generation config's ``stop_strings=["###"]`` cuts the separator off
the answer as the release's ``split("###")[0]`` does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from octavius.data.annotation_records import Turn
from octavius.data.lamm_system_messages import LAMM_SYSTEM_MESSAGES, lamm_task_key
from octavius.data.templates import BaseTemplate, Segment
from octavius.data.tokenizer import PLACEHOLDERS
from octavius.registry import TEMPLATES

__all__ = ["QUESTION_TURNS", "LAMMTemplate"]

#: Which user turns the question mask covers.
QUESTION_TURNS = ("first", "all")

#: LAMM's start/end-of-vision tags (``VISION_TAGS`` in ``openlamm.py``).
_TAGS = {"image": ("<Img>", "</Img>"), "point_cloud": ("<Pcl>", "</Pcl>")}
_MODALITY = {p: m for m, p in PLACEHOLDERS.items()}
_PLACEHOLDER_RE = re.compile(
    r"\n?(" + "|".join(re.escape(p) for p in PLACEHOLDERS.values()) + r")\n?"
)


@TEMPLATES.register_module()
class LAMMTemplate(BaseTemplate):
    """LAMM/Octavius ``### Human: … ### Assistant: …`` conversations (see the module docstring).

    The placeholders of a user turn move to its start, each inside its modality's tags, as LAMM
    puts the vision tokens before the question.

    Args:
        use_system: start training samples with the task's system message (``--use_system``).
        system_at_test: also start generation prompts with it (the release does not).
        system_messages: LAMM task name → message, merged over LAMM's own.
        question_turns: ``"first"`` marks the first user turn in the question mask — what the
            release's gate pools (``moe_set_gate`` embeds ``conversation[0]['value']``);
            ``"all"`` marks every user turn.
        roles: the user and assistant role names.
        sep: the separator.
        add_eos: close every answer with ``</s>`` after its separator.
    """

    def __init__(
        self,
        use_system: bool = True,
        system_at_test: bool = False,
        system_messages: dict[str, str] | None = None,
        question_turns: str = "first",
        roles: Sequence[str] = ("Human", "Assistant"),
        sep: str = "###",
        add_eos: bool = True,
    ) -> None:
        if question_turns not in QUESTION_TURNS:
            raise ValueError(
                f"LAMMTemplate: question_turns must be one of {QUESTION_TURNS}, got {question_turns!r}."
            )
        if len(roles) != 2 or not all(isinstance(r, str) and r for r in roles):
            raise ValueError(f"LAMMTemplate: roles must be two non-empty names, got {roles!r}.")
        if not sep:
            raise ValueError("LAMMTemplate: sep must be a non-empty string.")
        self.use_system = use_system
        self.system_at_test = system_at_test
        self.system_messages = {**LAMM_SYSTEM_MESSAGES, **dict(system_messages or {})}
        self.question_turns = question_turns
        self.user, self.assistant = roles
        self.sep = sep
        self.add_eos = add_eos

    def system_message(self, task: str, point_cloud: bool) -> str:
        """The system message of ``task`` for an image (or a point-cloud) sample."""
        key = task if task in self.system_messages else lamm_task_key(task, point_cloud)
        return self.system_messages.get(key, self.system_messages["normal"])

    def segments(
        self, turns: Sequence[Turn], task: str, add_generation_prompt: bool
    ) -> list[Segment]:
        """``bos``, system, then per turn pair: tags and placeholders, question, answer + ``\\n###``."""
        if not add_generation_prompt and turns and turns[-1].role == "user":
            raise ValueError(
                "LAMMTemplate: a training conversation must end with an assistant turn."
            )
        segments = [Segment("bos")]
        if self.use_system and (self.system_at_test or not add_generation_prompt):
            point_cloud = any(PLACEHOLDERS["point_cloud"] in t.text for t in turns)
            segments.append(Segment("context", self.system_message(task, point_cloud) + "\n\n"))
        users = 0
        for turn in turns:
            if turn.role != "user":
                segments.append(Segment("response", f"{turn.text}\n{self.sep}"))
                if self.add_eos:
                    segments.append(Segment("eos"))
                continue
            lead = f"{self.sep} {self.user}: " if users == 0 else f"{self.user}: "
            segments.append(Segment("context", lead))
            placeholders = [m.group(1) for m in _PLACEHOLDER_RE.finditer(turn.text)]
            for placeholder in placeholders:
                start, end = _TAGS[_MODALITY[placeholder]]
                segments.append(Segment("context", start))
                segments.append(Segment("context", placeholder))
                segments.append(Segment("context", f"{end} "))
            question = _PLACEHOLDER_RE.sub(" ", turn.text).strip() if placeholders else turn.text
            marked = users == 0 or self.question_turns == "all"
            segments.append(Segment("question" if marked else "context", question))
            segments.append(Segment("context", f"\n{self.sep} {self.assistant}:"))
            users += 1
        return segments
