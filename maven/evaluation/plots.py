"""Evaluation plots: confusion matrix, reliability diagram, z_true vs z_pred, metric by bin.

Each function builds a :class:`matplotlib.figure.Figure` directly (no pyplot state, Agg
canvas for saving, so it runs headless and in threads), saves it when ``path`` is given
(format from the suffix, e.g. ``.png``) and returns it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maven.errors import ConfigError, MavenError
from maven.utils.arrays import as_float_1d, check_same_length

__all__ = [
    "plot_confusion_matrix",
    "plot_early_classification",
    "plot_metric_by_bin",
    "plot_redshift",
    "plot_reliability_diagram",
]


def _figure(figsize: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path | None):
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    return fig


def plot_confusion_matrix(
    confusion: Any,
    labels: Sequence[str] | None = None,
    *,
    normalise: bool = True,
    title: str | None = None,
    path: str | Path | None = None,
):
    """Heat map of a confusion matrix (rows true, columns predicted).

    Args:
        confusion: the ``confusion_matrix`` dict of
            :func:`~maven.evaluation.metrics.classification_metrics` (or the metrics dict
            itself), or a (K, K) array of counts.
        labels: class names (taken from the dict when omitted).
        normalise: colour by row-normalised fraction (recall on the diagonal); each cell is
            annotated with the fraction and the count.
    """
    if isinstance(confusion, dict):
        confusion = confusion.get("confusion_matrix", confusion)
        labels = labels or confusion.get("labels")
        counts = np.asarray(confusion.get("counts"), dtype=np.float64)
    else:
        counts = np.asarray(confusion, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.size == 0:
        raise MavenError(f"confusion matrix must be square (K, K), got shape {counts.shape}")
    k = counts.shape[0]
    labels = list(labels) if labels is not None else [str(i) for i in range(k)]
    if len(labels) != k:
        raise MavenError(f"{len(labels)} labels for a {k}x{k} confusion matrix")
    rows = counts.sum(axis=1, keepdims=True)
    frac = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    shown = frac if normalise else counts
    fig = _figure((1.2 + 0.9 * k, 1.0 + 0.8 * k))
    ax = fig.add_subplot()
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalise else max(counts.max(), 1))
    fig.colorbar(im, ax=ax, label="fraction of true class" if normalise else "count")
    for i in range(k):
        for j in range(k):
            text = (
                f"{frac[i, j]:.2f}\n({int(counts[i, j])})" if normalise else str(int(counts[i, j]))
            )
            light = shown[i, j] > (0.5 if normalise else 0.5 * counts.max())
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if light else "black",
            )
    ax.set_xticks(range(k), labels, rotation=45, ha="right")
    ax.set_yticks(
        range(k), [f"{lab} ({int(r)})" for lab, r in zip(labels, rows[:, 0], strict=True)]
    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (count)")
    ax.set_title(title or "confusion matrix")
    return _save(fig, path)


def plot_reliability_diagram(
    probabilities: Any,
    y_true: Any,
    *,
    calibrated: Any = None,
    n_bins: int = 15,
    title: str | None = None,
    path: str | Path | None = None,
):
    """Reliability diagram: accuracy vs confidence per equal-width bin, with the ECE.

    Args:
        probabilities: (N, K) probabilities before calibration.
        y_true: class indices, (N,).
        calibrated: optional (N, K) probabilities after temperature scaling, drawn on the
            same axes for comparison.
    """
    from maven.evaluation.calibration import reliability_diagram_data

    series = [("uncalibrated", reliability_diagram_data(probabilities, y_true, n_bins=n_bins))]
    if calibrated is not None:
        series.append(
            ("temperature-scaled", reliability_diagram_data(calibrated, y_true, n_bins=n_bins))
        )
    fig = _figure((5.0, 6.0))
    ax, axh = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    ax.plot([0, 1], [0, 1], ls="--", color="0.5", lw=1, label="perfect calibration")
    edges = np.asarray(series[0][1]["bin_edges"])
    centres = 0.5 * (edges[1:] + edges[:-1])
    width = edges[1] - edges[0]
    for i, (name, data) in enumerate(series):
        acc = np.array([np.nan if a is None else a for a in data["accuracy"]])
        conf = np.array([np.nan if c is None else c for c in data["confidence"]])
        ok = np.isfinite(acc)
        ax.plot(conf[ok], acc[ok], "o-", color=f"C{i}", label=f"{name} (ECE {data['ece']:.3f})")
        axh.bar(
            centres + (i - 0.5 * (len(series) - 1)) * width / len(series),
            data["count"],
            width=width / len(series),
            color=f"C{i}",
            alpha=0.7,
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(title or "reliability diagram")
    ax.legend(loc="upper left", fontsize=8)
    axh.set_xlabel("confidence (top-class probability)")
    axh.set_ylabel("count")
    return _save(fig, path)


def plot_redshift(
    z_true: Any,
    z_pred: Any,
    z_sigma: Any = None,
    *,
    outlier_threshold: float = 0.15,
    abs_outlier_threshold: float = 0.07,
    title: str | None = None,
    path: str | Path | None = None,
):
    """Predicted vs true redshift with the 1:1 line and both outlier bounds, and the residual
    ``dz / (1 + z)`` below.

    Dashed: ``|dz| / (1 + z) = outlier_threshold``; dotted: ``|dz| = abs_outlier_threshold``.
    Error bars from ``z_sigma`` when given. The NMAD and outlier fraction are in the title.
    """
    from maven.evaluation.metrics import redshift_metrics

    zt = as_float_1d(z_true, "z_true")
    zp = as_float_1d(z_pred, "z_pred")
    check_same_length(z_true=zt, z_pred=zp)
    sig = None if z_sigma is None else as_float_1d(z_sigma, "z_sigma")
    m = redshift_metrics(
        zt,
        zp,
        sig,
        outlier_threshold=outlier_threshold,
        abs_outlier_threshold=abs_outlier_threshold,
    )
    lo = min(0.0, float(zt.min()), float(zp.min()))
    hi = max(float(zt.max()), float(zp.max())) * 1.05 + 1e-3
    grid = np.linspace(lo, hi, 100)
    x = (zp - zt) / (1 + zt)
    out = np.abs(x) > outlier_threshold
    fig = _figure((5.5, 6.5))
    ax, axr = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    kw = {"fmt": "none", "ecolor": "0.7", "elinewidth": 0.8, "zorder": 1}
    if sig is not None:
        ax.errorbar(zt, zp, yerr=sig, **kw)
        axr.errorbar(zt, x, yerr=sig / (1 + zt), **kw)
    for a, y in ((ax, zp), (axr, x)):
        a.scatter(zt[~out], y[~out], s=8, color="C0", zorder=2, label="objects")
        a.scatter(zt[out], y[out], s=12, color="C3", marker="x", zorder=3, label="outliers")
    ax.plot(grid, grid, color="k", lw=1)
    for s in (1, -1):
        ax.plot(
            grid,
            grid + s * outlier_threshold * (1 + grid),
            "k--",
            lw=0.8,
            label=f"|dz|/(1+z) = {outlier_threshold}" if s == 1 else None,
        )
        ax.plot(
            grid,
            grid + s * abs_outlier_threshold,
            "k:",
            lw=0.8,
            label=f"|dz| = {abs_outlier_threshold}" if s == 1 else None,
        )
        axr.axhline(s * outlier_threshold, color="k", ls="--", lw=0.8)
    axr.axhline(0, color="k", lw=1)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_ylabel("z predicted")
    ax.legend(loc="upper left", fontsize=8)
    axr.set_xlabel("z true")
    axr.set_ylabel("dz / (1 + z)")
    ax.set_title(
        (title + "\n" if title else "")
        + f"N={m['n']}  NMAD={m['nmad']:.4f}  outliers={m['outlier_fraction']:.3f}  "
        f"bias={m['bias']:+.4f}",
        fontsize=9,
    )
    return _save(fig, path)


def plot_metric_by_bin(
    bins: Sequence[dict[str, Any]],
    metric: str | Sequence[str],
    *,
    group: str = "bin",
    title: str | None = None,
    path: str | Path | None = None,
):
    """A metric (or several) per bin of a grouping variable, with the count per bin.

    Args:
        bins: one group of :func:`~maven.evaluation.report.bias_audit`'s ``"groups"``: dicts
            with ``"bin"`` (its label), ``"n"`` and the metrics.
        metric: key(s) to plot, e.g. ``"balanced_accuracy"`` or ``["nmad", "bias"]``.
        group: the grouping variable's name (x-axis label), e.g. ``"redshift"``.
    """
    if not bins:
        raise MavenError("no bins to plot")
    metrics = [metric] if isinstance(metric, str) else list(metric)
    for name in metrics:
        if not any(name in b for b in bins):
            raise ConfigError(f"metric {name!r} not in the bins; have {sorted(bins[0])}")
    names = [str(b.get("bin", i)) for i, b in enumerate(bins)]
    x = np.arange(len(bins))
    fig = _figure((max(4.5, 0.9 * len(bins) + 2), 5.0))
    ax, axn = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    for i, name in enumerate(metrics):
        y = np.array([np.nan if b.get(name) is None else float(b[name]) for b in bins])
        ax.plot(x, y, "o-", color=f"C{i}", label=name)
    ax.set_ylabel(metrics[0] if len(metrics) == 1 else "metric")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(title or f"{', '.join(metrics)} by {group}")
    axn.bar(x, [int(b.get("n", 0)) for b in bins], color="0.6")
    axn.set_ylabel("N")
    axn.set_xticks(x, names, rotation=30, ha="right")
    axn.set_xlabel(group)
    return _save(fig, path)


def plot_early_classification(
    early: Sequence[dict[str, Any]],
    *,
    metrics: Sequence[str] = ("accuracy", "balanced_accuracy", "macro_f1"),
    title: str | None = "early classification",
    path: str | Path | None = None,
):
    """Scores against days after the first detection.

    Args:
        early: dicts with ``"days"`` and the metrics (the ``"early"`` list of
            :func:`maven.evaluation.evaluate.evaluate`); a metric may also be
            ``{"mean", "std"}`` over folds (drawn with error bars).
    """
    if not early:
        raise MavenError("no early-classification results to plot")
    fig = _figure((5.5, 3.8))
    ax = fig.add_subplot(111)
    days = [e["days"] for e in early]
    for key in metrics:
        vals = [e[key] for e in early]
        if isinstance(vals[0], dict):
            ax.errorbar(
                days,
                [v["mean"] for v in vals],
                yerr=[v["std"] for v in vals],
                fmt="o-",
                capsize=3,
                label=key,
            )
        else:
            ax.plot(days, vals, "o-", label=key)
    ax.set_xlabel("days after first detection")
    ax.set_ylabel("score")
    ax.set_ylim(0, 1)
    if title:
        ax.set_title(title)
    ax.legend()
    return _save(fig, path)
