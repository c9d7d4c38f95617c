"""Analysis: routing maps, task-interference scores, selection t-SNE, result tables.

Public API (see docs/interference_study.md):

- :func:`capture_routing`, :func:`routed_layers`, :class:`SampleRouting` — per-sample routing
  recorded with a :class:`~octavius.adapters.RoutingRecorder`;
- :func:`routing_maps`, :class:`RoutingMap` — expert usage per task and layer (Octavius Fig. 6,
  LLaVA-MoLE Fig. 3);
- :func:`interference_matrix` — MixLoRA eq. 2–3 on per-task gradients;
  :func:`collect_task_gradients`, :func:`task_interference`, :class:`InterferenceScores` — the
  same on the LoRA A and B parameters of a model, per layer;
- :func:`selection_features`, :func:`tsne_embedding` — MixLoRA Fig. 5;
- :func:`plot_routing_maps`, :func:`plot_interference`, :func:`plot_tsne` — PNG figures;
- :func:`load_metrics`, :func:`results_table`, :func:`metrics_table` — Markdown result tables;
- :func:`build_split_dataset`, :func:`routing_report`,
  :func:`interference_report` — the analyses of a configured model and checkpoint, written to
  JSON and PNG (what ``tools/analysis`` runs);
- :mod:`octavius.analysis.study` — the interference study
  (``tools/analysis/interference_study.py``).
"""

from octavius.analysis.interference import interference_matrix, mean_unit_gradient
from octavius.analysis.plots import plot_interference, plot_routing_maps, plot_tsne
from octavius.analysis.report_files import interference_report, routing_report
from octavius.analysis.routing_capture import (
    SampleRouting,
    capture_routing,
    record_shares,
    routed_layers,
)
from octavius.analysis.routing_maps import RoutingMap, routing_maps
from octavius.analysis.selection_tsne import selection_features, tsne_embedding
from octavius.analysis.tables import load_metrics, metrics_table, results_table
from octavius.analysis.task_batches import build_split_dataset
from octavius.analysis.task_gradients import (
    InterferenceScores,
    adapter_factor_parameters,
    collect_task_gradients,
    task_interference,
)

__all__ = [
    "InterferenceScores",
    "RoutingMap",
    "SampleRouting",
    "adapter_factor_parameters",
    "build_split_dataset",
    "capture_routing",
    "collect_task_gradients",
    "interference_matrix",
    "interference_report",
    "load_metrics",
    "mean_unit_gradient",
    "metrics_table",
    "plot_interference",
    "plot_routing_maps",
    "plot_tsne",
    "record_shares",
    "results_table",
    "routed_layers",
    "routing_maps",
    "routing_report",
    "selection_features",
    "task_interference",
    "tsne_embedding",
]
