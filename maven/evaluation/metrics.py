"""The numbers a paper reports: classification and redshift metrics as JSON-ready dicts.

Every function takes array-likes (lists, numpy arrays, torch tensors), checks them (same
length, non-empty, finite, known labels) and raises :class:`~maven.errors.MavenError` with
a clear message otherwise. Results hold only ``int`` / ``float`` / ``str`` / ``None`` / lists
/ dicts, so ``json.dumps(result, allow_nan=False)`` works; undefined values (e.g. the
precision of a class never predicted, R² of a constant truth) are ``None``, never NaN.

Retrieval metrics: :func:`maven.evaluation.retrieval.retrieval_metrics` (re-exported as
:func:`maven.evaluation.retrieval_metrics`).

Example:
    >>> m = classification_metrics(["Ia", "II", "Ia"], ["Ia", "Ia", "Ia"], labels=["Ia", "II"])
    >>> m["accuracy"], m["balanced_accuracy"]
    (0.6666666666666666, 0.5)
    >>> r = redshift_metrics([0.1, 0.2, 0.3], [0.1, 0.2, 0.5])
    >>> r["outlier_fraction"]
    0.3333333333333333
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from maven.errors import ConfigError, MavenError
from maven.evaluation.calibration import expected_calibration_error
from maven.utils.arrays import as_1d, as_float_1d, check_probabilities, check_same_length

__all__ = [
    "NMAD_FACTOR",
    "classification_metrics",
    "confusion_matrix",
    "nmad",
    "redshift_metrics",
    "resolve_labels",
]

#: 1 / Phi^-1(3/4): makes the median absolute deviation a consistent estimator of sigma.
NMAD_FACTOR = 1.4826


def _fmt(x: float | np.floating | None) -> float | None:
    """A JSON-safe float: NaN / inf -> None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def resolve_labels(
    labels: Sequence[Any] | None, *arrays: np.ndarray, names: Sequence[str] = ()
) -> tuple[list, list[np.ndarray]]:
    """The class list and the arrays mapped onto it (as integer indices).

    * ``labels`` given and the arrays hold the same kind of values (e.g. class names): every
      value must be in ``labels``.
    * ``labels`` are strings and an array is integer: its values are indices into ``labels``
      (``0 <= i < len(labels)``), e.g. the ``argmax`` of a model's logits.
    * ``labels`` is ``None``: the sorted union of the values.

    Raises:
        MavenError: a value not among the labels (named with its array), duplicate labels.
    """
    names = list(names) or [f"array {i}" for i in range(len(arrays))]
    if labels is None:
        union = np.unique(np.concatenate([np.asarray(a).astype(object) for a in arrays]))
        try:
            labels = sorted(union.tolist())
        except TypeError:
            raise MavenError("labels of mixed types cannot be ordered; pass labels=") from None
    labels = [x.item() if isinstance(x, np.generic) else x for x in labels]
    if len(labels) == 0:
        raise MavenError("labels is empty")
    if len(set(labels)) != len(labels):
        raise MavenError(f"labels has duplicates: {labels}")
    string_labels = all(isinstance(x, str) for x in labels)
    index = {lab: i for i, lab in enumerate(labels)}
    out = []
    for arr, name in zip(arrays, names, strict=True):
        arr = np.asarray(arr)
        if string_labels and np.issubdtype(arr.dtype, np.integer):
            bad = (arr < 0) | (arr >= len(labels))
            if bad.any():
                raise MavenError(
                    f"{name} has class index {int(arr[bad][0])} outside 0..{len(labels) - 1} "
                    f"(labels {labels})"
                )
            out.append(arr.astype(np.int64))
            continue
        mapped = np.empty(arr.shape, np.int64)
        for j, v in enumerate(arr.tolist()):
            if v not in index:
                raise MavenError(f"{name} has unknown label {v!r}; known labels: {labels}")
            mapped[j] = index[v]
        out.append(mapped)
    return labels, out


# ---------------------------------------------------------------------- classification


def confusion_matrix(
    y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None
) -> dict[str, Any]:
    """Confusion matrix, rows = true class, columns = predicted class.

    Returns:
        ``{"labels": [...], "counts": [[int]], "normalised": [[float | None]]}``; the
        normalised matrix divides each row by its true count (rows of classes with no true
        object are ``None``), so its diagonal is the per-class recall.
    """
    t = as_1d(y_true, "y_true")
    p = as_1d(y_pred, "y_pred")
    check_same_length(y_true=t, y_pred=p)
    labels, (ti, pi) = resolve_labels(labels, t, p, names=("y_true", "y_pred"))
    k = len(labels)
    counts = np.bincount(ti * k + pi, minlength=k * k).reshape(k, k)
    rows = counts.sum(axis=1, keepdims=True)
    norm = [
        [float(v) / float(r[0]) for v in row] if r[0] > 0 else [None] * k
        for row, r in zip(counts, rows, strict=True)
    ]
    return {"labels": list(labels), "counts": counts.tolist(), "normalised": norm}


