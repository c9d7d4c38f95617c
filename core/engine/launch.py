"""Launchers and parallel strategies: DDP on CPU or GPU, FSDP and DeepSpeed through mmengine.

- ``--launcher pytorch`` (``torchrun``) and ``slurm`` go through mmengine's ``init_dist``, which
  binds each process to a GPU. Without a GPU, :func:`setup_distributed` starts the process group
  itself with the ``gloo`` backend from ``torchrun``'s environment variables, and
  :func:`apply_launcher` configures DDP for CPU modules (no ``device_ids``).
- A config with a top-level ``strategy`` (``FSDPStrategy``, ``DeepSpeedStrategy``, …) is run by
  mmengine's ``FlexibleRunner``; DeepSpeed is an optional extra, imported only then.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import torch
from mmengine.config import Config

from octavius.errors import MissingDependencyError

LAUNCHERS = ("none", "pytorch", "slurm", "mpi")
#: Strategies that need an optional package, with the extra that installs it.
OPTIONAL_STRATEGIES = {
    "DeepSpeedStrategy": ("deepspeed", "deepspeed"),
    "ColossalAIStrategy": ("colossalai", None),
}
_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def apply_launcher(cfg: Config, launcher: str) -> None:
    """Set ``cfg.launcher`` and, for DDP without a GPU, the gloo backend and CPU DDP options.

    Raises:
        ValueError: On an unknown launcher name.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f"--launcher must be one of {LAUNCHERS}, got {launcher!r}.")
    cfg.launcher = launcher
    if launcher == "none" or torch.cuda.is_available():
        return
    env_cfg = dict(cfg.get("env_cfg") or {})
    dist_cfg = dict(env_cfg.get("dist_cfg") or {})
    if dist_cfg.get("backend", "gloo") != "gloo":
        raise ValueError(
            f"env_cfg.dist_cfg.backend={dist_cfg['backend']!r} needs GPUs; without one only "
            "'gloo' works. Remove the key or set it to 'gloo'."
        )
    dist_cfg["backend"] = "gloo"
    env_cfg["dist_cfg"] = dist_cfg
    cfg.env_cfg = env_cfg
    if cfg.get("strategy") is None:
        wrapper = cfg.get("model_wrapper_cfg") or {"type": "MMDistributedDataParallel"}
        wrapper = dict(wrapper)
        # DDP takes device_ids only for GPU modules; mmengine fills in LOCAL_RANK otherwise.
        wrapper.setdefault("device_ids", None)
        # Sparse routing leaves unchosen experts without gradient in a step.
        wrapper.setdefault("find_unused_parameters", True)
        cfg.model_wrapper_cfg = wrapper


def setup_distributed(cfg: Config) -> None:
    """Start the process group before the runner is built (which then reuses it).

    Starting it early lets rank 0 prepare shared assets while the others wait. With a GPU this is
    mmengine's ``init_dist``; without one, ``--launcher pytorch`` gets a gloo group from
    ``torchrun``'s environment variables (mmengine's ``init_dist`` would call
    ``torch.cuda.set_device``). ``--launcher none`` does nothing.

    Raises:
        RuntimeError: When ``--launcher pytorch`` runs without the ``torchrun`` variables, or
            another launcher runs without a GPU.
    """
    launcher = cfg.get("launcher", "none")
    if launcher == "none" or torch.distributed.is_initialized():
        return
    dist_cfg = dict(cfg.get("env_cfg", {}).get("dist_cfg", {}))
    if torch.cuda.is_available():
        from mmengine.dist import init_dist

        init_dist(launcher, **dist_cfg)
        return
    if launcher != "pytorch":
        raise RuntimeError(
            f"--launcher {launcher} without a GPU is not supported; on CPU start the run with "
            "`torchrun --nproc_per_node N tools/train.py CONFIG --launcher pytorch`."
        )
    missing = [v for v in _TORCHRUN_VARS if v not in os.environ]
    if missing:
        raise RuntimeError(
            f"--launcher pytorch expects the variables {missing} that torchrun sets; start the "
            "run with `torchrun --nproc_per_node N tools/train.py CONFIG --launcher pytorch`."
        )
    backend = dist_cfg.pop("backend", "gloo")
    timeout = dist_cfg.pop("timeout", None)
    if timeout is not None:
        from datetime import timedelta

        dist_cfg["timeout"] = timedelta(seconds=timeout)
    torch.distributed.init_process_group(backend=backend, **dist_cfg)


def check_strategy(cfg: Config) -> None:
    """Check that an optional strategy's package can be imported; error names the extra.

    Raises:
        MissingDependencyError: e.g. ``DeepSpeedStrategy`` without ``deepspeed``:
            "pip install octavius[deepspeed]".
    """
    strategy = cfg.get("strategy")
    if strategy is None:
        return
    kind = strategy.get("type") if isinstance(strategy, dict) else type(strategy).__name__
    kind = str(kind).rpartition(".")[2]
    if kind not in OPTIONAL_STRATEGIES:
        return
    module, extra = OPTIONAL_STRATEGIES[kind]
    try:
        importlib.import_module(module)
    except ImportError as err:
        install = f"pip install octavius[{extra}]" if extra else f"pip install {module}"
        raise MissingDependencyError(
            f"strategy {kind} needs the optional package '{module}', which cannot be imported "
            f"({err}). Install it with `{install}`, or remove `strategy` from the config.",
            extra=extra or None,
            module=module,
        ) from err


def uses_flexible_runner(cfg: Config) -> bool:
    """Whether the config selects a parallel strategy (run by mmengine's ``FlexibleRunner``)."""
    return cfg.get("strategy") is not None


def runner_class(cfg: Config) -> Any:
    """The runner class: ``OctaviusFlexibleRunner`` with a strategy, else ``runner_type``."""
    if uses_flexible_runner(cfg):
        from octavius.engine.octavius_flexible_runner import OctaviusFlexibleRunner

        return OctaviusFlexibleRunner
    from octavius.registry import RUNNERS

    return RUNNERS.get(cfg.get("runner_type", "OctaviusRunner"))
