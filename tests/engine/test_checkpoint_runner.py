"""mmengine integration: SafeCheckpointHook saves, OctaviusRunner resumes bit-identically."""

from __future__ import annotations

import pytest
import torch
from mmengine.runner import Runner

import octavius.checkpoints.runner_state as runner_state
from octavius.checkpoints import CheckpointMismatchError, read_checkpoint
from octavius.engine import SafeCheckpointHook

from .toy_runner import SimulatedCrash, ToyDataset, ToyModel, build_runner, trained_weights


def crash_then_resume(work_dir, max_iters=10, interval=4, crash_at=6):
    runner = build_runner(work_dir, max_iters, interval, crash_at=crash_at, experiment_name="crash")
    with pytest.raises(SimulatedCrash):
        runner.train()
    resumed = build_runner(work_dir, max_iters, interval, resume=True, experiment_name="resume")
    resumed.train()
    return resumed


def test_resumed_run_ends_bit_identical_to_an_uninterrupted_one(tmp_path):
    full = build_runner(tmp_path / "full", 10, 4, experiment_name="full")
    full.train()
    resumed = crash_then_resume(tmp_path / "crashed")
    a, b = trained_weights(full), trained_weights(resumed)
    assert a.keys() == b.keys() == {"head.weight", "head.bias"}
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.iter == 10
    lr = [g["lr"] for g in resumed.optim_wrapper.param_groups]
    assert lr == [g["lr"] for g in full.optim_wrapper.param_groups]
    optimizer_a = full.optim_wrapper.state_dict()["state"]
    optimizer_b = resumed.optim_wrapper.state_dict()["state"]
    for k in optimizer_a:
        assert all(torch.equal(optimizer_a[k][n], optimizer_b[k][n]) for n in optimizer_a[k])


def test_without_restoring_the_random_state_the_runs_differ(tmp_path, monkeypatch):
    """The bit-identical result above depends on the RNG restore (dropout draws from it)."""
    full = build_runner(tmp_path / "full", 10, 4, experiment_name="full")
    full.train()
    monkeypatch.setattr(runner_state, "restore_rng_state", lambda state: None)
    resumed = crash_then_resume(tmp_path / "crashed")
    a, b = trained_weights(full), trained_weights(resumed)
    assert not all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoints_are_pruned_after_the_new_one_is_complete(tmp_path):
    runner = build_runner(tmp_path, 10, 4, experiment_name="prune")
    runner.train()
    kept = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("iter_"))
    assert kept == ["iter_10", "iter_8"]
    assert (tmp_path / "last_checkpoint").read_text() == str(tmp_path / "iter_10")
    ckpt = read_checkpoint(tmp_path / "iter_10")
    assert ckpt.meta["iter"] == 10 and ckpt.meta["seed"] == 7
    assert ckpt.message_hub["runtime_info"]["keep_ckpt_ids"] == [8, 10]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_the_default_checkpoint_hook_becomes_the_safe_one(tmp_path):
    hooks = dict(checkpoint=dict(type="CheckpointHook", interval=5, by_epoch=False))
    runner = build_runner(tmp_path, 5, 5, default_hooks=hooks, experiment_name="default")
    assert any(isinstance(h, SafeCheckpointHook) for h in runner.hooks)
    runner.train()
    assert (tmp_path / "iter_5" / "adapter.safetensors").is_file()
    assert not list(tmp_path.glob("*.pth"))


def test_mmengine_runner_cannot_resume_these_checkpoints_and_says_why(tmp_path):
    build_runner(tmp_path, 4, 4, experiment_name="first").train()
    plain = Runner(
        model=ToyModel(),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type="InfiniteSampler"),
            collate_fn=dict(type="default_collate"),
            batch_size=4,
        ),
        train_cfg=dict(by_epoch=False, max_iters=8),
        optim_wrapper=dict(optimizer=dict(type="AdamW", lr=0.01)),
        default_hooks=dict(checkpoint=dict(type="SafeCheckpointHook", interval=4, by_epoch=False)),
        default_scope="octavius",
        resume=True,
        experiment_name="plain",
    )
    with pytest.raises(ValueError, match="runner_type = 'OctaviusRunner'"):
        plain.train()


def test_load_from_a_different_model_names_file_and_keys(tmp_path):
    build_runner(tmp_path / "a", 4, 4, experiment_name="a").train()
    runner = build_runner(
        tmp_path / "b", 4, 4, experiment_name="b", load_from=str(tmp_path / "a" / "iter_4")
    )
    runner.model.head = torch.nn.Linear(8, 5)  # another head: 5 outputs instead of 2
    with pytest.raises(CheckpointMismatchError) as err:
        runner.train()
    assert str(tmp_path / "a" / "iter_4" / "adapter.safetensors") in str(err.value)
    assert "head.weight (checkpoint [2, 8], model [5, 8])" in str(err.value)


def test_load_from_loads_weights_only(tmp_path):
    first = build_runner(tmp_path / "a", 4, 4, experiment_name="a")
    first.train()
    runner = build_runner(
        tmp_path / "b", 4, 4, experiment_name="b", load_from=str(tmp_path / "a" / "iter_4.pth")
    )  # mmengine-style name
    runner.load_or_resume()
    assert torch.equal(runner.model.head.weight, first.model.head.weight)
    assert runner.iter == 0


def test_epoch_based_resume_is_bit_identical(tmp_path):
    def epoch_runner(work_dir, name, **kwargs):
        return build_runner(
            work_dir,
            4,
            1,
            experiment_name=name,
            train_cfg=dict(by_epoch=True, max_epochs=4, val_interval=100),
            default_hooks=dict(checkpoint=dict(type="SafeCheckpointHook", interval=1)),
            param_scheduler=dict(type="CosineAnnealingLR", by_epoch=True, T_max=4, eta_min=1e-4),
            train_dataloader=dict(
                dataset=ToyDataset(),
                sampler=dict(type="DefaultSampler", shuffle=True),  # epochs end
                collate_fn=dict(type="default_collate"),
                batch_size=4,
            ),
            **kwargs,
        )

    full = epoch_runner(tmp_path / "full", "full")
    full.train()
    crashed = epoch_runner(tmp_path / "crashed", "crash", crash_at=7)  # mid epoch 3 (3 iters each)
    with pytest.raises(SimulatedCrash):
        crashed.train()
    assert (tmp_path / "crashed" / "last_checkpoint").read_text().endswith("epoch_2")
    resumed = epoch_runner(tmp_path / "crashed", "resume", resume=True)
    resumed.train()
    assert resumed.epoch == 4
    a, b = trained_weights(full), trained_weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_validation_leaves_the_training_random_stream_alone(tmp_path):
    runner = build_runner(tmp_path, 4, 4, experiment_name="val")
    before = torch.get_rng_state()
    runner.call_hook("before_val")
    assert torch.equal(runner.training_rng_state["torch"], before)
    torch.rand(100)  # evaluation draws (sampling, random routing …)
    runner.call_hook("after_val")
    assert torch.equal(torch.get_rng_state(), before)
    assert runner.training_rng_state is None
