"""Every config in ``configs/`` loads, and builds with the large models swapped for tiny ones.

The files are globbed, so a new config is tested the moment it is added. For each one the test
loads it with :func:`octavius.config.load_config`, replaces the checkpoints it names (Vicuna,
CLIP, Point-BERT, FCAF3D RoIs, the instruction data) by tiny stand-ins built once per module,
builds the model through ``MODELS.build`` and its datasets on the synthetic 2D + 3D set, and runs
one training step's loss, a generation and the test metrics on it. What the papers fix, and what
each ablation's or variant's file name states (``e16_r4``, ``mix110``, ``token_gate``, …), is
checked in the built model (the settings a variant's file name states are listed per config in
``stated_settings.py``).
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from torch import nn

from octavius.adapters import AdaptedLinear, BaseRouter
from octavius.adapters.rules import parse_adapter_config
from octavius.config import check_top_level_keys, load_config
from octavius.data import instruction_collate
from octavius.models.base_encoder import build_encoder
from octavius.registry import DATASETS, METRICS, MODELS, PARAM_SCHEDULERS
from octavius.testing.quickstart import prepare_quickstart
from octavius.testing.synthetic import make_synthetic
from octavius.testing.tiny_assets import build_tiny_assets
from tests.configs.stated_settings import STATED

CONFIG_ROOT = Path(__file__).resolve().parents[2] / "configs"
# configs/study/ belongs to the analysis tools, which test their own configs.
ALL_FILES = sorted(
    p for p in CONFIG_ROOT.rglob("*.py") if "study" not in p.relative_to(CONFIG_ROOT).parts[:1]
)
FRAGMENTS = [p for p in ALL_FILES if "_base_" in p.parts]
CONFIGS = [p for p in ALL_FILES if "_base_" not in p.parts]
QUICKSTART = CONFIG_ROOT / "quickstart" / "octavius_2d3d_tiny.py"

TINY_POINT_BERT = dict(
    in_channels=6, trans_dim=32, depth=1, num_heads=2, group_size=8, num_group=8,
    encoder_dims=32, num_points=64,
)  # fmt: skip
#: ChatML, the chat template of SmolLM2 and Qwen, for configs prompting in the LLM's own template.
CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '</s>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
TINY_IMAGE_TOKENS = 16  # the tiny CLIP tower: 32-px images, 8-px patches
TINY_SCENE_TOKENS = 3  # Object-As-Scene queries of the miniaturised encoders
LLAMA_LINEARS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def _name(path: Path) -> str:
    return str(path.relative_to(CONFIG_ROOT))


def _load(path: Path) -> Config:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_config(path)


# --------------------------------------------------------------------------- tiny stand-ins
class Tiny:
    """Paths of the tiny assets and of the synthetic data every config is pointed at."""

    def __init__(self, root: Path) -> None:
        self.assets = build_tiny_assets(root / "assets", point_bert=TINY_POINT_BERT)
        self.data = root / "data"
        # Without open counting questions, as the quickstart: every "vqa" sample is then
        # multiple choice, as in the benchmarks the configs score with MultipleChoiceAccuracy.
        tasks = ["detection", "vqa", "caption", "classification"]
        make_synthetic(
            self.data, num_images=8, num_scenes=4, image_size=32, tasks=tasks, progress=False
        )
        # FCAF3D-style precomputed RoIs (cx, cy, cz, dx, dy, dz, score) for every scene.
        self.rois = root / "rois"
        self.rois.mkdir()
        for boxes in (self.data / "scenes").glob("*_boxes.npy"):
            rows = np.load(boxes)
            scored = np.concatenate([rows, np.full((len(rows), 1), 0.9, np.float32)], axis=1)
            np.save(self.rois / boxes.name.replace("_boxes", ""), scored)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    return Tiny(tmp_path_factory.mktemp("configs_tiny"))


def _walk(node: Any) -> Iterator[dict]:
    """Every dict inside ``node`` (depth first, parents before children)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _walk(value)


