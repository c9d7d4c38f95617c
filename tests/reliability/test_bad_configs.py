"""Bad configs and command lines: one paragraph naming the file/key, exit code 2, no traceback."""

from __future__ import annotations

import pytest

from tests.reliability.helpers import assert_user_error, run_tool

_WORK = "/nonexistent/reliability-work"  # replaced per test by the `work` fixture


@pytest.fixture(autouse=True)
def work(tmp_path):
    global _WORK
    _WORK = str(tmp_path / "w")


def _child(tmp_path, tiny, text: str):
    cfg = tmp_path / "child.py"
    cfg.write_text(f"_base_ = ['{tiny['config']}']\n{text}\n")
    return cfg


def _train(config, *options: str, extra: tuple[str, ...] = ()):
    argv = [str(config), "--no-progress", *extra]
    if "--work-dir" not in extra:
        argv += ["--work-dir", str(_WORK)]
    if options:
        argv += ["--cfg-options", *options]
    return run_tool("train", argv)


def test_missing_config_file(tmp_path):
    assert_user_error(_train(tmp_path / "nope.py"), str(tmp_path / "nope.py"))


def test_syntax_error_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("model = dict(\n    type='MultimodalLLM',\n    llm='x'\nwork_dir = 'w'\n")
    err = assert_user_error(_train(bad), f"{bad}:")
    assert "syntax error" in err


def test_syntax_error_in_an_inherited_base_names_the_base(tmp_path):
    (tmp_path / "base.py").write_text("a = 1\nb = [1, 2\n")
    child = tmp_path / "child.py"
    child.write_text(
        "from mmengine.config import read_base\nwith read_base():\n    from .base import *\n"
    )
    assert_user_error(_train(child), f"{tmp_path / 'base.py'}:2")


def test_name_error_in_config_names_file_and_line(tmp_path):
    bad = tmp_path / "name.py"
    bad.write_text("a = 1\nb = undefined_name + 1\n")
    assert_user_error(_train(bad), f"{bad}:2", "undefined_name")


def test_misspelled_top_level_key(tmp_path, tiny):
    cfg = _child(tmp_path, tiny, "train_dataloder = dict()")
    assert_user_error(_train(cfg), "train_dataloder", "train_dataloader")


@pytest.mark.parametrize(
    ("option", "path", "suggestion"),
    [
        ("model.adapters.experts.num_expert=3", "model.adapters.experts", "num_experts"),
        ("model.adapters.router.top_kk=2", "model.adapters.router", "top_k"),
        ("model.adapters.experts.rnak=4", "model.adapters.experts", "rank"),
        ("optim_wrapper.optimizer.weight_decai=0.1", "optim_wrapper.optimizer", "weight_decay"),
        (
            "model.adapters.router.balance_los_weight=0.1",
            "model.adapters.router",
            "balance_loss_weight",
        ),
        ("train_cfg.max_iter=3", "train_cfg", "max_iters"),
    ],
)
def test_nested_typo_names_dict_path_and_closest_argument(tiny, option, path, suggestion):
    assert_user_error(_train(tiny["config"], option), path, f"'{suggestion}'", str(tiny["config"]))


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        (
            "model = dict(adapters=dict(experts=dict(rank='8')))",
            "model.adapters.experts.rank",
            "int",
        ),
        ("optim_wrapper = dict(optimizer=dict(lr='3e-3'))", "optim_wrapper.optimizer.lr", "float"),
        (
            "model = dict(adapters=dict(router=dict(top_k=2.5)))",
            "model.adapters.router.top_k",
            "int",
        ),
        (
            "model = dict(adapters=dict(experts=dict(alpha='big')))",
            "model.adapters.experts.alpha",
            "float",
        ),
        (
            "model = dict(adapters=dict(experts=dict(num_experts=3.0)))",
            "model.adapters.experts.num_experts",
            "int",
        ),
        ("train_cfg = dict(max_iters='10')", "train_cfg.max_iters", "int"),
    ],
)
def test_wrong_value_type_names_key_and_expected_type(tmp_path, tiny, text, key, expected):
    assert_user_error(_train(_child(tmp_path, tiny, text)), key, expected, "child.py")


@pytest.mark.parametrize("value", ["0", "-3"])
def test_non_positive_max_iters_is_invalid(tiny, value):
    assert_user_error(_train(tiny["config"], f"train_cfg.max_iters={value}"), "train_cfg.max_iters")


def test_cfg_options_item_without_equals(tiny):
    code, _, err = _train(tiny["config"], "train_cfg.max_iters")
    assert code == 2 and "'train_cfg.max_iters' is not KEY=VALUE" in err
    assert "Traceback" not in err


def test_unknown_component_type_names_registry_and_closest(tiny):
    err = assert_user_error(
        _train(tiny["config"], "model.adapters.router.type=InstanceRouterr"), "InstanceRouterr"
    )
    assert "InstanceRouter" in err.replace("InstanceRouterr", "")


def test_resume_from_a_missing_checkpoint_path(tiny, tmp_path):
    result = _train(tiny["config"], extra=("--resume", str(tmp_path / "iter_9")))
    assert_user_error(result, str(tmp_path / "iter_9"))


def test_amp_with_an_optim_wrapper_it_cannot_replace(tiny):
    result = _train(tiny["config"], "optim_wrapper.type=ApexOptimWrapper", extra=("--amp",))
    assert_user_error(result, "ApexOptimWrapper", "--amp")


def test_quickstart_section_of_wrong_type(tiny, tmp_path):
    assert_user_error(_train(_child(tmp_path, tiny, "quickstart = 3")), "quickstart")


def test_unknown_command_line_option(tiny):
    code, _, err = run_tool("train", [str(tiny["config"]), "--resum"])
    assert code == 2 and "--resum" in err and "Traceback" not in err
