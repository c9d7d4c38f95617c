"""Damaged, foreign and unsafe checkpoints for tools/test.py and --resume."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file, save_file

from octavius.checkpoints.integrity import file_checksum
from tests.reliability.helpers import assert_user_error, run_tool


def _test(tiny, checkpoint, tmp_path, *options):
    argv = [
        str(tiny["config"]),
        str(checkpoint),
        "--work-dir",
        str(tmp_path / "eval"),
        "--no-progress",
    ]
    if options:
        argv += ["--cfg-options", *options]
    return run_tool("test", argv)


def _flip_byte(path, offset=-5):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _rewrite_weights(checkpoint, change):
    """Change the weights and record the new checksum, as a writer of NaN weights would."""
    weights = load_file(checkpoint / "adapter.safetensors")
    change(weights)
    save_file(weights, checkpoint / "adapter.safetensors")
    state = json.loads((checkpoint / "state.json").read_text())
    state["checksums"]["adapter.safetensors"] = file_checksum(checkpoint / "adapter.safetensors")
    (checkpoint / "state.json").write_text(json.dumps(state))


def test_flipped_byte_in_adapter_weights_is_refused(tiny, checkpoint_copy, tmp_path):
    _flip_byte(checkpoint_copy / "adapter.safetensors")
    err = assert_user_error(
        _test(tiny, checkpoint_copy, tmp_path), "adapter.safetensors", "corrupted"
    )
    assert "checksum" in err


def test_flipped_byte_in_resume_state_is_refused(tiny, checkpoint_copy, tmp_path):
    _flip_byte(checkpoint_copy / "state.safetensors")
    assert_user_error(_test(tiny, checkpoint_copy, tmp_path), "state.safetensors", "corrupted")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_at_load(tiny, checkpoint_copy, tmp_path, bad):
    first = {}

    def poison(weights):
        name = sorted(k for k in weights if "lora_A" in k)[0]
        weights[name][0, 0] = bad
        first["name"] = name

    _rewrite_weights(checkpoint_copy, poison)
    err = assert_user_error(_test(tiny, checkpoint_copy, tmp_path), first["name"], "NaN or Inf")
    assert "adapter.safetensors" in err


def test_missing_checkpoint(tiny, tmp_path):
    assert_user_error(_test(tiny, tmp_path / "iter_7", tmp_path), str(tmp_path / "iter_7"))


def test_checkpoint_of_another_adapter_config(tiny, trained, tmp_path):
    result = _test(tiny, trained / "iter_2", tmp_path, "model.adapters.experts.num_experts=2")
    assert_user_error(result, "adapter.safetensors", "mis-shaped")


def test_pickled_checkpoint_is_not_unpickled(tiny, tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": Payload()}, evil)
    assert_user_error(_test(tiny, evil, tmp_path), str(evil), "weights_only")
    assert not (tmp_path / "pwned").exists()


def test_garbage_state_json(tiny, checkpoint_copy, tmp_path):
    (checkpoint_copy / "state.json").write_text("{not json")
    assert_user_error(_test(tiny, checkpoint_copy, tmp_path), "state.json", "not valid JSON")


def test_directory_that_is_not_a_checkpoint(tiny, tmp_path):
    empty = tmp_path / "iter_3"
    empty.mkdir()
    assert_user_error(_test(tiny, empty, tmp_path), str(empty), "not a checkpoint directory")


def test_truncated_weights_file(tiny, checkpoint_copy, tmp_path):
    weights = checkpoint_copy / "adapter.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert_user_error(_test(tiny, checkpoint_copy, tmp_path), "adapter.safetensors")
