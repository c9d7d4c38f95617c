"""``python -m octavius data check CONFIG`` on a fixture with deliberate errors and on the quickstart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from octavius.cli import main
from octavius.data.data_check import length_histogram
from tests.data.data_testing import save_png, write_jsonl

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "configs" / "quickstart" / "octavius_2d3d_tiny.py"


def _sample(sample_id: str, image: str, answer: str = "Red.", **extra) -> dict:
    return {
        "id": sample_id,
        "image": image,
        "conversations": [
            {"from": "human", "value": "<image>\nWhat colour is it?"},
            {"from": "gpt", "value": answer},
        ],
        **extra,
    }


def _config(tmp_path: Path, tokenizer_path: str, ann: str) -> Path:
    cfg = tmp_path / "check_config.py"
    cfg.write_text(
        "\n".join(
            [
                f"llm_path = {tokenizer_path!r}",
                f"data_root = {str(tmp_path)!r}",
                "train_dataloader = dict(batch_size=1, dataset=dict(type='InstructionDataset',",
                f"    ann_file={ann!r}, tokenizer='{{{{llm_path}}}}', data_root='{{{{data_root}}}}',",
                "    image_root='images', max_length=96))",
            ]
        ),
        encoding="utf-8",
    )
    return cfg


def _images(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir(exist_ok=True)
    save_png(tmp_path / "images" / "red.png")


def test_deliberate_errors_are_all_listed_and_fail(tmp_path, tokenizer_path, capsys):
    _images(tmp_path)
    write_jsonl(
        tmp_path / "bad.jsonl",
        [
            _sample("ok", "red.png"),  # line 1: LLaVA-style, no task_type
            _sample("gone", "missing.png"),  # line 2
            '{"id": "broken", "image": ',  # line 3
            _sample("kp", "red.png", task_type="keypoint_detection"),  # line 4
            _sample("long", "red.png", answer="red " * 80),  # line 5
            _sample("ok2", "red.png", task_type="VQA"),  # line 6
        ],
    )
    code = main(["data", "check", str(_config(tmp_path, tokenizer_path, "bad.jsonl"))])
    out = capsys.readouterr().out
    assert code == 1
    bad = str(tmp_path / "bad.jsonl")
    for line, reason in (
        (2, "missing_image"),
        (3, "malformed_json"),
        (4, "unknown_task"),
        (5, "too_long"),
    ):
        assert f"skipped ({reason}): 1" in out
        assert f"{bad}:{line}" in out
    assert "kept 2, skipped 4" in out
    assert "tasks: conversation 1, vqa 1" in out
    assert "task type from the dataset's default: 1 sample(s)" in out
    assert "missing files: 1" in out and "missing.png" in out
    assert "max_length 96" in out and "0-63" in out
    assert (
        out.strip().splitlines()[-1].startswith("FAILED: 1 dataset(s), 2 sample(s) kept, 4 skipped")
    )


def test_clean_data_passes(tmp_path, tokenizer_path, capsys):
    _images(tmp_path)
    write_jsonl(tmp_path / "good.jsonl", [_sample("a", "red.png"), _sample("b", "red.png")])
    code = main(["data", "check", str(_config(tmp_path, tokenizer_path, "good.jsonl"))])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.strip().splitlines()[-1].startswith("OK: 1 dataset(s), 2 sample(s) kept, 0 skipped")


def test_path_variable_pointing_nowhere_is_named(tmp_path, tokenizer_path, capsys):
    _images(tmp_path)
    write_jsonl(tmp_path / "good.jsonl", [_sample("a", "red.png")])
    cfg = _config(tmp_path, tokenizer_path, "good.jsonl")
    nowhere = str(tmp_path / "no_such_dir")
    code = main(["data", "check", str(cfg), "--cfg-options", f"data_root={nowhere}"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"path error: data_root = {nowhere!r} does not exist" in out
    assert "train_dataloader.dataset.data_root" in out


def test_missing_annotation_file_is_a_dataset_error(tmp_path, tokenizer_path, capsys):
    code = main(["data", "check", str(_config(tmp_path, tokenizer_path, "nope.json"))])
    out = capsys.readouterr().out
    assert code == 1
    assert "annotation file not found" in out and "nope.json" in out


def test_histogram_bins():
    rows = length_histogram([10, 63, 64, 130, 5000], bins=(64, 128, 256))
    assert rows == [(0, 64, 2), (64, 128, 1), (128, 256, 1), (256, None, 1)]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_quickstart_config_passes(tmp_path, capsys):
    args = [
        "data", "check", str(QUICKSTART), "--cfg-options", f"cache_root={tmp_path}",
        "quickstart.synthetic.num_images=8", "quickstart.synthetic.num_scenes=4",
    ]  # fmt: skip
    code = main(args)
    out = capsys.readouterr().out
    assert code == 0, out
    assert str(tmp_path / "data" / "annotations" / "2d_train.json") in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("OK: 4 dataset(s)") and "0 skipped" in last
    train_2d = json.loads((tmp_path / "data" / "annotations" / "2d_train.json").read_text())
    assert f"kept {len(train_2d)}, skipped 0" in out


def test_tokenizer_pointing_nowhere_is_reported_not_downloaded(tmp_path, tokenizer_path, capsys):
    _images(tmp_path)
    write_jsonl(tmp_path / "good.jsonl", [_sample("a", "red.png")])
    cfg = _config(tmp_path, tokenizer_path, "good.jsonl")
    code = main(["data", "check", str(cfg), "--cfg-options", "llm_path=no/such-llm"])
    out = capsys.readouterr().out
    assert code == 1
    assert "path error: llm_path = 'no/such-llm' does not exist" in out
    assert "train_dataloader.dataset.tokenizer: tokenizer directory not found: no/such-llm" in out
