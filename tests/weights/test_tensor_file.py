"""Published torch files are read as tensors only; anything needing an unpickler is refused."""

from __future__ import annotations

import collections

import pytest
import torch

from octavius.weights import WeightsFileError, read_tensor_file


class _Payload:
    """An object a general unpickle would construct (and could run code for)."""

    def __reduce__(self):
        return (print, ("unpickled!",))


def test_plain_state_dict_is_read(tmp_path):
    state = collections.OrderedDict(a=torch.ones(2, 3), b=torch.zeros(4))
    torch.save(state, tmp_path / "pytorch_model.pt")
    out = read_tensor_file(tmp_path / "pytorch_model.pt")
    assert set(out) == {"a", "b"} and out["a"].shape == (2, 3)


def test_wrapped_state_dict_is_unwrapped(tmp_path):
    torch.save({"state_dict": {"w": torch.ones(1)}}, tmp_path / "x.pth")
    assert list(read_tensor_file(tmp_path / "x.pth")) == ["w"]


def test_pickled_object_is_refused_with_the_file_name(tmp_path, capsys):
    torch.save({"w": torch.ones(1), "evil": _Payload()}, tmp_path / "evil.pt")
    with pytest.raises(WeightsFileError, match=r"evil\.pt"):
        read_tensor_file(tmp_path / "evil.pt")
    assert "unpickled!" not in capsys.readouterr().out


def test_non_tensor_entry_is_named(tmp_path):
    torch.save({"w": torch.ones(1), "step": 3}, tmp_path / "mixed.pt")
    with pytest.raises(WeightsFileError, match="'step'"):
        read_tensor_file(tmp_path / "mixed.pt")
