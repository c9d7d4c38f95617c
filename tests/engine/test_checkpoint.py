"""Checkpoint format: bit-exact round trip, atomic writes, no pickle, clear mismatch errors."""

from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from torch import nn

import octavius.checkpoints.checkpoint as ckpt_module
from octavius.checkpoints import (
    CheckpointFormatError,
    CheckpointMismatchError,
    load_checkpoint,
    read_checkpoint,
    read_weights_file,
    save_checkpoint,
    trainable_state_dict,
)
from octavius.checkpoints.state_codec import StateEncodingError, decode_state, encode_state


class Net(nn.Module):
    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.base = nn.Linear(4, hidden)
        self.base.requires_grad_(False)
        self.adapter = nn.Linear(hidden, 3)
        self.gate = nn.Parameter(torch.randn(2, 3, dtype=torch.bfloat16))


def train_steps(model, optimizer, scheduler, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        out = model.adapter(model.base(torch.randn(5, 4))) + model.gate.float().sum()
        out.pow(2).mean().backward()
        optimizer.step()
        scheduler.step()


def make(hidden=8):
    model = Net(hidden)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-2, betas=(0.9, 0.95)
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
    return model, optimizer, scheduler


def assert_same_optimizer_state(a, b):
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for k in a["state"]:
        assert a["state"][k].keys() == b["state"][k].keys()
        for name, value in a["state"][k].items():
            assert value.dtype == b["state"][k][name].dtype
            assert torch.equal(value, b["state"][k][name]), (k, name)


def test_round_trip_is_bit_exact(tmp_path):
    model, optimizer, scheduler = make()
    train_steps(model, optimizer, scheduler, 3)
    path = save_checkpoint(
        tmp_path / "iter_3",
        model,
        optimizer=optimizer,
        param_schedulers=[scheduler],
        meta={"iter": 3, "epoch": 0},
    )
    after_save = (random.random(), np.random.rand(), torch.rand(3))

    fresh, fresh_opt, fresh_sched = make()
    random.seed(123), np.random.seed(123), torch.manual_seed(123)
    loaded = load_checkpoint(
        path, fresh, optimizer=fresh_opt, param_schedulers=[fresh_sched], restore_rng=True
    )
    assert (random.random(), np.random.rand()) == after_save[:2]
    assert torch.equal(torch.rand(3), after_save[2])
    assert loaded.meta == {"iter": 3, "epoch": 0}

    for name, p in trainable_state_dict(model).items():
        q = dict(fresh.named_parameters())[name]
        assert p.dtype == q.dtype and torch.equal(p, q), name
    assert_same_optimizer_state(optimizer.state_dict(), fresh_opt.state_dict())
    assert fresh_sched.state_dict() == scheduler.state_dict()
    # Continuing from the loaded state equals continuing the original (the frozen base comes
    # from its pretrained source, not from the checkpoint).
    fresh.base.load_state_dict(model.base.state_dict())
    torch.manual_seed(5)
    train_steps(model, optimizer, scheduler, 2)
    torch.manual_seed(5)
    train_steps(fresh, fresh_opt, fresh_sched, 2)
    for name, p in trainable_state_dict(model).items():
        assert torch.equal(p, dict(fresh.named_parameters())[name])


def test_only_trainable_parameters_are_stored(tmp_path):
    model, _, _ = make()
    save_checkpoint(tmp_path / "c", model)
    weights = read_checkpoint(tmp_path / "c").weights
    assert sorted(weights) == ["adapter.bias", "adapter.weight", "gate"]
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "adapter.safetensors",
        "state.json",
        "state.safetensors",
    ]


