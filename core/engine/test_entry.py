"""What ``tools/test.py`` does: load a checkpoint, generate answers, score them, report.

:func:`run_test` builds the runner of a config, loads the checkpoint strictly (every trainable
parameter must be in it, nothing else may be; a checkpoint of another model fails with an error
naming the file), generates the answers with a progress bar, and then
:func:`report_test_results` prints one table per dataset like the papers' tables and writes::

    WORK_DIR/metrics.json        flat {"dataset/task/metric": value}
    WORK_DIR/predictions.jsonl   one JSON object per evaluated sample (PredictionWriterHook)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mmengine.config import Config
from mmengine.dist import is_main_process

from octavius.engine.launch import apply_launcher
from octavius.engine.train_entry import (
    add_custom_hook,
    build_runner,
    default_work_dir,
    remove_custom_hook,
)

_TEST_KEYS = ("test_dataloader", "test_evaluator")
_VAL_KEYS = ("val_dataloader", "val_evaluator")


def apply_test_options(
    cfg: Config,
    work_dir: str | os.PathLike | None = None,
    launcher: str = "none",
    progress: bool = True,
    predictions: str = "predictions.jsonl",
) -> Config:
    """Prepare ``cfg`` (in place) for evaluation and return it.

    A config without ``test_*`` sections is evaluated with its ``val_*`` ones. Training-only
    settings (``resume``, ``load_from``) are cleared: the checkpoint is loaded by
    :func:`run_test`.

    Raises:
        KeyError: When the config has neither complete test nor validation sections.
    """
    if not all(cfg.get(k) for k in _TEST_KEYS):
        if not all(cfg.get(k) for k in _VAL_KEYS):
            source = cfg.filename or "<config>"
            raise KeyError(
                f"{source}: evaluation needs {_TEST_KEYS} (or {_VAL_KEYS}); the config has "
                f"{[k for k in (*_TEST_KEYS, *_VAL_KEYS) if cfg.get(k)]}."
            )
        cfg.test_dataloader = cfg.val_dataloader
        cfg.test_evaluator = cfg.val_evaluator
    cfg.test_cfg = cfg.get("test_cfg") or {}  # mmengine's TestLoop by default
    if work_dir is not None:
        cfg.work_dir = str(work_dir)
    elif cfg.get("work_dir") is None:
        cfg.work_dir = default_work_dir(cfg.filename)
    cfg.resume = False
    cfg.load_from = None
    apply_launcher(cfg, launcher)
    cfg.setdefault("runner_type", "OctaviusRunner")
    if progress:
        add_custom_hook(cfg, {"type": "ProgressHook"})
    else:
        remove_custom_hook(cfg, "ProgressHook")
    add_custom_hook(cfg, {"type": "PredictionWriterHook", "out_file": predictions})
    return cfg


def report_test_results(runner: Any, metrics: dict[str, float]) -> Path | None:
    """Print the metric tables, the count of truncated answers, and write ``work_dir/metrics.json``
    (main process only).

    Truncated answers (``max_new_tokens`` reached without EOS) are counted by the runner's
    ``PredictionWriterHook``; they lower detection recall and caption scores silently.

    Returns:
        The ``metrics.json`` path on the main process, else ``None``.
    """
    from octavius.evaluation.metric_tables import print_metric_tables, write_metrics_json

    if not is_main_process():
        return None
    path = write_metrics_json(metrics, runner.work_dir)
    print_metric_tables(metrics)
    for hook in getattr(runner, "hooks", ()):
        if getattr(hook, "truncation", None) is not None:
            line = hook.truncation.summary()
            print(line)
            runner.logger.info(line)
    runner.logger.info(f"Wrote {len(metrics)} metrics to {path}")
    return path


def run_test(cfg: Config, checkpoint: str | os.PathLike) -> dict[str, float]:
    """Evaluate the weights of ``checkpoint`` with the test sections of ``cfg``.

    Args:
        cfg: A config prepared by :func:`apply_test_options`.
        checkpoint: A checkpoint directory (``iter_N/``, or ``iter_N.pth`` as mmengine names it),
            a ``.safetensors`` file or a torch state dict file (read with ``weights_only=True``).

    Returns:
        The metrics, ``{"dataset/task/metric": value}``.

    Raises:
        octavius.checkpoints.checkpoint.CheckpointError: When the checkpoint cannot be read or does
            not fit the model (the message names the file and the keys).
    """
    from octavius.checkpoints.runner_state import load_runner_weights

    if not Path(checkpoint).exists() and not Path(checkpoint).with_suffix("").exists():
        raise FileNotFoundError(f"checkpoint '{checkpoint}' does not exist.")
    runner = build_runner(cfg)
    load_runner_weights(runner, checkpoint, strict=True)
    metrics = runner.test()
    report_test_results(runner, metrics)
    return metrics