def classification_metrics(
    y_true: Any,
    y_pred: Any = None,
    *,
    labels: Sequence[Any] | None = None,
    probabilities: Any = None,
    n_bins: int = 15,
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro-F1, per-class table and confusion matrix.

    Args:
        y_true: true classes (names, or indices into ``labels``), (N,).
        y_pred: predicted classes, (N,); may be omitted when ``probabilities`` is given
            (then the argmax).
        labels: the class list (order of the matrices and of ``probabilities``' columns);
            default the sorted union of ``y_true`` and ``y_pred``.
        probabilities: optional (N, K) class probabilities; adds ``log_loss``, ``brier`` and
            ``ece`` (see :func:`maven.evaluation.calibration.expected_calibration_error`).
        n_bins: bins of the ECE.

    Returns:
        ``n``, ``labels``, ``accuracy``, ``balanced_accuracy`` (mean recall over the classes
        present in ``y_true``), ``macro_f1`` (mean F1 over the same classes; a class absent
        from the truth has no defined recall and is left out of both averages),
        ``weighted_f1``, ``per_class`` (``{label: {precision, recall, f1, support,
        n_predicted}}``; precision is ``None`` for a class never predicted, recall and F1
        ``None`` for a class with no true object), ``class_counts`` (true counts),
        ``confusion_matrix`` (see :func:`confusion_matrix`) and, with probabilities, the
        probabilistic scores.

    Raises:
        MavenError: empty inputs, length mismatch, unknown labels, bad probabilities.
    """
    from sklearn.metrics import precision_recall_fscore_support

    t = as_1d(y_true, "y_true")
    probs = None
    if probabilities is not None:
        probs = check_probabilities(probabilities, "probabilities")
        if y_pred is None:
            if labels is None:
                raise ConfigError("labels= is needed to name the columns of probabilities")
            y_pred = probs.argmax(axis=1)
    if y_pred is None:
        raise ConfigError("give y_pred or probabilities")
    p = as_1d(y_pred, "y_pred")
    check_same_length(y_true=t, y_pred=p)
    labels, (ti, pi) = resolve_labels(labels, t, p, names=("y_true", "y_pred"))
    k = len(labels)
    idx = list(range(k))
    prec, rec, f1, support = precision_recall_fscore_support(ti, pi, labels=idx, zero_division=0.0)
    n_pred = np.bincount(pi, minlength=k)
    present = support > 0
    per_class = {}
    for i, lab in enumerate(labels):
        per_class[str(lab)] = {
            "precision": _fmt(prec[i]) if n_pred[i] > 0 else None,
            "recall": _fmt(rec[i]) if support[i] > 0 else None,
            "f1": _fmt(f1[i]) if support[i] > 0 else None,
            "support": int(support[i]),
            "n_predicted": int(n_pred[i]),
        }
    out: dict[str, Any] = {
        "n": int(len(t)),
        "labels": [str(x) for x in labels],
        "accuracy": float(np.mean(ti == pi)),
        "balanced_accuracy": float(np.mean(rec[present])),
        "macro_f1": float(np.mean(f1[present])),
        "weighted_f1": float(np.average(f1[present], weights=support[present])),
        "per_class": per_class,
        "class_counts": {str(lab): int(support[i]) for i, lab in enumerate(labels)},
        "confusion_matrix": _confusion(ti, pi, labels),
    }
    if probs is not None:
        if probs.shape != (len(t), k):
            raise MavenError(
                f"probabilities must have shape (N, K) = ({len(t)}, {k}), got {probs.shape}"
            )
        p_true = probs[np.arange(len(t)), ti]
        onehot = np.eye(k)[ti]
        out["log_loss"] = float(-np.mean(np.log(np.clip(p_true, 1e-15, 1.0))))
        out["brier"] = float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))
        out["ece"] = expected_calibration_error(probs, ti, n_bins=n_bins)
    return out


def _confusion(ti: np.ndarray, pi: np.ndarray, labels: list) -> dict[str, Any]:
    k = len(labels)
    return confusion_matrix(ti, pi, labels=list(range(k))) | {"labels": [str(x) for x in labels]}


# ---------------------------------------------------------------------- redshift


def nmad(x: Any) -> float:
    """Normalised median absolute deviation ``1.4826 * median(|x - median(x)|)``.

    A robust scatter: equals the standard deviation for Gaussian ``x``.

    >>> nmad([1.0, 2.0, 3.0, 4.0, 100.0])
    1.4826
    """
    arr = as_float_1d(x, "x")
    return float(NMAD_FACTOR * np.median(np.abs(arr - np.median(arr))))


def redshift_metrics(
    z_true: Any,
    z_pred: Any,
    z_sigma: Any = None,
    *,
    outlier_threshold: float = 0.15,
    abs_outlier_threshold: float = 0.07,
) -> dict[str, Any]:
    """Point-estimate and (with ``z_sigma``) uncertainty metrics of redshift predictions.

    With ``dz = z_pred - z_true`` and ``x = dz / (1 + z_true)``:

    * ``r2``: coefficient of determination of ``z_pred`` vs ``z_true`` (``None`` for a
      constant truth or fewer than 2 objects); ``r2_log1p``: the same on ``log(1 + z)``
      (with most objects at low redshift, ``r2`` is dominated by the few at high z: read
      them together);
    * ``rmse``: sqrt(mean dz²); ``rmse_normalised``: sqrt(mean x²);
    * ``nmad``: ``1.4826 * median(|x - median(x)|)``;
    * ``bias``: mean x; ``median_bias``: median x; ``bias_dz``: mean dz;
    * ``outlier_fraction``: fraction with ``|x| > outlier_threshold`` (0.15, the photo-z
      convention); ``outlier_fraction_05``: with ``|x| > 0.05`` (the spectroscopic
      bar); ``abs_outlier_fraction``: fraction with ``|dz| > abs_outlier_threshold``
      (0.07, the threshold of the Maven paper).

    With ``z_sigma`` (predicted 1-sigma uncertainties, > 0), calibration of the errors:

    * ``coverage_68`` / ``coverage_95``: fraction with ``|dz| <= 1 sigma`` / ``1.96 sigma``
      (Gaussian expectation 0.683 / 0.950; lower means over-confident);
    * ``mean_normalised_residual``: mean of ``dz / sigma`` (0 when unbiased);
      ``std_normalised_residual``: its standard deviation (1 when sigma is calibrated, > 1
      over-confident, < 1 under-confident);
    * ``gaussian_nll``: mean Gaussian negative log-likelihood; ``median_sigma``.

    Raises:
        MavenError: empty, non-finite, length mismatch, ``z_true <= -1``, ``sigma <= 0``.
    """
    from sklearn.metrics import r2_score

    zt = as_float_1d(z_true, "z_true")
    zp = as_float_1d(z_pred, "z_pred")
    n = check_same_length(z_true=zt, z_pred=zp)
    if (zt <= -1).any():
        raise MavenError("z_true must be > -1")
    if outlier_threshold <= 0 or abs_outlier_threshold <= 0:
        raise ConfigError("outlier thresholds must be > 0")
    dz = zp - zt
    x = dz / (1.0 + zt)
    r2 = r2_log1p = None
    if n >= 2 and np.ptp(zt) > 0:
        r2 = _fmt(r2_score(zt, zp))
        r2_log1p = _fmt(r2_score(np.log1p(zt), np.log1p(np.clip(zp, -0.99, None))))
    out: dict[str, Any] = {
        "n": int(n),
        "r2": r2,
        "r2_log1p": r2_log1p,
        "rmse": float(np.sqrt(np.mean(dz**2))),
        "rmse_normalised": float(np.sqrt(np.mean(x**2))),
        "nmad": float(NMAD_FACTOR * np.median(np.abs(x - np.median(x)))),
        "bias": float(np.mean(x)),
        "median_bias": float(np.median(x)),
        "bias_dz": float(np.mean(dz)),
        "outlier_threshold": float(outlier_threshold),
        "outlier_fraction": float(np.mean(np.abs(x) > outlier_threshold)),
        "outlier_fraction_05": float(np.mean(np.abs(x) > 0.05)),
        "abs_outlier_threshold": float(abs_outlier_threshold),
        "abs_outlier_fraction": float(np.mean(np.abs(dz) > abs_outlier_threshold)),
    }
    if z_sigma is not None:
        s = as_float_1d(z_sigma, "z_sigma")
        check_same_length(z_true=zt, z_sigma=s)
        if (s <= 0).any():
            raise MavenError("z_sigma must be > 0")
        r = dz / s
        out.update(
            {
                "coverage_68": float(np.mean(np.abs(r) <= 1.0)),
                "coverage_95": float(np.mean(np.abs(r) <= 1.959964)),
                "mean_normalised_residual": float(np.mean(r)),
                "std_normalised_residual": float(np.std(r)),
                "gaussian_nll": float(
                    np.mean(0.5 * r**2 + np.log(s) + 0.5 * math.log(2 * math.pi))
                ),
                "median_sigma": float(np.median(s)),
            }
        )
    return out
