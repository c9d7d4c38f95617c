"""configs/README.md maps every row of the papers' result tables to the config that runs it.

The row counts are the papers' (Octavius Tables 1–5, LLaVA-MoLE Tables 1–5, MixLoRA Tables 1–3,
counted by hand from the text in ``shared/papers``); each listed file must exist and be one of
the configs ``test_configs.py`` loads and builds; a row without a config says why.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.configs.test_configs import CONFIG_ROOT, CONFIGS, _load

README = CONFIG_ROOT / "README.md"
# (paper, table) → rows in the paper. Octavius T1: LAMM and LLaVA-LoRA, each without and with
# MoE; T2: 3D-LLM, Ours, Ours w/ MoE; T3: three data sets × (no MoE, MoE); T4 and T5: 6 rows.
EXPECTED_ROWS = {
    ("Octavius", "1"): 4,
    ("Octavius", "2"): 3,
    ("Octavius", "3"): 6,
    ("Octavius", "4"): 6,
    ("Octavius", "5"): 6,
    ("LLaVA-MoLE", "1"): 2,
    ("LLaVA-MoLE", "2"): 15,
    ("LLaVA-MoLE", "3"): 10,
    ("LLaVA-MoLE", "4"): 5,
    ("LLaVA-MoLE", "5"): 6,
    ("MixLoRA", "1"): 13,
    ("MixLoRA", "2"): 3,
    ("MixLoRA", "3"): 5,
}
_CONFIG = re.compile(r"`([\w/.-]+\.py)`")


def table_rows(text: str) -> list[tuple[str, str, str, str]]:
    """``(paper, table, row, config cell)`` of the "Paper tables → configs" section."""
    section = text.split("## Paper tables → configs", 1)
    if len(section) < 2:
        return []
    rows = []
    for line in section[1].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("paper", "") and not set(cells[0]) <= {"-"}:
            rows.append(tuple(cells))
    return rows


ROWS = table_rows(README.read_text(encoding="utf-8"))


def test_every_table_row_of_the_three_papers_is_listed():
    counts = Counter((paper, table) for paper, table, _, _ in ROWS)
    assert {k: counts.get(k, 0) for k in EXPECTED_ROWS} == EXPECTED_ROWS
    assert len({(p, t, r) for p, t, r, _ in ROWS}) == len(ROWS)  # no row twice


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r[0]}-T{r[1]}-{r[2]}")
def test_each_row_names_configs_that_exist_and_are_built(row):
    paper, table, label, cell = row
    paths = _CONFIG.findall(cell)
    if not paths:
        assert cell.startswith("—") and len(cell) > 10, f"{paper} {table} {label}: say why"
        return
    built = {p.relative_to(CONFIG_ROOT).as_posix() for p in CONFIGS}
    for path in paths:
        assert (CONFIG_ROOT / path).is_file(), f"{path} does not exist"
        assert path in built, f"{path} is not built by test_configs.py"
        assert _load(CONFIG_ROOT / path).model.type == "MultimodalLLM"


def test_the_parser_reads_rows_and_ignores_other_sections():
    text = (
        "# x\n| a | b | c | d |\n## Paper tables → configs\n| paper | table | row | config |\n"
        "|---|---|---|---|\n| P | 1 | r | `a/b.py` |\n"
    )
    assert table_rows(text) == [("P", "1", "r", "`a/b.py`")]
    assert table_rows("no section") == []


def test_rows_state_what_their_configs_build():
    """The experts, ranks and mixtures a row names are those of its config."""
    for paper, _, label, cell in ROWS:
        paths = _CONFIG.findall(cell)
        if paper != "LLaVA-MoLE" or len(paths) != 1:
            continue
        cfg = _load(CONFIG_ROOT / paths[0])
        if m := re.search(r"\[(\d),(\d)(?:,(\d))?\]", label):
            lambdas = [float(x) for x in m.groups() if x is not None]
            assert cfg.train_dataloader.dataset.frequencies[: len(lambdas)] == lambdas, label
        if m := re.search(r"(\d+) experts", label):
            assert cfg.model.adapters.rules.mlp.experts.num_experts == int(m[1]), label
        if m := re.search(r"-R(\d+)", label):
            assert cfg.model.adapters.get("experts", {}).get("rank") == int(m[1]) or (
                cfg.model.adapters.rules.mlp.experts.rank == int(m[1])
            ), label
