"""``--cfg-options`` on a path variable reaches every field that uses it, in every paper config.

The fields are named by what they are, not by how the configs are written: ``llm_path`` is the
``MultimodalLLM``'s ``llm`` (and its ``tokenizer`` when set) and every ``InstructionDataset``'s
``tokenizer``; ``clip_path`` every ``CLIPImageEncoder``'s ``pretrained``; ``point_bert_path``
every ``PointBERT``'s ``checkpoint``; ``roi_root`` every ``PrecomputedRoISource``'s ``root``;
``data_root`` every ``InstructionDataset``'s ``data_root``. After an override, each of them holds
the new value and the old value is left nowhere in the config.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from octavius.config import PATH_VARIABLES, ConfigPlaceholderError, load_config

CONFIG_ROOT = Path(__file__).resolve().parents[2] / "configs"
PAPER_CONFIGS = sorted(
    p
    for p in CONFIG_ROOT.rglob("*.py")
    if not {"_base_", "study"} & set(p.relative_to(CONFIG_ROOT).parts)
)

FIELDS = {
    "llm_path": [("MultimodalLLM", "llm"), ("MultimodalLLM", "tokenizer"), ("InstructionDataset", "tokenizer")],
    "clip_path": [("CLIPImageEncoder", "pretrained")],
    "point_bert_path": [("PointBERT", "checkpoint")],
    "roi_root": [("PrecomputedRoISource", "root")],
    "data_root": [("InstructionDataset", "data_root")],
}  # fmt: skip


def _load(path: Path, options: dict | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_config(path, options)


def _nodes(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _nodes(value)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _strings(value)


def _fields(cfg: Any, variable: str) -> list[str]:
    """Values of the fields that stand for ``variable`` (an LLM given as a dict: its path)."""
    found = []
    for node in _nodes(cfg.to_dict()):
        for kind, key in FIELDS[variable]:
            value = node.get(key)
            if node.get("type") != kind or value is None:
                continue
            found.append(value.get("pretrained") if isinstance(value, dict) else value)
    return found


def _cases() -> Iterator[Any]:
    for path in PAPER_CONFIGS:
        cfg = _load(path)
        for variable in PATH_VARIABLES:
            if variable in cfg:
                yield pytest.param(path, variable, id=f"{path.relative_to(CONFIG_ROOT)}:{variable}")


@pytest.mark.parametrize(("path", "variable"), list(_cases()))
def test_override_reaches_every_field(path: Path, variable: str):
    before = _load(path)
    old = before[variable]
    assert _fields(before, variable), f"{path.name} defines {variable} but no field uses it"
    new = f"/override/{variable}"
    cfg = _load(path, {variable: new})
    fields = _fields(cfg, variable)
    assert fields and all(value == new for value in fields), fields
    others = {cfg[v] for v in PATH_VARIABLES if v in cfg and v != variable}
    stale = [s for s in _strings(cfg.to_dict()) if old in s and not any(o in s for o in others)]
    assert not stale, f"still holding the old {variable} {old!r}: {stale}"


def test_every_paper_config_has_the_path_variables_it_needs():
    assert len(PAPER_CONFIGS) >= 30
    for path in PAPER_CONFIGS:
        cfg = _load(path)
        assert "llm_path" in cfg and "data_root" in cfg, path.name


def test_quickstart_paths_follow_cache_root():
    quickstart = CONFIG_ROOT / "quickstart" / "octavius_2d3d_tiny.py"
    cfg = _load(quickstart, {"cache_root": "/elsewhere"})
    assert cfg.llm_path == "/elsewhere/assets/llama"
    assert cfg.model.llm == "/elsewhere/assets/llama"
    assert cfg.quickstart.synthetic.out_dir == "/elsewhere/data"
    assert cfg.quickstart.tiny_assets.root == "/elsewhere/assets"


def test_unknown_placeholder_names_the_key(tmp_path):
    path = tmp_path / "typo.py"
    path.write_text("llm_path = 'x'\nmodel = dict(llm='{{lm_path}}')\n", encoding="utf-8")
    with pytest.raises(ConfigPlaceholderError, match=r"model\.llm .*\{\{lm_path\}\}.*'llm_path'"):
        _load(path)