def _swap_model(model: dict, tiny: Tiny) -> None:
    """Point the model config at the tiny LLM, CLIP tower, Point-BERT and RoI files."""
    for node in list(_walk(model)):
        kind = node.get("type")
        if kind == "MultimodalLLM":
            node["llm"] = str(tiny.assets.llm)
            if node.get("tokenizer") is not None:
                node["tokenizer"] = str(tiny.assets.llm)
        elif kind == "CLIPImageEncoder":
            node.update(pretrained=str(tiny.assets.clip), dtype=None)
        elif kind == "PointBERT":
            frozen = node.get("frozen", True)
            node.clear()
            node.update(
                type="PointBERT", checkpoint=str(tiny.assets.point_bert), frozen=frozen,
                **TINY_POINT_BERT,
            )  # fmt: skip
        elif kind == "ObjectAsSceneEncoder":
            node.update(num_rois=4, points_per_roi=32, num_queries=TINY_SCENE_TOKENS, num_heads=2)
        elif kind == "PrecomputedRoISource":
            node["root"] = str(tiny.rois)
        elif kind == "FCAF3DRoISource":  # needs mmdet3d; its output format is tested elsewhere
            node.clear()
            node.update(type="PrecomputedRoISource", root=str(tiny.rois))


# Benchmark loaders read a benchmark's own files; in these tests an InstructionDataset on the
# synthetic split stands in for them (their own tests are in tests/evaluation/test_benchmarks.py).
BENCHMARK_DATASETS = {
    "LAMM2DBenchmark": ("class_names", "seed"),
    "LAMM3DBenchmark": ("class_names", "seed", "box_format"),
    "MMEBenchmark": ("subtasks", "strip_yes_no"),
    "ScienceQABenchmark": ("split", "image_only"),
}
DATASET_TYPES = {"InstructionDataset", *BENCHMARK_DATASETS}


def _swap_dataset(node: dict, tiny: Tiny) -> None:
    """Point an ``InstructionDataset`` config at the synthetic 2D or 3D split it stands for."""
    split = "test" if node.get("test_mode") else "train"
    kind = "3d" if node.get("point_root") or node.get("type") == "LAMM3DBenchmark" else "2d"
    for key in BENCHMARK_DATASETS.get(node.get("type"), ()):
        node.pop(key, None)
    if node.get("type") == "MMEBenchmark":
        node["name"] = "mme_stand_in"  # synthetic samples have no MME subtask to score
    node["type"] = "InstructionDataset"
    node.update(
        tokenizer=str(tiny.assets.llm),
        data_root=str(tiny.data),
        ann_file=f"annotations/{kind}_{split}.json",
        image_root="images",
        point_root="scenes" if kind == "3d" else "",
        max_length=1024,
        modality_tokens=dict(image=TINY_IMAGE_TOKENS, point_cloud=TINY_SCENE_TOKENS),
        # mmengine's serialisation (for worker processes) runs gc.collect, 0.3 s per dataset.
        serialize_data=False,
    )
    if (node.get("template") or {}).get("type") == "Chat":  # the tiny tokenizer has no template
        node["template"] = dict(node["template"], chat_template=CHATML)


def miniaturise(cfg: Config, tiny: Tiny) -> Config:
    """A copy of ``cfg`` with every checkpoint and data path replaced by a tiny stand-in."""
    cfg = copy.deepcopy(cfg)
    for key, value in cfg.items():
        if key == "model" or key.startswith("_"):  # the model and the fragments' parts
            _swap_model(value, tiny)
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        for node in _walk(cfg.get(key)):
            if node.get("type") in DATASET_TYPES:
                _swap_dataset(node, tiny)
    for spec in cfg.get("test_evaluator") or []:
        if spec.get("type") == "LLMJudgeAccuracy":  # a fake judge: no judge model is loaded
            spec.pop("judge_model", None)
            spec["judge"] = lambda prompts: ["Yes"] * len(prompts)
    return cfg


# --------------------------------------------------------------------------- helpers
def _datasets(cfg: Config) -> list[dict]:
    return [
        node
        for key in ("train_dataloader", "val_dataloader", "test_dataloader")
        for node in _walk(cfg.get(key))
        if node.get("type") in DATASET_TYPES
    ]


def _rules(model: dict) -> list[dict]:
    """The adapter rules of a model config, presets expanded as injection expands them."""
    adapters = model.get("adapters")
    if adapters is None:
        return []
    rules, _ = parse_adapter_config(copy.deepcopy(adapters))
    return [dict(name=r.name, experts=r.experts, router=r.router, sharing=r.sharing) for r in rules]


