"""What ``tools/export.py`` does: build a model from a config and checkpoint, then export it.

- :func:`export_merged` — a standalone Hugging Face model with an expert set or a prompt's
  routing merged into the weights (:mod:`octavius.export.merged`);
- :func:`export_peft` — the LoRA adapters in peft's format (:mod:`octavius.export.peft_io`);
- :func:`import_peft` — a peft LoRA adapter into an Octavius checkpoint, plus the adapter rules
  to put in the config that loads it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmengine.config import Config
from torch import nn

from octavius.checkpoints.atomic import atomic_directory
from octavius.checkpoints.checkpoint import (
    load_weights,
    resolve_checkpoint_path,
    save_checkpoint,
)
from octavius.checkpoints.runner_state import read_weights_file
from octavius.engine.export_guards import (
    check_expert_weights,
    check_output_dir,
    refuse_expert_set_for_token_routing,
    source_dirs,
)
from octavius.loading import build_model, load_model


def _llm(model: nn.Module) -> nn.Module:
    llm = getattr(model, "llm", None)
    if llm is None:
        raise TypeError(f"{type(model).__name__} has no `llm`; export needs a MultimodalLLM.")
    return llm


def _dataset_settings(cfg: Config) -> dict[str, Any]:
    """Template and task list of the config's test (or training) dataset, for prompt routing."""
    for key in ("test_dataloader", "val_dataloader", "train_dataloader"):
        dataset = (cfg.get(key) or {}).get("dataset") or {}
        if "datasets" in dataset:  # a mixture: its members share template and tasks
            dataset = dataset["datasets"][0]
        if dataset:
            return {"template": dataset.get("template", "VicunaV1"), "tasks": dataset.get("tasks")}
    return {"template": "VicunaV1", "tasks": None}


def export_merged(
    cfg: Config,
    checkpoint: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    experts: Sequence[int] | None = None,
    weights: Sequence[float] | None = None,
    prompt: str | None = None,
    task: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Merge an expert set (``experts``/``weights``) or a prompt's routing and save the LLM.

    The output is written under a temporary name and moved into place when complete; it may not
    be (inside) a directory the export reads, nor non-empty without ``overwrite``.

    Raises:
        ValueError: Unless exactly one of ``experts`` and ``prompt`` is given (a model whose
            layers are not routed needs neither).
        octavius.engine.export_guards.ExportError: For an output directory that would overwrite
            a source or existing files, bad ``weights``, or ``experts`` on a token-routed model.
    """
    from octavius.export.merged import expert_set_decision, export_merged_model, prompt_routing

    if experts is not None and prompt is not None:
        raise ValueError("choose the routing with either an expert set or a prompt, not both.")
    check_expert_weights(experts, weights)
    check_output_dir(out_dir, source_dirs(cfg.get("model"), checkpoint), overwrite)
    model = load_model(cfg, checkpoint)
    if experts is not None:
        refuse_expert_set_for_token_routing(model, "export merged")
    info: dict[str, Any] = {"config": str(cfg.filename), "checkpoint": str(checkpoint)}
    decisions: Any = None
    if experts is not None:
        decisions = expert_set_decision(list(experts), list(weights) if weights else None)
    elif prompt is not None:
        settings = _dataset_settings(cfg)
        decisions = prompt_routing(model, prompt, task, settings["template"], settings["tasks"])
        info.update(prompt=prompt, task=task)
    with atomic_directory(out_dir) as tmp:
        export_merged_model(_llm(model), tmp, decisions, model.tokenizer, info)
    return Path(out_dir)


def export_peft(
    cfg: Config,
    checkpoint: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    experts: Sequence[int] | None = None,
    weights: Sequence[float] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the checkpoint's LoRA adapters in peft's format (an expert set for routed layers).

    Same output-directory rules as :func:`export_merged`; ``experts`` on a token-routed model is
    refused.
    """
    from octavius.export.peft_io import export_peft_adapter

    check_expert_weights(experts, weights)
    check_output_dir(out_dir, source_dirs(cfg.get("model"), checkpoint), overwrite)
    model = load_model(cfg, checkpoint)
    if experts is not None:
        refuse_expert_set_for_token_routing(model, "export peft")
    with atomic_directory(out_dir) as tmp:
        export_peft_adapter(_llm(model), tmp, experts=experts, expert_weights=weights)
        model.tokenizer.save_pretrained(str(tmp))
    return Path(out_dir)


def import_peft(
    cfg: Config,
    adapter_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    base_checkpoint: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> tuple[Path, list[dict[str, Any]]]:
    """Turn a peft LoRA adapter into an Octavius checkpoint.

    The model of ``cfg`` is built without adapters, the adapter is injected and loaded into its
    LLM, and the trainable weights are saved as a checkpoint directory.

    Args:
        cfg: The config whose model the adapter belongs to (its ``model.adapters`` is ignored).
        adapter_dir: The peft adapter directory.
        out_dir: The checkpoint directory to write.
        base_checkpoint: Weights for the parts outside the LLM (projectors, fusion), e.g. a
            stage-1 checkpoint (its LLM entries are ignored); otherwise they keep their
            initial values.

    Returns:
        The checkpoint directory and the adapter rules to set as ``model.adapters`` in the
        config that loads it.
    """
    from octavius.export.peft_io import import_peft_adapter, peft_adapter_rules

    sources = source_dirs(cfg.get("model"), base_checkpoint) + source_dirs(None, adapter_dir)
    check_output_dir(out_dir, sources, overwrite)
    cfg.model.adapters = None
    model = build_model(cfg)
    if base_checkpoint is not None:
        path = resolve_checkpoint_path(base_checkpoint)
        # The LLM's adapters come from the peft adapter; everything else from the checkpoint.
        others = {k: v for k, v in read_weights_file(path).items() if not k.startswith("llm.")}
        load_weights(model, others, source=path, strict=False)
    import_peft_adapter(_llm(model), adapter_dir)
    return save_checkpoint(out_dir, model, rng_state=False), peft_adapter_rules(adapter_dir)
