"""Evaluation: the numbers a paper reports, calibration, plots and reports.

* :mod:`~maven.evaluation.metrics`: classification (accuracy, balanced accuracy, macro-F1,
  per-class table, confusion matrix) and redshift (R², RMSE, NMAD, outlier fractions, bias,
  coverage of predicted uncertainties) metrics as JSON-ready dicts.
* :mod:`~maven.evaluation.calibration`: expected calibration error, reliability-diagram data,
  temperature scaling.
* :mod:`~maven.evaluation.plots`: confusion matrix, reliability diagram, z_true vs z_pred,
  metric by bin (matplotlib Figures, PNG when a path is given).
* :mod:`~maven.evaluation.report`: ``metrics.json`` + markdown report, bias audit.

Cross-modal retrieval metrics are :func:`maven.evaluation.retrieval.retrieval_metrics`,
re-exported here lazily (it needs torch; nothing else in this package does).
"""

from __future__ import annotations

from typing import Any

from maven.evaluation.calibration import (
    expected_calibration_error,
    fit_temperature,
    reliability_diagram_data,
)
from maven.evaluation.metrics import (
    NMAD_FACTOR,
    classification_metrics,
    confusion_matrix,
    nmad,
    redshift_metrics,
)
from maven.evaluation.plots import (
    plot_confusion_matrix,
    plot_metric_by_bin,
    plot_redshift,
    plot_reliability_diagram,
)
from maven.evaluation.report import bias_audit, jsonable, write_report
from maven.utils.arrays import apply_temperature

__all__ = [
    "NMAD_FACTOR",
    "apply_temperature",
    "bias_audit",
    "classification_metrics",
    "confusion_matrix",
    "expected_calibration_error",
    "fit_temperature",
    "jsonable",
    "nmad",
    "plot_confusion_matrix",
    "plot_metric_by_bin",
    "plot_redshift",
    "plot_reliability_diagram",
    "redshift_metrics",
    "reliability_diagram_data",
    "retrieval_metrics",
    "write_report",
]


def __getattr__(name: str) -> Any:
    if name == "retrieval_metrics":
        from maven.evaluation.retrieval import retrieval_metrics

        return retrieval_metrics
    raise AttributeError(f"module 'maven.evaluation' has no attribute {name!r}")