def _batch(dataset: Any, count: int = 3) -> dict:
    """A few samples spread over the dataset (a mixture's parts come one after another)."""
    n = len(dataset)
    picks = sorted({round(i * (n - 1) / max(count - 1, 1)) for i in range(count)})
    return instruction_collate([dataset[i] for i in picks])


# --------------------------------------------------------------------------- tests
def test_the_configs_are_found():
    names = {_name(p) for p in CONFIGS}
    assert {"octavius_2d3d.py", "octavius_2d.py", "octavius_3d.py"} <= names
    assert "quickstart/octavius_2d3d_tiny.py" in names
    assert len(CONFIGS) >= 30 and len(FRAGMENTS) >= 10


@pytest.mark.parametrize("path", ALL_FILES, ids=_name)
def test_loads_and_declares_its_variables(path: Path):
    """No misspelled top-level key (an error) and no undeclared variable (a warning otherwise)."""
    cfg = _load(path)
    assert cfg.default_scope == "octavius"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unknown = set(check_top_level_keys(cfg))
    # Names mmengine imports into a pure-Python config (``read_base``) are not config keys.
    unknown -= set(getattr(cfg, "_imported_names", ()))
    if path not in FRAGMENTS:
        assert cfg.runner_type == "OctaviusRunner"
        assert not unknown, f"declare {sorted(unknown)} in config_variables (default_runtime.py)"


@pytest.mark.parametrize("path", CONFIGS, ids=_name)
def test_paths_are_wired_and_the_tokenizer_is_the_llms(path: Path):
    """The path variables at the top of a config reach the fields that use them."""
    cfg = _load(path)
    model = cfg.model
    llm = model.llm if isinstance(model.llm, str) else model.llm.pretrained
    tokenizer = model.get("tokenizer") or llm
    assert cfg.get("llm_path", llm) == llm
    for dataset in _datasets(cfg):
        assert dataset.tokenizer == tokenizer, f"a dataset of {_name(path)} tokenizes differently"
        if "data_root" in cfg:
            assert dataset.data_root == cfg.data_root
    encoders = model.get("encoders") or {}
    if "clip_path" in cfg and "image" in encoders:
        assert encoders.image.pretrained == cfg.clip_path
    if "point_cloud" in encoders:
        scene = encoders.point_cloud
        if "point_bert_path" in cfg:
            assert scene.point_encoder.checkpoint == cfg.point_bert_path
        if "roi_root" in cfg and scene.roi_source.type == "PrecomputedRoISource":
            assert scene.roi_source.root == cfg.roi_root


@pytest.mark.parametrize(
    "path", [p for p in CONFIGS if _load(p).get("stage1_checkpoint")], ids=_name
)
def test_stage2_starts_from_its_stage1_run(path: Path):
    """``stage1_checkpoint`` is the last checkpoint of a stage-1 config of the same model."""
    cfg = _load(path)
    root, run, checkpoint = Path(cfg.stage1_checkpoint).parts
    stage1 = [p for p in CONFIGS if p.stem == run]
    assert root == "work_dirs" and len(stage1) == 1 and "stage1" in run
    first = _load(stage1[0])
    assert first.model.adapters is None and cfg.model.adapters is not None
    assert first.model.encoders == cfg.model.encoders
    assert first.model.projector == cfg.model.projector
    loop = first.train_cfg
    last = loop.get("max_epochs") if loop.type == "EpochBasedTrainLoop" else loop.max_iters
    unit = "epoch" if loop.type == "EpochBasedTrainLoop" else "iter"
    assert checkpoint == f"{unit}_{last}"


def _lr_curve(cfg: Config) -> list[float]:
    """The learning rate of every iteration of ``cfg``'s schedule, as mmengine steps it.

    Epoch-based schedules get epochs long enough for the warm-up to be 20% of the run at most,
    as it is on the papers' data sets.
    """
    optim = build_optim_wrapper(nn.Linear(2, 2), copy.deepcopy(cfg.optim_wrapper))
    warmup = cfg.param_scheduler[0]
    loop = cfg.train_cfg
    if loop["type"] == "IterBasedTrainLoop":
        epoch_length, total = 1, loop["max_iters"]
    elif warmup.get("by_epoch"):  # a warm-up counted in epochs (a fraction of the run)
        epoch_length = 100
        total = loop["max_epochs"] * epoch_length
    else:
        epoch_length = math.ceil(5 * warmup.end / loop["max_epochs"])
        total = loop["max_epochs"] * epoch_length
    schedulers = []
    for spec in cfg.param_scheduler:
        spec = dict(spec)
        if spec.pop("convert_to_iter_based", False):
            cls = PARAM_SCHEDULERS.get(spec.pop("type"))
            schedulers.append(cls.build_iter_from_epoch(optim, epoch_length=epoch_length, **spec))
        else:
            schedulers.append(PARAM_SCHEDULERS.build({**spec, "optimizer": optim}))
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()"
        for _ in range(total):
            lrs.append(optim.get_lr()["lr"][0])
            for scheduler in schedulers:
                scheduler.step()
    lrs.append(optim.get_lr()["lr"][0])
    return lrs


