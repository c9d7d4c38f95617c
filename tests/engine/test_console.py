"""The quiet terminal: what reaches it, what only the log file gets, and full-width tables."""

from __future__ import annotations

import io
import logging

from octavius.engine.console import CONSOLE, ConsoleHandler, quiet_console
from octavius.evaluation.metric_tables import print_metric_tables


def _logger(tmp_path):
    logger = logging.getLogger(f"octavius-console-test-{tmp_path.name}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    stream = io.StringIO()
    logger.addHandler(logging.StreamHandler(stream))
    log_file = tmp_path / "run.log"
    logger.addHandler(logging.FileHandler(log_file))
    return quiet_console(logger), stream, log_file


def test_terminal_gets_warnings_periodic_lines_and_marked_records_only(tmp_path):
    logger, stream, log_file = _logger(tmp_path)
    assert sum(isinstance(h, ConsoleHandler) for h in logger.handlers) == 1
    logger.info("Config:\nmodel = dict(...)")
    logger.info("Hooks will be executed in the following order:")
    logger.warning('"FileClient" will be deprecated in future.')
    logger.warning("The prefix is not set in metric class DetectionMetric.")
    logger.warning("Reach the end of the dataloader, it will be restarted")
    logger.info("Iter(train) [ 25/250]  lr: 3.0e-03  eta: 0:14:15  loss: 4.47")
    logger.warning("seed differs from the checkpoint's")
    logger.info("model: MultimodalLLM", extra=CONSOLE)
    for handler in logger.handlers:
        handler.flush()
    shown = stream.getvalue().splitlines()
    assert shown == [
        "Iter(train) [ 25/250]  lr: 3.0e-03  eta: 0:14:15  loss: 4.47",
        "seed differs from the checkpoint's",
        "model: MultimodalLLM",
    ]
    logged = log_file.read_text()
    for text in ("Config:", "Hooks will be executed", "FileClient", "The prefix is not set"):
        assert text in logged


def test_metric_tables_are_not_cut_at_80_columns(capsys):
    metrics = {f"scan2inst/detection/{m}": 12.5 for m in ("recall", "precision")}
    metrics.update({f"scan2inst/caption/bleu_{i}": 40.0 + i for i in range(1, 5)})
    metrics.update({"scan2inst/caption/cider": 150.0, "scan2inst/vqa/accuracy": 50.0})
    metrics.update({"scan2inst/classification/accuracy": 33.3})
    print_metric_tables(metrics)
    out = capsys.readouterr().out
    assert out.count("Det. (IoU=0.5)") == 2 and "…" not in out
