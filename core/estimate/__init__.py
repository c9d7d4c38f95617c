"""Training-memory estimates from a config, without loading weights (``python -m octavius estimate``)."""

from octavius.estimate.components import EstimateConfigError
from octavius.estimate.estimator import EstimateOptions, MemoryEstimate, estimate_memory

__all__ = ["EstimateConfigError", "EstimateOptions", "MemoryEstimate", "estimate_memory"]