_CHECKED_SCHEDULES: set[str] = set()


@pytest.mark.parametrize(
    "path", [p for p in ALL_FILES if "schedules" in p.parts] + CONFIGS, ids=_name
)
def test_schedule_warms_up_then_decays_to_the_minimum(path: Path):
    """AdamW; the LR rises linearly to about the base LR, then decays to ``eta_min``.

    The decay is a cosine to ``eta_min``, or linear to ``end_factor × lr`` (Octavius's
    ``WarmupDecayLR``); a warm-up counted in epochs ends at ``end × epoch length`` iterations.
    """
    cfg = _load(path)
    if cfg.get("param_scheduler") is None:
        pytest.skip("no schedule")
    assert cfg.optim_wrapper.optimizer.type == "AdamW"
    key = json.dumps([cfg.optim_wrapper, cfg.param_scheduler, cfg.train_cfg], sort_keys=True)
    if key in _CHECKED_SCHEDULES:
        return  # the same schedule as a config checked before
    init_default_scope("octavius")
    warmup, cosine = cfg.param_scheduler
    base = cfg.optim_wrapper.optimizer.lr
    lrs = _lr_curve(cfg)
    assert lrs[0] == pytest.approx(base * warmup.start_factor, rel=1e-6)
    peak = int(np.argmax(lrs))
    warmup_end = round(warmup.end * 100) if warmup.get("by_epoch") else warmup.end
    assert abs(peak - warmup_end) <= 1
    assert lrs[peak] > 0.85 * base  # the cosine decay may have begun during the warm-up
    assert all(a < b for a, b in itertools.pairwise(lrs[: peak + 1]))
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(lrs[peak:]))
    final = cosine.eta_min if cosine.type == "CosineAnnealingLR" else base * cosine.end_factor
    assert lrs[-1] == pytest.approx(final, rel=1e-2, abs=1e-9)
    _CHECKED_SCHEDULES.add(key)


def _check_stated(path: Path, rules: dict[str, dict], model: Any, train_set: Any) -> None:
    """What a config states about itself (``stated_settings.STATED``) is what it builds."""
    stated = STATED.get(path.stem, {})
    if "factors" in stated:
        pools = [p for p in model.modules() if type(p).__name__ == "LoRAFactorPool"]
        assert pools and {(p.num_factors, p.rank) for p in pools} == {stated["factors"]}
    if "mlp_experts" in stated:
        assert rules["mlp"]["experts"]["num_experts"] == stated["mlp_experts"]
        banks = {a.experts.num_choices for a in _adapted(model) if a.name.split(".")[-2] == "mlp"}
        assert banks == {stated["mlp_experts"]}
    if "frequencies" in stated:
        assert train_set.frequencies == stated["frequencies"]
    if "lora_rank" in stated:  # every LoRA at rank r with α = 2r
        assert {a.experts.rank for a in _adapted(model)} == {stated["lora_rank"]}
        assert {a.experts.scale for a in _adapted(model)} == {2.0}


def _router_types(model: Any) -> set[str]:
    return {type(m).__name__ for m in model.modules() if isinstance(m, BaseRouter)}


def _adapted(model: Any) -> list[Any]:
    return [m for m in model.modules() if isinstance(m, AdaptedLinear)]


