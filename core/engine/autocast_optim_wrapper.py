"""``AutocastOptimWrapper``: mixed precision without a loss scaler, on any device.

mmengine's ``AmpOptimWrapper`` refuses to run without a GPU/NPU/MLU and always brings a gradient
scaler, which only float16 needs. bfloat16 has float32's exponent range, so autocast alone is
enough; on CPU it is the only autocast dtype torch supports. ``tools/train.py --amp`` uses this
wrapper on CPU and mmengine's ``AmpOptimWrapper`` on accelerators.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from octavius.registry import OPTIM_WRAPPERS

_DTYPES = ("bfloat16", "float16")


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` whose forward passes run under ``torch.autocast``.

    Parameters and optimizer state stay in their own dtype (float32 adapters); matrix products
    inside the model run in ``dtype``.

    Args:
        dtype: ``"bfloat16"`` (CPU and GPU) or ``"float16"`` (GPU; prefer mmengine's
            ``AmpOptimWrapper`` there, which scales the loss).
        device_type: Autocast device (``"cpu"``, ``"cuda"``…); by default the device of the
            model's first parameter.
        **kwargs: :class:`mmengine.optim.OptimWrapper` arguments (``optimizer``,
            ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self, dtype: str = "bfloat16", device_type: str | None = None, **kwargs: Any):
        if dtype not in _DTYPES:
            raise ValueError(
                f"AutocastOptimWrapper: dtype must be one of {_DTYPES}, got {dtype!r}."
            )
        super().__init__(**kwargs)
        self.cast_dtype = getattr(torch, dtype)
        self.device_type = device_type

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """mmengine's context (gradient-accumulation no-sync) plus autocast."""
        device = self.device_type
        if device is None:
            param = next(model.parameters(), None)
            device = param.device.type if param is not None else "cpu"
        with super().optim_context(model), torch.autocast(device, dtype=self.cast_dtype):
            yield
