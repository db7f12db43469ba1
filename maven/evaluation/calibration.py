"""Calibration of class probabilities: ECE, reliability-diagram data, temperature scaling.

Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks") divides
the logits by one scalar ``T > 0`` fitted on a **validation** split (never the test split)
by minimising the negative log-likelihood; it leaves the argmax, hence accuracy, unchanged.

Example:
    >>> t = fit_temperature(val_logits, val_labels)           # doctest: +SKIP
    >>> probs = apply_temperature(test_logits, t)              # doctest: +SKIP
    >>> expected_calibration_error(probs, test_labels)         # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from maven.errors import ConfigError, MavenError
from maven.utils.arrays import as_1d, check_logits, check_probabilities, log_softmax

__all__ = ["expected_calibration_error", "fit_temperature", "nll", "reliability_diagram_data"]


def _targets(y_true: Any, n: int, k: int) -> np.ndarray:
    y = as_1d(y_true, "y_true")
    if not np.issubdtype(y.dtype, np.integer):
        raise MavenError(f"y_true must be integer class indices, got dtype {y.dtype}")
    if len(y) != n:
        raise MavenError(f"length mismatch: {n} rows of scores, {len(y)} labels")
    if (y < 0).any() or (y >= k).any():
        raise MavenError(f"y_true must be class indices in 0..{k - 1}")
    return y.astype(np.int64)


def nll(logits: Any, y_true: Any, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``softmax(logits / temperature)``."""
    lg = check_logits(logits)
    y = _targets(y_true, *lg.shape)
    return float(-log_softmax(lg / temperature)[np.arange(len(y)), y].mean())


def fit_temperature(
    logits: Any, y_true: Any, *, bounds: tuple[float, float] = (0.05, 20.0)
) -> float:
    """The temperature minimising the NLL of ``softmax(logits / T)`` on a validation split.

    A bounded 1-D search (Brent, :func:`scipy.optimize.minimize_scalar`) over ``log T`` in
    ``log(bounds)``; the NLL is smooth and, in ``1/T``, convex, so this finds the optimum.

    Args:
        logits: validation logits, (N, K).
        y_true: validation class indices, (N,).
        bounds: the range of T searched.

    Returns:
        T (> 1 softens over-confident probabilities, < 1 sharpens under-confident ones).
    """
    from scipy.optimize import minimize_scalar

    lg = check_logits(logits)
    y = _targets(y_true, *lg.shape)
    lo, hi = bounds
    if not 0 < lo < hi:
        raise ConfigError(f"bounds must satisfy 0 < low < high, got {bounds}")
    rows = np.arange(len(y))

    def objective(log_t: float) -> float:
        return float(-log_softmax(lg / math.exp(log_t))[rows, y].mean())

    res = minimize_scalar(
        objective, bounds=(math.log(lo), math.log(hi)), method="bounded", options={"xatol": 1e-6}
    )
    return float(math.exp(res.x))


def reliability_diagram_data(
    probabilities: Any, y_true: Any, *, n_bins: int = 15
) -> dict[str, Any]:
    """Per-bin confidence and accuracy of the top-class probability.

    Binning: ``n_bins`` **equal-width** bins of the confidence ``c = max_k p_k`` over
    ``[0, 1]``; bin ``b`` holds ``b/n < c <= (b+1)/n`` (the first bin also holds ``c = 0``).

    Returns:
        ``bin_edges`` (n_bins + 1), per bin ``count``, ``confidence`` (mean c) and
        ``accuracy`` (fraction whose top class is right; both ``None`` for empty bins),
        ``ece`` and ``mce`` (max |accuracy - confidence| over non-empty bins), ``n``.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ConfigError(f"n_bins must be a positive integer, got {n_bins!r}")
    probs = check_probabilities(probabilities)
    y = _targets(y_true, *probs.shape)
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    sum_conf = np.bincount(idx, weights=conf, minlength=n_bins)
    sum_acc = np.bincount(idx, weights=correct, minlength=n_bins)
    nz = count > 0
    mean_conf = np.where(nz, sum_conf / np.maximum(count, 1), np.nan)
    mean_acc = np.where(nz, sum_acc / np.maximum(count, 1), np.nan)
    gap = np.abs(mean_acc - mean_conf)
    ece = float(np.sum(count[nz] / len(y) * gap[nz]))
    return {
        "n": int(len(y)),
        "n_bins": n_bins,
        "bin_edges": edges.tolist(),
        "count": count.tolist(),
        "confidence": [float(v) if k else None for v, k in zip(mean_conf, nz, strict=True)],
        "accuracy": [float(v) if k else None for v, k in zip(mean_acc, nz, strict=True)],
        "ece": ece,
        "mce": float(gap[nz].max()),
    }


def expected_calibration_error(probabilities: Any, y_true: Any, *, n_bins: int = 15) -> float:
    """ECE = sum over bins of ``(n_b / N) * |accuracy_b - confidence_b|``.

    Equal-width confidence bins as in :func:`reliability_diagram_data`; 0 for perfectly
    calibrated top-class probabilities.
    """
    return reliability_diagram_data(probabilities, y_true, n_bins=n_bins)["ece"]
