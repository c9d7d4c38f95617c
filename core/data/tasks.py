"""Task types, their definitions and their system prompts.

Every instruction sample carries a task type. It selects the system prompt of the conversation
template (LAMM and Octavius give each task its own, Octavius Fig. 4), and it gives instance-level
routers two signals: an integer task id (fixed task→expert assignment, "individual" routing) and
a task definition text (MixLoRA's task-embedding routing, appendix A).

Task names are lower-case; common spellings from other datasets are mapped by :data:`TASK_ALIASES`,
including every task name of LAMM and Octavius's data (``VQA3D``, ``classification3d``,
``description3d``, ``normal`` …) except keypoint detection, which has no counterpart here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "DEFAULT_TASKS",
    "FALLBACK_TASK",
    "SYSTEM_PROMPTS",
    "TASK_ALIASES",
    "TASK_DEFINITIONS",
    "normalize_task",
    "task_id_map",
]

#: The built-in task types, in task-id order.
DEFAULT_TASKS: tuple[str, ...] = ("caption", "classification", "conversation", "detection", "vqa")

#: Other spellings of the built-in task types (LAMM, LLaVA, ScanQA style names).
TASK_ALIASES: dict[str, str] = {
    "captioning": "caption",
    "image_caption": "caption",
    "description": "caption",
    "detailed_description": "caption",
    "cls": "classification",
    "classify": "classification",
    "dialogue": "conversation",
    "chat": "conversation",
    "complex_reasoning": "conversation",
    "det": "detection",
    "detect": "detection",
    "visual_task_dialogue": "conversation",
    "factual_knowledge_dialogue": "conversation",
    "qa": "vqa",
    "mcq": "vqa",
    "multiple_choice": "vqa",
    "scanqa": "vqa",
    # LAMM / Octavius task names (OpenGVLab/LAMM src/model/LAMM/conversations.py conversation_dict)
    "normal": "conversation",
    "conversation3d": "conversation",
    "caption3d": "caption",
    "description3d": "caption",
    "classification3d": "classification",
    "detection3d": "detection",
    "visual_grounding3d": "detection",
    "vqa3d": "vqa",
    "counting": "vqa",
    "commomsenseqa": "vqa",
    "commomsenseqa3d": "vqa",
    "commonsenseqa": "vqa",
}

#: Task of samples without ``task_type`` in a dataset without ``default_task``: LLaVA's
#: instruction files carry no task type and are conversations.
FALLBACK_TASK = "conversation"

#: One sentence per task: what the task asks for (MixLoRA's task definition).
TASK_DEFINITIONS: dict[str, str] = {
    "caption": "Describe the content of the image or scene, or of the given object, in words.",
    "classification": "Name the category of the given object or image.",
    "conversation": "Hold a helpful conversation about the image or scene.",
    "detection": "Find every object and give its category and its bounding box coordinates.",
    "vqa": "Answer a question about the image or scene, choosing an option when options are given.",
}

_ROLE = "You are an AI visual assistant that can analyze a single image or a 3D point cloud scene."

#: System prompt of each task (Vicuna v1 template), in the style of LAMM / Octavius.
SYSTEM_PROMPTS: dict[str, str] = {
    "default": (
        "A chat between a curious human and an artificial intelligence assistant. The assistant "
        "gives helpful, detailed, and polite answers to the human's questions."
    ),
    "caption": f"{_ROLE} Describe what you see accurately and briefly.",
    "classification": f"{_ROLE} Answer with the category of the object in question.",
    "conversation": f"{_ROLE} Answer the human's questions helpfully and in detail.",
    "detection": (
        f"{_ROLE} Identify the objects and give each one as its name followed by its bounding "
        "box [x1, y1, x2, y2] with coordinates normalised to 0-1 (3D: [cx, cy, cz, length, "
        "width, height], the box centre and size in metres)."
    ),
    "vqa": (
        f"{_ROLE} Answer the question. When options are given, answer with the letter of the "
        "correct option and its text."
    ),
}


def normalize_task(name: str) -> str:
    """Lower-case ``name``, turn spaces and dashes into underscores and resolve aliases."""
    key = str(name).strip().lower().replace(" ", "_").replace("-", "_")
    return TASK_ALIASES.get(key, key)


def task_id_map(tasks: Sequence[str] | Mapping[str, int] | None) -> dict[str, int]:
    """Task name → integer id; from a list (ids in list order) or an explicit mapping."""
    if tasks is None:
        tasks = DEFAULT_TASKS
    if isinstance(tasks, Mapping):
        mapping = {normalize_task(k): int(v) for k, v in tasks.items()}
    else:
        mapping = {normalize_task(name): i for i, name in enumerate(tasks)}
    if len(set(mapping.values())) != len(mapping):
        raise ValueError(f"task ids must be unique, got {mapping}.")
    return mapping
