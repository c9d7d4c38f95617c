"""tools/infer.py: answers with routing, progress, and resuming after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from octavius.checkpoints import save_checkpoint
from octavius.inference.answer_file import answer_questions, read_questions
from octavius.inference.loading import load_for_inference
from tests.inference.conftest import randomise_lora_b
from tests.inference.tool_setup import write_config

REPO = Path(__file__).resolve().parents[2]
NUM = 8


def _questions(path: Path) -> Path:
    lines = [
        {"question_id": i, "text": f"Question number {i}: what do you see?", "task": "vqa"}
        for i in range(NUM)
    ]
    lines[3]["routing"] = {"experts": [2]}
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def _run(args, **kwargs):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OCTAVIUS_DISABLE_PLUGIN_AUTOLOAD": "1"}
    cmd = [sys.executable, str(REPO / "tools" / "infer.py"), *map(str, args)]
    return subprocess.Popen(cmd, cwd=REPO, env=env, **kwargs)


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_infer_resumes_after_a_kill(assets, tmp_path):
    config = write_config(assets, tmp_path / "model", max_new_tokens=16)
    model = load_for_inference(config)
    randomise_lora_b(model)
    checkpoint = save_checkpoint(tmp_path / "iter_1", model, rng_state=False)
    model = load_for_inference(config, checkpoint)
    questions = _questions(tmp_path / "questions.jsonl")
    out = tmp_path / "answers.jsonl"
    args = [config, checkpoint, "--input", questions, "--output", out, "--batch-size", "1"]
    proc = _run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and out.read_text().count("\n") >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = _lines(out)
    assert 2 <= len(first) < NUM

    resumed = _run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, log
    assert f"{len(first)} of {NUM} questions already answered" in log
    assert "ETA" in log
    answers = _lines(out)
    assert [a["question_id"] for a in answers] == list(range(NUM))  # each once, in order
    assert answers[: len(first)] == first  # nothing rewritten

    reference = tmp_path / "reference.jsonl"
    answer_questions(model, read_questions(questions), reference, batch_size=4)
    expected = _lines(reference)
    for a, b in zip(answers, expected):
        assert (a["question_id"], a["text"], a["routing"]) == (
            b["question_id"],
            b["text"],
            b["routing"],
        )
    pinned = answers[3]["routing"]
    assert all(entry["experts"] == [2] for entry in pinned.values())
    assert len(pinned) == 8


def test_torn_last_line_is_dropped(tmp_path):
    from octavius.inference.answer_file import answered_ids

    path = tmp_path / "answers.jsonl"
    path.write_text('{"question_id": 1, "text": "a"}\n{"question_id": 2, "te')
    assert answered_ids(path) == {"1"}
    assert path.read_text() == '{"question_id": 1, "text": "a"}\n'


def test_infer_answers_from_a_save_pretrained_directory(assets, tmp_path):
    from octavius.models.multimodal_llm import MultimodalLLM
    from tests.inference.conftest import build

    saved = build(assets, generation=dict(max_new_tokens=6)).save_pretrained(tmp_path / "saved")
    questions = tmp_path / "questions.jsonl"
    lines = [{"question_id": i, "text": f"Question {i}: what is it?"} for i in range(2)]
    questions.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "answers.jsonl"
    run = _run(
        [saved, "--input", questions, "--output", out],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log, _ = run.communicate(timeout=300)
    assert run.returncode == 0, log
    reference = tmp_path / "reference.jsonl"
    model = MultimodalLLM.from_pretrained(saved).eval()
    answer_questions(model, read_questions(questions), reference, batch_size=4)
    answers, expected = _lines(out), _lines(reference)
    assert [a["question_id"] for a in answers] == [0, 1]
    assert [(a["text"], a["routing"]) for a in answers] == [
        (b["text"], b["routing"]) for b in expected
    ]
    assert all(a["text"] for a in answers)
