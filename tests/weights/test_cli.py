"""``python -m octavius weights …`` turns bad input into one clear error line and exit code 2."""

from __future__ import annotations

import torch

from octavius.cli import main


def test_from_gguf_names_a_missing_file(tmp_path, capsys):
    assert main(["weights", "from-gguf", str(tmp_path / "nope.gguf"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.gguf" in err
    assert not (tmp_path / "out").exists()


def test_import_of_a_pickled_object_is_refused(tmp_path, capsys):
    from .test_tensor_file import _Payload

    torch.save({"evil": _Payload()}, tmp_path / "pytorch_model.pt")
    config = tmp_path / "cfg.py"
    config.write_text("model = dict(type='MultimodalLLM', llm='unused')\n")
    code = main(
        [
            "weights",
            "import-llava",
            str(config),
            str(tmp_path / "pytorch_model.pt"),
            str(tmp_path / "o"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "pytorch_model.pt" in err and "weights_only=True" in err