def _check_paper_settings(path: Path, rules: dict[str, dict], model: Any) -> None:
    """What the papers fix for each family, and what each ablation changes."""
    name = path.stem
    routers = _router_types(model)
    if name.startswith("octavius") and not name.endswith(
        ("lora", "lora_r32", "token_gate", "token_gate_lb", "stage1_projectors")
    ):
        attention = rules["attention"]
        assert attention["router"]["type"] == "InstanceRouter" and attention["sharing"] == "global"
        assert routers == {"InstanceRouter"}
        # 6 experts for 2D + 3D, 3 for 3D, 4 for 2D (Table 5); 8 and one per task as ablations.
        experts = 6 if "2d3d" in name else 3 if "_3d" in name else 4
        experts = 8 if "_e8" in name else 5 if "individual" in name else experts
        assert attention["experts"]["num_experts"] == experts
        mode = {"octavius_2d_weighted_sum": "dense", "octavius_2d_individual": "individual"}
        assert attention["router"].get("mode", "sparse") == mode.get(name, "sparse")
        if mode.get(name, "sparse") == "sparse":
            assert attention["router"]["top_k"] == 2
        rank = {"octavius_2d_r16": 16, "octavius_2d_r8": 8, "octavius_2d3d_tiny": 8}.get(name, 32)
        assert attention["experts"]["rank"] == rank
        balanced = name.endswith("_lb")
        assert (attention["router"].get("balance_loss_weight", 0) > 0) == balanced
    if name.endswith(("_lora", "lora_r32")) or name.startswith(("llava_mix", "llava_15", "lora_r")):
        assert not routers
        assert all(m.experts.num_choices == 1 for m in _adapted(model))
    if "token_gate" in name:
        assert routers == {"TokenRouter"}
        assert (rules["attention"]["router"]["balance_loss_weight"] > 0) == name.endswith("_lb")
    if name.startswith("llava_mole") and "stage1" not in name:
        assert routers == {"TokenRouter"}
        assert rules["mlp"]["router"]["top_k"] == 1 and rules["mlp"]["sharing"] == "block"
        assert rules["attention"]["router"] is None
        assert rules["mlp"]["router"].get("mode", "sparse") == (
            "dense" if "dense" in name else "sparse"
        )
    if "stage1" in name:  # projectors (and Object-As-Scene's fusion) only
        assert not _adapted(model)
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        assert any(n.startswith("projectors.") for n in trainable)
        assert all(n.startswith(("projectors.", "encoders.point_cloud.")) for n in trainable)
    if name.startswith("mixlora") and "stage1" not in name:
        expected = {"random": "RandomRouter", "task_embedding": "TaskEmbeddingRouter"}
        kind = next((v for k, v in expected.items() if name.endswith(k)), "ConditionalFactorRouter")
        assert routers == {kind}
        if kind == "ConditionalFactorRouter":
            assert rules["mixlora"]["router"].get("use_cfs", True) == (not name.endswith("no_cfs"))
        if kind == "TaskEmbeddingRouter":
            assert rules["mixlora"]["sharing"] == "global"
    if name.startswith(("mixlora", "lora_r")) and "stage1" not in name:
        assert {m.name.split(".")[-1] for m in _adapted(model)} == LLAMA_LINEARS


@pytest.mark.parametrize("path", CONFIGS, ids=_name)
def test_builds_with_tiny_models_and_runs_a_step(path: Path, tiny: Tiny):
    """MODELS.build on the miniaturised config; datasets on synthetic data; a loss and a reply."""
    cfg = miniaturise(_load(path), tiny)
    init_default_scope("octavius")
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    rules = {r["name"]: r for r in _rules(cfg.model)}

    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    _check_paper_settings(path, rules, model)
    _check_stated(path, rules, model, train_set)

    model.train()
    data = model.data_preprocessor(_batch(train_set), training=True)
    losses = model(**data, mode="loss")
    assert losses and all(torch.isfinite(v) for v in losses.values())
    sum(v for k, v in losses.items() if k.startswith("loss")).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and any(g is not None and g.abs().sum() > 0 for g in grads)
    frozen = [
        p for n, p in model.named_parameters() if n.startswith("llm.") and not p.requires_grad
    ]
    assert all(p.grad is None for p in frozen)

    if cfg.get("test_dataloader") is not None:
        test_set = DATASETS.build(cfg.test_dataloader.dataset)
        model.eval()
        model.generation_config.max_new_tokens = 3
        batch = model.data_preprocessor(_batch(test_set, count=4), training=False)
        predictions = model(**batch, mode="predict")
        assert len(predictions) == len(batch["data_samples"])
        assert all(isinstance(p["pred_text"], str) for p in predictions)
        scores = {}
        for spec in cfg.test_evaluator:
            metric = METRICS.build(spec)
            metric.process(batch, predictions)
            scores.update(metric.compute_metrics(metric.results))
        assert scores and all(math.isfinite(v) for v in scores.values())


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in FRAGMENTS
        if "models" in p.parts or ("datasets" in p.parts and p.stem != "instruction_data")
    ],
    ids=_name,
)
def test_fragments_build_on_their_own(path: Path, tiny: Tiny):
    """Model and dataset fragments are complete: they build without a leaf around them."""
    cfg = miniaturise(_load(path), tiny)
    init_default_scope("octavius")
    if "models" in path.parts:
        if cfg.get("model") is not None:
            assert isinstance(MODELS.build(cfg.model), nn.Module)
        else:  # a part of models, e.g. the Object-As-Scene encoder
            parts = [v for k, v in cfg.items() if k.startswith("_") and isinstance(v, dict)]
            assert parts and all(isinstance(build_encoder(p), nn.Module) for p in parts)
    else:
        for key in ("train_dataloader", "test_dataloader"):
            if cfg.get(key) is not None:
                assert len(DATASETS.build(cfg[key].dataset)) > 0