def test_a_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model, _, _ = make()
    path = save_checkpoint(tmp_path / "latest", model)
    before = read_checkpoint(path).weights
    with torch.no_grad():
        model.adapter.weight.add_(1.0)

    real_save_file = ckpt_module.save_file

    def crash_mid_write(tensors, filename, metadata=None):
        real_save_file(tensors, filename, metadata=metadata)  # one file is complete …
        raise OSError("killed while writing")  # … then the writer dies

    monkeypatch.setattr(ckpt_module, "save_file", crash_mid_write)
    with pytest.raises(OSError, match="killed"):
        save_checkpoint(path, model)
    with pytest.raises(OSError, match="killed"):
        save_checkpoint(tmp_path / "next", model)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest"]  # no partial directory
    after = read_checkpoint(path).weights
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_overwriting_a_checkpoint_replaces_it_whole(tmp_path):
    model, _, _ = make()
    save_checkpoint(tmp_path / "c", model, meta={"iter": 1})
    save_checkpoint(tmp_path / "c", model, meta={"iter": 2})
    assert read_checkpoint(tmp_path / "c").meta == {"iter": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_loading_never_unpickles(tmp_path, monkeypatch):
    model, optimizer, scheduler = make()
    train_steps(model, optimizer, scheduler, 1)
    save_checkpoint(tmp_path / "c", model, optimizer=optimizer, param_schedulers=scheduler)

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used to load a checkpoint")

    for target, name in [
        (pickle, "load"),
        (pickle, "loads"),
        (pickle, "Unpickler"),
        (torch, "load"),
    ]:
        monkeypatch.setattr(target, name, refuse)
    fresh, fresh_opt, fresh_sched = make()
    load_checkpoint(
        tmp_path / "c", fresh, optimizer=fresh_opt, param_schedulers=fresh_sched, restore_rng=True
    )
    assert torch.equal(fresh.adapter.weight, model.adapter.weight)


def test_pickled_files_are_refused_with_a_clear_error(tmp_path):
    # What mmengine's own checkpoints hold besides tensors (weights_only refuses it).
    old = {"state_dict": {"w": torch.ones(1)}, "message_hub": {"loss": HistoryBuffer([1.0], [1])}}
    torch.save(old, tmp_path / "old.pth")
    with pytest.raises(CheckpointFormatError, match="is a file"):
        read_checkpoint(tmp_path / "old.pth")
    with pytest.raises(CheckpointFormatError, match="weights_only=True"):
        read_weights_file(tmp_path / "old.pth")
    torch.save({"state_dict": {"w": torch.ones(1)}}, tmp_path / "plain.pth")
    assert torch.equal(read_weights_file(tmp_path / "plain.pth")["w"], torch.ones(1))


def test_damaged_checkpoints_name_the_file(tmp_path):
    model, _, _ = make()
    path = save_checkpoint(tmp_path / "c", model)
    (path / "state.json").write_text("{not json")
    with pytest.raises(CheckpointFormatError, match=r"state\.json: not valid JSON"):
        read_checkpoint(path)
    (path / "state.json").write_text(json.dumps({"format": "octavius-checkpoint", "version": 99}))
    with pytest.raises(CheckpointFormatError, match="version 99"):
        read_checkpoint(path)
    (path / "adapter.safetensors").unlink()
    with pytest.raises(CheckpointFormatError, match="not a checkpoint directory"):
        read_checkpoint(path)


def test_checkpoint_of_a_different_model_is_a_clear_error(tmp_path):
    model, optimizer, scheduler = make(hidden=8)
    train_steps(model, optimizer, scheduler, 1)
    path = save_checkpoint(tmp_path / "c", model, optimizer=optimizer)

    other = Net(hidden=16)  # adapter.weight is [3, 16] there
    with pytest.raises(CheckpointMismatchError) as err:
        load_checkpoint(path, other)
    message = str(err.value)
    assert str(path / "adapter.safetensors") in message
    assert "adapter.weight (checkpoint [3, 8], model [3, 16])" in message

    renamed = nn.Module()
    renamed.head = nn.Linear(8, 3)
    with pytest.raises(
        CheckpointMismatchError, match=r"missing key.*head\.weight.*unexpected key.*adapter"
    ):
        load_checkpoint(path, renamed)

    grown = Net(hidden=8)
    grown.extra = nn.Linear(2, 2)  # a new trainable module: fine to start from, not to resume
    with pytest.raises(CheckpointMismatchError, match=r"missing key.*extra\.bias"):
        load_checkpoint(path, grown)
    assert load_checkpoint(path, grown, strict=False).weights.keys() == set(
        trainable_state_dict(model)
    )

    _, two_group_opt, _ = make()
    two_group_opt.add_param_group({"params": [nn.Parameter(torch.zeros(1))]})
    with pytest.raises(CheckpointMismatchError, match=r"sizes \[3\].*\[3, 1\]"):
        load_checkpoint(path, optimizer=two_group_opt)


def test_state_codec_round_trips_every_supported_kind():
    buffer = HistoryBuffer([1.0, 2.5], [1, 2], max_length=5)
    value = {
        "state": {0: {"step": torch.tensor(3.0)}, 7: {}},
        "betas": (0.9, 0.999),
        "special": [float("nan"), float("inf"), -float("inf")],
        "np": (np.float64(1.5), np.int64(-3), np.arange(4, dtype=np.uint32)),
        "__odd__": "key",
        "hub": buffer,
        "nested": {"a": [None, True, "s", 2**70]},
    }
    skeleton, tensors, skipped = encode_state(value, "x/")
    assert skipped == []
    json.dumps(skeleton, allow_nan=False)  # strict JSON
    back = decode_state(json.loads(json.dumps(skeleton)), tensors)
    assert back["state"][0]["step"].item() == 3.0 and back["state"][7] == {}
    assert back["betas"] == (0.9, 0.999)
    assert np.isnan(back["special"][0]) and back["special"][1:] == [float("inf"), -float("inf")]
    assert type(back["np"][0]) is np.float64 and type(back["np"][1]) is np.int64
    assert back["np"][2].dtype == np.uint32 and back["np"][2].tolist() == [0, 1, 2, 3]
    assert back["__odd__"] == "key" and back["nested"] == value["nested"]
    assert back["hub"].data[0].tolist() == [1.0, 2.5] and back["hub"].max_length == 5


def test_state_codec_refuses_objects_or_skips_them_when_asked():
    class Thing:
        pass

    with pytest.raises(StateEncodingError, match="'opt/groups/0/fn' holds a value of type"):
        encode_state({"groups": [{"fn": Thing()}]}, "opt/")
    skeleton, _, skipped = encode_state({"keep": 1, "drop": Thing()}, "hub/", skip_unsupported=True)
    assert skeleton == {"keep": 1} and skipped == ["hub/drop"]
