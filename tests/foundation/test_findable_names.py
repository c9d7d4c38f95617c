"""A built-in's file is named after its class: ``TokenRouter`` lives in ``routers/token.py``.

The rule: the file name is the registered name in snake case, either whole or without its last
word (the kind suffix: ``Router``, ``Encoder``, ``Accuracy``, …). Acronyms count as one word
(``LoRAExperts`` → ``lora_experts``, ``FCAF3DRoISource`` → ``fcaf3d_roi_source``). The few
components that do not follow it are listed below with the reason, and the list is kept exact.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from octavius import registry
from octavius.cli import source_file

#: registered name → source file, for the documented exceptions to the rule.
EXCEPTIONS = {
    "LinearProjector": "core/models/projectors.py",  # the two projectors share one small module
    "MLPProjector": "core/models/projectors.py",
    "Plain": "core/data/plain_template.py",  # "plain.py" would not say it is a template
    "InstructionDataPreprocessor": "core/data/data_preprocessor.py",  # the package says "instruction"
    "LoadInstructionImages": "core/data/load_images.py",
    "instruction_collate": "core/data/collate.py",
    "prepare_quickstart": "core/testing/quickstart.py",  # a function: the module is the feature
    "OctaviusRunner": "core/engine/runner.py",  # the one runner of the engine
    "Chat": "core/data/chat_template.py",  # "chat.py" would not say it is a template
}
_ACRONYMS = {"LoRA": "Lora", "RoI": "Roi", "FCAF3D": "Fcaf3d", "GT": "Gt", "CLIP": "Clip",
             "BERT": "Bert", "LLM": "Llm", "MLP": "Mlp", "VQA": "Vqa", "LAMM": "Lamm",
             "MME": "Mme", "QA": "Qa", "2D": "2d", "3D": "3d"}  # fmt: skip


def snake_case(name: str) -> str:
    for acronym, word in _ACRONYMS.items():
        name = name.replace(acronym, word)
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _builtins() -> list[tuple[str, str, str]]:
    registry.import_all_builtins()
    found = []
    for public, reg in registry.ALL_REGISTRIES.items():
        for name, obj in sorted(reg.module_dict.items()):
            src = source_file(obj)
            if src.startswith(("core/", "plugins/")):
                found.append((public, name, src))
    return found


BUILTINS = _builtins()


def test_snake_case_of_the_project_names():
    assert snake_case("TokenRouter") == "token_router"
    assert snake_case("LoRAFactorPool") == "lora_factor_pool"
    assert snake_case("FCAF3DRoISource") == "fcaf3d_roi_source"
    assert snake_case("CLIPImageEncoder") == "clip_image_encoder"
    assert snake_case("LAMM2DBenchmark") == "lamm2d_benchmark"
    assert snake_case("ScienceQABenchmark") == "science_qa_benchmark"


@pytest.mark.parametrize(("kind", "name", "src"), BUILTINS, ids=[b[1] for b in BUILTINS])
def test_file_name_says_which_component_it_holds(kind, name, src):
    if name in EXCEPTIONS:
        assert src == EXCEPTIONS[name], f"{name} moved: update EXCEPTIONS or follow the rule"
        return
    words = snake_case(name)
    allowed = {words, words.rpartition("_")[0]}
    # Underscores inside a word may differ (``LAMM2DBenchmark`` in ``lamm_2d.py``).
    stem = Path(src).stem.replace("_", "")
    assert stem in {a.replace("_", "") for a in allowed}, (
        f"{kind} {name} lives in {src}; expected one of {allowed}"
    )


def test_every_exception_is_still_registered():
    assert set(EXCEPTIONS) <= {name for _, name, _ in BUILTINS}
    assert len(BUILTINS) > 30
