"""tools/export.py never overwrites its sources, validates weights and refuses token routing."""

from __future__ import annotations

import hashlib

import pytest

from tests.reliability.helpers import assert_user_error, run_tool


def _export(tiny, checkpoint, out, *extra, command="merged"):
    return run_tool("export", [command, str(tiny["config"]), str(checkpoint), str(out), *extra])


def _digest(directory):
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


@pytest.mark.parametrize("command", ["merged", "peft"])
def test_export_into_the_base_llm_directory_is_refused(tiny, trained, command):
    llm = tiny["assets"] / "llama"
    before = _digest(llm)
    result = _export(
        tiny, trained / "iter_2", llm, "--experts", "0", "--overwrite", command=command
    )
    assert_user_error(result, str(llm.resolve()), "overwrite the source")
    assert _digest(llm) == before


def test_export_inside_the_checkpoint_directory_is_refused(tiny, trained):
    out = trained / "iter_2" / "hf"
    assert_user_error(_export(tiny, trained / "iter_2", out, "--experts", "0"), "iter_2")
    assert not out.exists()


def test_export_into_a_non_empty_directory_needs_overwrite(tiny, trained, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert_user_error(
        _export(tiny, trained / "iter_2", out, "--experts", "0"), str(out), "--overwrite"
    )
    assert (out / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("weights", "named"),
    [
        (["-0.5", "1.5"], "-0.5"),
        (["nan", "1"], "nan"),
        (["0", "0"], "all zero"),
        (["1"], "1 value"),
    ],
)
def test_bad_expert_weights(tiny, trained, tmp_path, weights, named):
    result = _export(
        tiny, trained / "iter_2", tmp_path / "o", "--experts", "0", "1", "--weights", *weights
    )
    assert_user_error(result, "--weights", named)


def test_weights_without_experts(tiny, trained, tmp_path):
    code, _, err = _export(tiny, trained / "iter_2", tmp_path / "o", "--weights", "1")
    assert code == 2 and "--weights needs --experts" in err and "Traceback" not in err


def test_expert_index_out_of_range(tiny, trained, tmp_path):
    result = _export(tiny, trained / "iter_2", tmp_path / "o", "--experts", "0", "7")
    assert_user_error(result, "expert 7", "3 experts")


TOKEN_ROUTING = (
    ("model.adapters.router.type", "TokenRouter"),
    ("model.adapters.sharing", "module"),
)


@pytest.fixture(scope="module")
def token_checkpoint(tiny, tmp_path_factory):
    """A checkpoint of the tiny model with token-level routing (LLaVA-MoLE style)."""
    from octavius.checkpoints import save_checkpoint
    from octavius.config import load_config
    from octavius.loading import load_model

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OCTAVIUS_TEST_ASSETS", str(tiny["assets"]))
        mp.setenv("OCTAVIUS_TEST_DATA", str(tiny["data"]))
        cfg = load_config(tiny["config"], dict(TOKEN_ROUTING))
        model = load_model(cfg)
    path = tmp_path_factory.mktemp("token") / "iter_0"
    return save_checkpoint(path, model, rng_state=False)


@pytest.mark.parametrize("command", ["merged", "peft"])
def test_token_routed_model_with_an_expert_set_is_refused(
    tiny, token_checkpoint, tmp_path, command
):
    argv = [command, str(tiny["config"]), str(token_checkpoint), str(tmp_path / "o"),
            "--experts", "0", "--cfg-options", *(f"{k}={v}" for k, v in TOKEN_ROUTING)]  # fmt: skip
    err = assert_user_error(run_tool("export", argv), "token", "--experts")
    assert "Saved" not in err
    assert not (tmp_path / "o").exists()