def _rebase(node: Any, old: str, new: str) -> Any:
    """``node`` with every string starting with ``old`` starting with ``new`` instead."""
    if isinstance(node, dict):
        return type(node)({k: _rebase(v, old, new) for k, v in node.items()})
    if isinstance(node, (list, tuple)):
        return type(node)(_rebase(v, old, new) for v in node)
    if isinstance(node, str) and node.startswith(old):
        return new + node[len(old) :]
    return node


def test_quickstart_prepares_what_its_model_and_data_read(tmp_path: Path):
    """``prepare_quickstart`` writes the files the quickstart model and datasets load."""
    cfg = _load(QUICKSTART)
    assert cfg.cache_root == ".cache/quickstart"  # git-ignored (.gitignore: .cache/)
    for key in ("quickstart", "model", "train_dataloader", "test_dataloader"):
        cfg[key] = _rebase(cfg[key].to_dict(), cfg.cache_root, str(tmp_path))
    cfg.quickstart["synthetic"].update(num_images=8, num_scenes=4, progress=False)
    prepare_quickstart(cfg)
    assert (tmp_path / "assets" / "llama").is_dir() and (tmp_path / "data" / "README.md").is_file()
    scenes = sorted(p.name for p in (tmp_path / "data" / "scenes").glob("*_boxes.npy"))
    rois = sorted(p.name for p in (tmp_path / "rois").glob("*.npy"))
    assert scenes and rois == [name.replace("_boxes", "") for name in scenes]
    assert cfg.model.encoders.point_cloud.roi_source.root == str(tmp_path / "rois")
    assert cfg.model.llm == str(tmp_path / "assets" / "llama")
    init_default_scope("octavius")
    model = MODELS.build(cfg.model)
    assert model.adapter_report is not None and model.adapter_report.per_rule == {"attention": 8}
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    test_set = DATASETS.build(cfg.test_dataloader.dataset)
    assert len(train_set) > len(test_set) > 0
    data = model.data_preprocessor(_batch(train_set), training=True)
    assert torch.isfinite(model(**data, mode="loss")["loss_lm"])


def test_quickstart_names_assets_the_model_loads():
    """The tiny assets the quickstart builds are the files its model and datasets read."""
    cfg = _load(QUICKSTART)
    root = cfg.quickstart.tiny_assets.root
    assert cfg.model.llm == f"{root}/llama"
    assert cfg.model.encoders.image.pretrained == f"{root}/clip"
    point_bert = cfg.model.encoders.point_cloud.point_encoder
    assert point_bert.checkpoint == f"{root}/point_bert.safetensors"
    sizes = {k: v for k, v in point_bert.items() if k not in ("type", "checkpoint")}
    assert sizes == dict(cfg.quickstart.tiny_assets.point_bert)
    data_root = cfg.quickstart.synthetic.out_dir
    assert {d.data_root for d in _datasets(cfg)} == {data_root}
    assert cfg.quickstart.test_after_train
    assert cfg.train_cfg.type == "IterBasedTrainLoop"
    assert json.dumps(cfg.quickstart.to_dict())  # plain data: the quickstart builder reads it
    assert math.isfinite(cfg.optim_wrapper.optimizer.lr)
