"""tools/chat.py under a pseudo-terminal, with scripted input."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from octavius.checkpoints import save_checkpoint
from octavius.inference.loading import load_for_inference
from octavius.models.multimodal_llm import MultimodalLLM
from tests.inference.conftest import build, randomise_lora_b
from tests.inference.tool_setup import write_config

REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]|\x1b\][^\x07]*\x07|\r")


def _read_until(fd: int, needle: str, seen: list[str], timeout: float = 180) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = ANSI.sub("", "".join(seen))
        if needle in text:
            return text
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen.append(chunk.decode("utf-8", "replace"))
    raise AssertionError(f"{needle!r} never appeared; output:\n{ANSI.sub('', ''.join(seen))}")


def _spawn(args: list, tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """tools/chat.py on a pseudo-terminal; its loading log under ``tmp_path``."""
    master, slave = pty.openpty()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200", "TERM": "xterm"}
    env["OCTAVIUS_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    command = [sys.executable, str(REPO / "tools" / "chat.py"), *map(str, args)]
    command += ["--log", str(tmp_path / "loading.log")]
    proc = subprocess.Popen(
        command, stdin=slave, stdout=slave, stderr=slave, cwd=REPO, env=env, close_fds=True
    )
    os.close(slave)
    return proc, master


def _quit(proc: subprocess.Popen, master: int) -> None:
    try:
        os.write(master, b"/quit\n")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


#: What may stand on the screen before the first prompt (the status spinner is redrawn in place).
FIRST_SCREEN = re.compile(
    r"^(\s|[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]|Loading model…"
    r"|Model loaded in \d+\.\d s \(loading log: [^)]+\)"
    r"|Commands: /image PATH, /points PATH, /reset, /routing, /quit"
    r"|you>)*$"
)


def _assert_quiet(first_screen: str) -> None:
    assert FIRST_SCREEN.match(first_screen), f"noise before the prompt:\n{first_screen}"
    for noise in ("quickstart", "Loading weights", "INFO", "%|", "Warning", "it/s"):
        assert noise not in first_screen


def test_chat_starts_quietly(assets, tmp_path):
    # The quickstart section logs its preparation steps; from_pretrained draws loading bars.
    config = write_config(assets, tmp_path / "model", max_new_tokens=4, quickstart=True)
    proc, master = _spawn([config], tmp_path)
    try:
        first = _read_until(master, "you>", [])
    except BaseException:
        proc.kill()
        raise
    _quit(proc, master)
    _assert_quiet(first)
    assert "Loading model…" in first and "Model loaded in" in first
    log = (tmp_path / "loading.log").read_text()
    assert "quickstart: preparing the tiny LLM" in log and "quickstart: ready in" in log


def test_chat_answers_from_a_save_pretrained_directory(assets, tmp_path):
    saved = build(assets, generation=dict(max_new_tokens=6)).save_pretrained(tmp_path / "saved")
    expected = MultimodalLLM.from_pretrained(saved).eval().chat("Describe the scene.")
    proc, master = _spawn([saved], tmp_path)
    seen: list[str] = []
    try:
        _assert_quiet(_read_until(master, "you>", seen))
        seen.clear()
        os.write(master, b"Describe the scene.\n")
        out = _read_until(master, "you>", seen)
        answer = out.split("assistant>", 1)[1].split("you>", 1)[0]
        assert "".join(answer.split()) == "".join(expected.text.split())
        assert expected.text.strip()
    except BaseException:
        proc.kill()
        raise
    _quit(proc, master)


def test_chat_in_a_pseudo_terminal(assets, tmp_path):
    config = write_config(assets, tmp_path / "model", max_new_tokens=8)
    model = load_for_inference(config)
    randomise_lora_b(model)
    checkpoint = save_checkpoint(tmp_path / "iter_1", model, rng_state=False)
    model = load_for_inference(config, checkpoint)
    image = tmp_path / "red.png"
    Image.new("RGB", (32, 32), (200, 20, 20)).save(image)
    expected = model.chat("What is this?", image=str(image), return_routing=True)
    follow_up = model.chat("And the colour?", image=str(image), history=expected.history)

    master, slave = pty.openpty()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200", "TERM": "xterm"}
    env["OCTAVIUS_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tools" / "chat.py"), str(config), str(checkpoint)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=REPO,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    seen: list[str] = []
    try:

        def say(line: str, wait_for: str) -> str:
            _read_until(master, "you>", seen)
            seen.clear()
            os.write(master, (line + "\n").encode())
            return _read_until(master, wait_for, seen)

        say(f"/image {image}", "image attached")
        out = say("What is this?", "you>")
        assert "assistant>" in out
        answer = out.split("assistant>", 1)[1].split("you>", 1)[0]
        assert "".join(answer.split()) == "".join(expected.text.split())
        out = say("/routing", "Routing of the last answer")
        out = _read_until(master, "self_attn.v_proj", seen)
        first = out.split("model.layers.0.self_attn.k_proj", 1)[1].splitlines()[0]
        experts = ", ".join(
            map(str, expected.routing["model.layers.0.self_attn.k_proj"]["experts"])
        )
        assert experts in first
        out = say("And the colour?", "you>")
        answer = out.split("assistant>", 1)[1].split("you>", 1)[0]
        assert "".join(answer.split()) == "".join(follow_up.text.split())
        say("/reset", "conversation cleared")
        say("/nonsense", "unknown command")
        _read_until(master, "you>", seen)
        os.write(master, b"/quit\n")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
