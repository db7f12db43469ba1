"""Evaluation reports: ``metrics.json`` + a markdown summary, and the bias audit.

``write_report`` accepts either one metrics dict (of
:func:`~maven.evaluation.metrics.classification_metrics` or
:func:`~maven.evaluation.metrics.redshift_metrics`) or a dict of sections such as
``{"classification": ..., "redshift": ..., "retrieval": ..., "bias_audit": ...}``.

Example (``y``, ``p``: true and predicted classes; ``z``: redshifts)::

    m = {"classification": classification_metrics(y, p, labels=DEFAULT_CLASSES)}
    m["bias_audit"] = bias_audit(y, p, {"redshift": z}, train_labels=y_train)
    write_report(m, "runs/eval")  # runs/eval/metrics.json, runs/eval/report.md
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maven.errors import ConfigError, MavenError
from maven.evaluation.metrics import classification_metrics, redshift_metrics, resolve_labels
from maven.utils.arrays import as_1d, check_same_length

__all__ = ["bias_audit", "jsonable", "write_report"]

#: headline numbers shown first (those present)
_HEADLINE_CLASSIFICATION = (
    "n",
    "balanced_accuracy",
    "macro_f1",
    "accuracy",
    "weighted_f1",
    "log_loss",
    "brier",
    "ece",
)
_HEADLINE_REDSHIFT = (
    "n",
    "nmad",
    "outlier_fraction",
    "abs_outlier_fraction",
    "bias",
    "rmse",
    "r2",
    "coverage_68",
    "coverage_95",
    "mean_normalised_residual",
    "std_normalised_residual",
)


def jsonable(obj: Any) -> Any:
    """A copy of ``obj`` that ``json.dumps(..., allow_nan=False)`` accepts: numpy scalars and
    arrays become Python numbers and lists, NaN / inf become ``None``, tuples lists, keys str.
    """
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if hasattr(obj, "detach"):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    raise MavenError(f"cannot write {type(obj).__name__} to JSON")


# ---------------------------------------------------------------------- markdown


def _num(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_num(v) for v in row) + " |" for row in rows]
    return lines


def _counts_line(counts: Mapping[str, int], what: str = "Class counts") -> str:
    parts = ", ".join(f"{k} {v}" for k, v in counts.items())
    nonzero = [v for v in counts.values() if v > 0]
    if len(nonzero) >= 2 and max(nonzero) > 1.5 * min(nonzero):
        ratio = max(nonzero) / min(nonzero)
        note = (
            f"the data are imbalanced (largest/smallest class = {ratio:.1f}), "
            "so balanced accuracy and macro-F1, not accuracy, are the headline numbers."
        )
    else:
        note = "the classes are roughly balanced."
    return f"{what}: {parts}; {note}"


def _classification_md(m: Mapping[str, Any]) -> list[str]:
    lines = ["## Classification", ""]
    lines += _table(["metric", "value"], [(k, m[k]) for k in _HEADLINE_CLASSIFICATION if k in m])
    lines += ["", _counts_line(m.get("class_counts", {})), ""]
    rows = [
        (lab, d["precision"], d["recall"], d["f1"], d["support"], d.get("n_predicted"))
        for lab, d in m.get("per_class", {}).items()
    ]
    lines += _table(["class", "precision", "recall", "F1", "support", "predicted"], rows)
    cm = m.get("confusion_matrix")
    if cm:
        lines += ["", "Confusion matrix (rows true, columns predicted, counts):", ""]
        lines += _table(
            ["true \\ pred", *cm["labels"]],
            [(lab, *row) for lab, row in zip(cm["labels"], cm["counts"], strict=True)],
        )
    return lines + [""]


def _redshift_md(m: Mapping[str, Any]) -> list[str]:
    lines = ["## Redshift", ""]
    lines += _table(["metric", "value"], [(k, m[k]) for k in _HEADLINE_REDSHIFT if k in m])
    lines += [
        "",
        f"NMAD = 1.4826 median|x - median x| of x = dz/(1+z); outliers: "
        f"|dz|/(1+z) > {m.get('outlier_threshold', 0.15)} and |dz| > "
        f"{m.get('abs_outlier_threshold', 0.07)}.",
        "",
    ]
    return lines


def _audit_md(a: Mapping[str, Any]) -> list[str]:
    lines = ["## Bias audit", ""]
    cc = a.get("class_counts", {})
    for split in ("train", "test"):
        if split in cc:
            lines += [_counts_line(cc[split], f"Class counts ({split})"), ""]
    for name, bins in a.get("groups", {}).items():
        if not bins:
            continue
        keys = [
            k
            for k in bins[0]
            if k not in ("bin", "lo", "hi") and not isinstance(bins[0][k], Mapping)
        ]
        lines += [f"### by {name}", ""]
        lines += _table(["bin", *keys], [(b["bin"], *(b.get(k) for k in keys)) for b in bins])
        lines += [""]
    return lines


def _scalars_md(title: str, m: Mapping[str, Any]) -> list[str]:
    rows = [(k, v) for k, v in m.items() if v is None or isinstance(v, (int, float, str))]
    return [f"## {title}", "", *_table(["metric", "value"], rows), ""] if rows else []


def write_report(
    metrics: Mapping[str, Any], out_dir: str | Path, *, title: str = "maven evaluation"
) -> dict[str, Path]:
    """Write ``metrics.json`` and ``report.md`` into ``out_dir`` (created).

    The markdown has the headline numbers, the per-class table (precision, recall, F1,
    support), a line with the class counts stating whether the data are imbalanced, the
    confusion matrix, the redshift numbers and the bias-audit tables, for whichever of these
    ``metrics`` holds; other sections become scalar tables.

    Returns:
        ``{"json": path, "markdown": path}``.

    Raises:
        MavenError: ``metrics`` not a dict or holding something JSON cannot represent.
    """
    if not isinstance(metrics, Mapping):
        raise MavenError(f"metrics must be a dict, got {type(metrics).__name__}")
    data = jsonable(metrics)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "metrics.json"
    json_path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")

    sections: dict[str, Any]
    if "per_class" in data or "nmad" in data:
        sections = {"classification" if "per_class" in data else "redshift": data}
    else:
        sections = data
    lines = [f"# {title}", ""]
    top = [(k, v) for k, v in sections.items() if not isinstance(v, (Mapping, list))]
    if top:
        lines += _table(["field", "value"], top) + [""]
    for name, sec in sections.items():
        if not isinstance(sec, Mapping):
            continue
        if "per_class" in sec:
            lines += _classification_md(sec)
        elif "nmad" in sec:
            lines += _redshift_md(sec)
        elif "groups" in sec:
            lines += _audit_md(sec)
        else:
            lines += _scalars_md(name, sec)
    md_path = out / "report.md"
    md_path.write_text("\n".join(lines).rstrip() + "\n")
    return {"json": json_path, "markdown": md_path}


# ---------------------------------------------------------------------- bias audit


def _bin_group(values: np.ndarray, edges: Any, n_bins: int) -> list[tuple[str, np.ndarray, dict]]:
    """(label, mask, extra) per bin: numeric values by edges (default quantiles), categorical
    values per category; NaN / None go to a ``"missing"`` bin."""
    numeric = np.issubdtype(values.dtype, np.number) and not np.issubdtype(values.dtype, np.bool_)
    if not numeric:
        vals = np.array([str(v) if v is not None else None for v in values.tolist()], dtype=object)
        missing = np.array([v is None for v in vals])
        out = [(c, vals == c, {}) for c in sorted({v for v in vals if v is not None})]
    else:
        x = values.astype(np.float64)
        missing = ~np.isfinite(x)
        ok = x[~missing]
        if edges is None:
            if ok.size == 0:
                edges = np.array([0.0, 1.0])
            else:
                edges = np.unique(np.quantile(ok, np.linspace(0, 1, n_bins + 1)))
                if edges.size == 1:
                    edges = np.array([edges[0], edges[0]])
        edges = np.asarray(edges, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) < 0):
            raise ConfigError(f"bin edges must be an increasing 1-D sequence, got {edges.tolist()}")
        out = []
        nb = edges.size - 1
        for b in range(nb):
            lo, hi = edges[b], edges[b + 1]
            last = b == nb - 1
            m = (x >= lo) & ((x <= hi) if last else (x < hi)) & ~missing
            label = f"[{lo:.4g}, {hi:.4g}{']' if last else ')'}"
            out.append((label, m, {"lo": float(lo), "hi": float(hi)}))
        outside = ~missing & ~np.any([m for _, m, _ in out], axis=0)
        if outside.any():
            out.append(("outside", outside, {}))
    if missing.any():
        out.append(("missing", missing, {}))
    return out


def bias_audit(
    y_true: Any,
    y_pred: Any,
    groups: Mapping[str, Any],
    *,
    labels: Sequence[Any] | None = None,
    bins: Mapping[str, Sequence[float]] | None = None,
    n_bins: int = 4,
    z_sigma: Any = None,
    train_labels: Any = None,
    task: str | None = None,
) -> dict[str, Any]:
    """Metrics per bin of each grouping variable, to see where a model fails.

    Args:
        y_true, y_pred: classes (classification) or redshifts (regression), (N,).
        groups: ``{name: values (N,)}``, e.g. ``{"redshift": z, "peak_mag": m, "survey": s}``.
            Numeric values are cut at ``bins[name]`` edges when given, else at ``n_bins``
            quantiles (equal counts); strings / other values are grouped per category.
            NaN / None values form a ``"missing"`` bin, values outside given edges an
            ``"outside"`` bin.
        labels: class list (classification; default the union of the labels seen).
        z_sigma: predicted redshift uncertainties (regression), adds coverage per bin.
        train_labels: classes of the training set; adds train class counts next to test.
        task: ``"classification"`` or ``"redshift"``; default: redshift for float
            ``y_true``, classification otherwise.

    Returns:
        ``{"task", "n", "groups": {name: [{"bin", "n", metrics..., ["lo", "hi"]}]},
        "class_counts": {"test": {...}, ["train": {...}]}}`` (class counts for
        classification). Classification bins hold ``accuracy``, ``balanced_accuracy``,
        ``macro_f1`` and ``recall`` per class; redshift bins ``nmad``, ``outlier_fraction``,
        ``abs_outlier_fraction``, ``bias``, ``rmse`` (and ``coverage_68`` / ``coverage_95``).
        Empty bins have ``n = 0`` and ``None`` metrics.

    Raises:
        MavenError: length mismatch, empty inputs, unknown labels, bad edges or task.
    """
    t = as_1d(y_true, "y_true")
    p = as_1d(y_pred, "y_pred")
    n = check_same_length(y_true=t, y_pred=p)
    if not isinstance(groups, Mapping):
        raise MavenError(f"groups must be a dict of arrays, got {type(groups).__name__}")
    if task is None:
        task = "redshift" if np.issubdtype(t.dtype, np.floating) else "classification"
    if task not in ("classification", "redshift"):
        raise ConfigError(f"task must be 'classification' or 'redshift', got {task!r}")
    bins = dict(bins or {})
    unknown = sorted(set(bins) - set(groups))
    if unknown:
        raise ConfigError(f"bins given for unknown groups {unknown}; groups are {sorted(groups)}")
    sig = None if z_sigma is None else as_1d(z_sigma, "z_sigma")
    if sig is not None:
        check_same_length(y_true=t, z_sigma=sig)
    out: dict[str, Any] = {"task": task, "n": int(n), "groups": {}}
    if task == "classification":
        labels, _ = resolve_labels(labels, t, p, names=("y_true", "y_pred"))
        out["labels"] = [str(x) for x in labels]
        cc = {"test": classification_metrics(t, p, labels=labels)["class_counts"]}
        if train_labels is not None:
            tr = as_1d(train_labels, "train_labels")
            _, (tri,) = resolve_labels(labels, tr, names=("train_labels",))
            counts = np.bincount(tri, minlength=len(labels))
            cc["train"] = {str(lab): int(c) for lab, c in zip(labels, counts, strict=True)}
        out["class_counts"] = cc
    for name, values in groups.items():
        v = as_1d(values, f"groups[{name!r}]")
        if len(v) != n:
            raise MavenError(f"groups[{name!r}] has length {len(v)}, y_true {n}")
        rows = []
        for label, mask, extra in _bin_group(v, bins.get(name), n_bins):
            row: dict[str, Any] = {"bin": label, "n": int(mask.sum()), **extra}
            if task == "classification":
                row.update(dict.fromkeys(("accuracy", "balanced_accuracy", "macro_f1")))
                if mask.any():
                    m = classification_metrics(t[mask], p[mask], labels=labels)
                    row.update({k: m[k] for k in ("accuracy", "balanced_accuracy", "macro_f1")})
                    row["recall"] = {k: d["recall"] for k, d in m["per_class"].items()}
            else:
                keys = ["nmad", "outlier_fraction", "abs_outlier_fraction", "bias", "rmse"]
                if sig is not None:
                    keys += ["coverage_68", "coverage_95"]
                row.update(dict.fromkeys(keys))
                if mask.any():
                    m = redshift_metrics(t[mask], p[mask], None if sig is None else sig[mask])
                    row.update({k: m[k] for k in keys})
            rows.append(row)
        out["groups"][str(name)] = rows
    return out
