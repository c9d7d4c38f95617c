"""The Octavius paper configs follow the official release (OpenGVLab/LAMM ``src/config/Octavius``).

Numbers from ``octavius_2d_e4_bs64.yaml``, ``octavius_3d_e3_bs64.yaml``,
``octavius_2d+3d_e6_bs64.yaml``, ``train.py`` / ``training_agent.py`` (total steps and warm-up),
``train_octavius_slurm.sh`` (``--conv_template default --use_system``) and the ChEF model configs
(``max_tgt_len: 400``).
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from torch import nn

from octavius.registry import PARAM_SCHEDULERS
from tests.configs.test_configs import CONFIG_ROOT, _load

PAPER = {"octavius_2d.py": (2, 4), "octavius_3d.py": (3, 3), "octavius_2d3d.py": (2, 6)}


def _datasets(loader):
    dataset = loader.dataset
    return list(dataset.get("datasets", [dataset]))


@pytest.mark.parametrize("name", sorted(PAPER))
def test_optimizer_epochs_and_experts(name):
    cfg = _load(CONFIG_ROOT / name)
    epochs, experts = PAPER[name]
    opt = cfg.optim_wrapper.optimizer
    # DeepSpeed "Adam" with adam_w_mode (its default): decoupled weight decay, i.e. AdamW.
    assert (opt.type, opt.lr, tuple(opt.betas), opt.eps, opt.weight_decay) == (
        "AdamW", 5e-4, (0.9, 0.95), 1e-8, 1e-3,
    )  # fmt: skip
    assert cfg.optim_wrapper.clip_grad.max_norm == 1.0
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.model.adapters.experts.num_experts == experts
    assert (cfg.model.adapters.experts.rank, cfg.model.adapters.experts.alpha) == (32, 32.0)
    assert cfg.model.generation.max_new_tokens == 400


@pytest.mark.parametrize("name", sorted(PAPER))
def test_schedule_is_warmup_decay_over_10_percent(name):
    """WarmupDecayLR: peak at 10 % of the steps (warmup_rate 0.1), linear to 0 at the end."""
    cfg = _load(CONFIG_ROOT / name)
    init_default_scope("octavius")
    optim = build_optim_wrapper(nn.Linear(2, 2), copy.deepcopy(cfg.optim_wrapper))
    epoch_length = 50
    schedulers = []
    for spec in copy.deepcopy(cfg.param_scheduler):
        spec = dict(spec)
        spec.pop("convert_to_iter_based")
        cls = PARAM_SCHEDULERS.get(spec.pop("type"))
        schedulers.append(cls.build_iter_from_epoch(optim, epoch_length=epoch_length, **spec))
    total = cfg.train_cfg.max_epochs * epoch_length
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(total):
            lrs.append(optim.get_lr()["lr"][0])
            for scheduler in schedulers:
                scheduler.step()
    peak = max(range(total), key=lrs.__getitem__)
    assert abs(peak - 0.1 * total) <= 1 and lrs[peak] == pytest.approx(5e-4, rel=1e-3)
    # Linear decay: (T - t) / (T - W) of the peak, as DeepSpeed's WarmupDecayLR.
    for t in (peak + 10, (peak + total) // 2, total - 2):
        expected = 5e-4 * (total - 1 - t) / (total - 1 - peak)
        assert lrs[t] == pytest.approx(expected, rel=2e-2, abs=1e-8)


def test_2d3d_mixture_repeats_scan2inst_twice():
    cfg = _load(CONFIG_ROOT / "octavius_2d3d.py")
    mixture = cfg.train_dataloader.dataset
    assert mixture.names == ["lamm_v2", "scan2inst"] and mixture.frequencies == [1, 2]


@pytest.mark.parametrize("name", sorted(PAPER))
def test_lamm_template_and_detection_re_templating(name):
    cfg = _load(CONFIG_ROOT / name)
    for dataset in _datasets(cfg.train_dataloader) + _datasets(cfg.test_dataloader):
        assert dataset.template.type == "LAMMTemplate"
        assert dataset.template.get("system_at_test", False) is False
        assert dataset.template.get("question_turns", "first") == "first"
    for dataset in _datasets(cfg.train_dataloader):
        transforms = [t.type for t in dataset.get("text_transforms", [])]
        assert transforms == (["RetemplateDetectionAnswer"] if dataset.name == "lamm_v2" else [])
    assert cfg.model.generation.stop_strings == ["###"]


def test_object_as_scene_tokens_match_the_length_check():
    cfg = _load(CONFIG_ROOT / "octavius_3d.py")
    scene = cfg.model.encoders.point_cloud
    assert scene.num_queries == 16
    for dataset in _datasets(cfg.train_dataloader):
        assert dataset.modality_tokens.point_cloud == scene.num_queries


def test_llava_mix_two_epochs():
    cfg = _load(CONFIG_ROOT / "llava_mole" / "llava_mix_mix111_2ep.py")
    assert cfg.train_cfg.max_epochs == 2 and cfg.param_scheduler[1].end == 2
    assert cfg.train_dataloader.dataset.frequencies == [1, 1, 1]


@pytest.mark.parametrize("name", ["octavius_3d.py", "octavius_2d3d.py"])
def test_scene_projector_is_linear_then_layernorm(name):
    """llama_proj_3d = Sequential(Linear(768, 5120), LayerNorm(5120))."""
    from octavius.models.projectors import build_projector

    cfg = _load(CONFIG_ROOT / name)
    spec = cfg.model.projector
    spec = spec.get("point_cloud", spec)
    projector = build_projector(spec, in_features=8, out_features=6)
    out = projector(torch.randn(2, 3, 8) * 5 + 3)
    torch.testing.assert_close(out.mean(-1), torch.zeros(2, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(-1, unbiased=False), torch.ones(2, 3), atol=1e-3, rtol=0)
