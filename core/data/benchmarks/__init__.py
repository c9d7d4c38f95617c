"""Loaders for the official evaluation files: LAMM's 2D and 3D benchmark JSON, MME, ScienceQA.

Each is an :class:`~octavius.data.instruction_dataset.InstructionDataset` (registered in
``DATASETS``) that turns a benchmark's own file layout into instruction samples — the question as
the user turn, the reference as the response — and keeps the benchmark's ground truth (LAMM's
``object`` boxes, ``gt_choice``/``gt_choices``, MME's subtask and image) as sample fields the metrics
read. docs/evaluation.md lists the files and the command for each paper table.
"""

from octavius.data.benchmarks.base import BenchmarkDataset
from octavius.data.benchmarks.lamm_2d import LAMM2DBenchmark
from octavius.data.benchmarks.lamm_3d import LAMM3DBenchmark
from octavius.data.benchmarks.mme import MMEBenchmark
from octavius.data.benchmarks.scienceqa import ScienceQABenchmark, format_scienceqa_question

__all__ = [
    "BenchmarkDataset",
    "LAMM2DBenchmark",
    "LAMM3DBenchmark",
    "MMEBenchmark",
    "ScienceQABenchmark",
    "format_scienceqa_question",
]
