"""Evaluate a fine-tuned head on labelled records: the numbers, the plots, the report.

:func:`evaluate` runs a classification or redshift head over records it never trained on
and returns one JSON-ready dict:

* classification: accuracy, balanced accuracy, macro-F1, per-class table, confusion matrix,
  log loss, Brier score, and the expected calibration error before (T = 1) and after the
  model's fitted temperature; **early classification** (photometry heads): the same
  headline metrics on light curves cut at 0, 3, 5, 10, 20, 50 days after the first
  detection;
* redshift: R², RMSE, NMAD, bias, outlier fractions (|dz|/(1+z) > 0.15 and |dz| > 0.07),
  and the coverage of the predicted 1-sigma and 2-sigma intervals;
* a bias audit: the metrics per redshift bin, per peak-brightness bin and per catalogue,
  and class counts in test (and train when given).

:func:`write_evaluation` writes ``metrics.json``, ``report.md`` and PNG plots.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maven.data.photometry import flux_to_mag
from maven.errors import ConfigError, MavenError
from maven.utils.arrays import apply_temperature

__all__ = [
    "EARLY_DAYS",
    "audit_groups",
    "catalogue",
    "early_scores",
    "evaluable",
    "evaluate",
    "evaluation_metrics",
    "model_early_scores",
    "peak_magnitude",
    "restrict_modality",
    "score_predictions",
    "truncate",
    "write_evaluation",
]

#: days after the first detection at which light curves are cut for early classification
EARLY_DAYS = (0, 3, 5, 10, 20, 50)
#: bin edges of the bias audit
REDSHIFT_EDGES = (0.0, 0.03, 0.06, 0.1, 0.2, 0.5, 10.0)
PEAK_MAG_EDGES = (5.0, 16.0, 17.0, 18.0, 19.0, 35.0)


def catalogue(sn) -> str:
    """The catalogue a record came from: the reader family of ``sn.source`` (``osc``,
    ``ztf_bts``, ...), else ``meta["survey"]``, else ``"unknown"``."""
    if sn.source:
        return str(sn.source).split(":", 1)[0]
    survey = sn.meta.get("survey") if isinstance(sn.meta, dict) else None
    return str(survey) if survey else "unknown"


def peak_magnitude(sn) -> float:
    """AB magnitude of the brightest detection (any band), NaN without one."""
    lc = sn.lightcurve
    if lc is None:
        return float("nan")
    flux = lc.flux[lc.detected & (lc.flux > 0)]
    return float(flux_to_mag(flux.max())) if flux.size else float("nan")


def restrict_modality(supernovae: Sequence, modality: str) -> list:
    """The records with only the given inputs: ``"photometry"`` drops the spectra,
    ``"spectrum"`` the light curves (records left with nothing are dropped), ``"both"``
    keeps everything.

    Raises:
        MavenError: an unknown modality.
    """
    if modality == "both":
        return list(supernovae)
    if modality == "photometry":
        return [
            dataclasses.replace(sn, spectra=[]) for sn in supernovae if sn.lightcurve is not None
        ]
    if modality == "spectrum":
        return [dataclasses.replace(sn, lightcurve=None) for sn in supernovae if sn.spectra]
    raise ConfigError(f"modality must be photometry, spectrum or both, got {modality!r}")


def truncate(sn, days: float):
    """``sn`` as it was ``days`` after its first detection: photometry up to then (earlier
    non-detections included) and only spectra taken by then. ``None`` without a detection."""
    lc = sn.lightcurve
    if lc is None or not lc.detected.any():
        return None
    cut = float(lc.time[lc.detected][0]) + float(days)
    keep = lc.time <= cut
    short = dataclasses.replace(
        lc,
        time=lc.time[keep],
        band=lc.band[keep],
        flux=lc.flux[keep],
        flux_err=lc.flux_err[keep],
        detected=lc.detected[keep],
    )
    spectra = [s for s in sn.spectra if s.mjd is not None and s.mjd <= cut]
    return dataclasses.replace(sn, lightcurve=short, spectra=spectra)


def early_scores(
    predict_classes: Callable[[list], Sequence[str]],
    supernovae: Sequence,
    labels: Sequence[str],
    days: Sequence[float] = EARLY_DAYS,
) -> list[dict[str, Any]]:
    """Accuracy, balanced accuracy and macro-F1 of ``predict_classes`` (records -> class
    names) on the light curves cut at each of ``days`` after the first detection."""
    from maven.evaluation.metrics import classification_metrics

    out = []
    for d in days:
        cut = [truncate(sn, d) for sn in supernovae]
        keep = [i for i, c in enumerate(cut) if c is not None]
        if not keep:
            continue
        predicted = predict_classes([cut[i] for i in keep])
        truth = [supernovae[i].type for i in keep]
        m = classification_metrics(truth, list(predicted), labels=list(labels))
        keys = ("accuracy", "balanced_accuracy", "macro_f1")
        out.append({"days": d, "n": len(keep), **{k: m[k] for k in keys}})
    return out


def model_early_scores(model, processor, supernovae: Sequence, days: Sequence[float]) -> list:
    """:func:`early_scores` of a classification head that reads photometry; ``[]`` for a
    redshift head, a spectrum-only head or no ``days``."""
    from maven.models.inference import predict

    if not hasattr(model, "classifier") or model.config.head_modality == "spectrum" or not days:
        return []
    labels = [model.config.id2label[k] for k in range(model.num_labels)]
    return early_scores(
        lambda recs: predict(model, processor, recs)["predicted"], supernovae, labels, days
    )


def audit_groups(supernovae: Sequence) -> dict[str, np.ndarray]:
    """What the bias audit bins by, per record: redshift, peak magnitude and catalogue."""
    return {
        "redshift": np.array([np.nan if sn.redshift is None else sn.redshift for sn in supernovae]),
        "peak_mag": np.array([peak_magnitude(sn) for sn in supernovae]),
        "catalogue": np.array([catalogue(sn) for sn in supernovae], dtype=object),
    }


def score_predictions(
    supernovae: Sequence | None,
    predictions: dict[str, Any],
    task: str,
    *,
    train_labels: Sequence[str] | None = None,
    groups: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics and bias audit of predictions already made for ``supernovae``.

    Args:
        supernovae: the records; or ``None`` with ``predictions["true"]`` (the classes or
            redshifts) and ``groups`` (:func:`audit_groups` of the records) given instead.
        predictions: classification: ``"labels"``, ``"predicted"``, ``"probabilities"``
            (calibrated) and optionally ``"logits"`` (to report the ECE at T = 1);
            redshift: ``"redshift"`` and ``"redshift_sigma"``.

    Returns:
        ``(metrics, audit)``.
    """
    from maven.evaluation.calibration import expected_calibration_error
    from maven.evaluation.metrics import classification_metrics, redshift_metrics
    from maven.evaluation.report import bias_audit

    groups = audit_groups(supernovae) if groups is None else groups
    if supernovae is not None:
        attr = "type" if task == "classification" else "redshift"
        predictions = {**predictions, "true": [getattr(sn, attr) for sn in supernovae]}
    bins = {"redshift": REDSHIFT_EDGES, "peak_mag": PEAK_MAG_EDGES}
    if task == "classification":
        labels = list(predictions["labels"])
        truth = predictions["true"]
        probs = np.asarray(predictions["probabilities"])
        m = classification_metrics(
            truth, predictions["predicted"], labels=labels, probabilities=probs
        )
        if predictions.get("logits") is not None:
            idx = np.array([labels.index(t) for t in truth])
            m["ece_uncalibrated"] = expected_calibration_error(
                apply_temperature(predictions["logits"], 1.0), idx
            )
        audit = bias_audit(
            truth,
            predictions["predicted"],
            groups,
            labels=labels,
            bins=bins,
            train_labels=train_labels,
            task="classification",
        )
        return m, audit
    z = np.array(predictions["true"], dtype=float)
    m = redshift_metrics(z, predictions["redshift"], predictions["redshift_sigma"])
    audit = bias_audit(
        z,
        predictions["redshift"],
        groups,
        bins=bins,
        z_sigma=predictions["redshift_sigma"],
        task="redshift",
    )
    return m, audit


def evaluable(model, processor, supernovae: Sequence) -> tuple[list, dict[str, int]]:
    """The records ``model`` can be scored on (known class or a redshift, and the modality
    its head needs), and why the others were dropped (reason -> count)."""
    from maven.models.inference import usable
    from maven.training.finetune import missing_target

    is_cls = hasattr(model, "classifier")
    task = "classification" if is_cls else "redshift"
    known = set(model.config.label2id) if is_cls else set()
    dropped: Counter = Counter()
    records = []
    for sn in supernovae:
        if reason := missing_target(sn, task, known):
            dropped[reason] += 1
        else:
            records.append(sn)
    ok = usable(model, processor, records) if records else np.zeros(0, bool)
    if (~ok).any():
        dropped[f"no {model.config.head_modality} input"] += int((~ok).sum())
    return [sn for sn, good in zip(records, ok, strict=True) if good], dict(dropped)


def evaluate(
    model,
    processor,
    supernovae: Sequence,
    *,
    early_days: Sequence[float] = EARLY_DAYS,
    train_labels: Sequence[str] | None = None,
    progress: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics of a fine-tuned head on labelled ``supernovae``.

    Records without the target (a class the model knows, or a redshift) or without the
    modality the head needs are dropped and counted under ``"dropped"``. Early
    classification is scored for heads that read photometry.

    Returns:
        ``(metrics, predictions)``: the JSON-ready metrics (see the module docstring) and
        the per-object predictions (ids, truth, predictions) for plots and tables.

    Raises:
        MavenError: no usable record.
    """
    from maven.models.inference import predict

    records, dropped = evaluable(model, processor, supernovae)
    if not records:
        raise MavenError(f"no record can be evaluated: {dropped}")
    task = "classification" if hasattr(model, "classifier") else "redshift"
    pred = predict(model, processor, records, progress=progress)
    truth = (
        [sn.type for sn in records] if task == "classification" else [sn.redshift for sn in records]
    )
    pred = {"id": [sn.id for sn in records], "true": truth, **pred}
    metrics = evaluation_metrics(
        model, pred, dropped, groups=audit_groups(records), train_labels=train_labels
    )
    if task == "classification" and (
        early := model_early_scores(model, processor, records, early_days)
    ):
        metrics["metrics"]["early"] = early
    return metrics, pred


def evaluation_metrics(
    model,
    predictions: dict[str, Any],
    dropped: dict[str, int],
    *,
    groups: dict[str, np.ndarray],
    train_labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """:func:`evaluate`'s metrics (early classification aside) from predictions already made
    (with their ``"true"`` values) and the records' :func:`audit_groups`."""
    task = "classification" if hasattr(model, "classifier") else "redshift"
    m, audit = score_predictions(None, predictions, task, train_labels=train_labels, groups=groups)
    if task == "classification":
        m["calibration_temperature"] = float(model.config.calibration_temperature)
    return {
        "task": task,
        "modality": model.config.head_modality,
        "n": len(predictions["true"]),
        "dropped": dropped,
        "metrics": m,
        "bias_audit": audit,
    }


def write_evaluation(
    metrics: dict, predictions: dict, out_dir: str | Path, *, title: str = "maven evaluation"
) -> dict[str, Path]:
    """``metrics.json``, ``report.md`` and PNG plots of :func:`evaluate`'s output; returns
    the written paths by name."""
    from maven.evaluation import plots
    from maven.evaluation.report import write_report

    out = Path(out_dir)
    paths = write_report(
        {
            "task": metrics["task"],
            "modality": metrics["modality"],
            "n": metrics["n"],
            metrics["task"]: metrics["metrics"],
            "bias_audit": metrics["bias_audit"],
            "dropped": metrics["dropped"],
        },
        out,
        title=title,
    )
    m = metrics["metrics"]
    audit = metrics["bias_audit"]["groups"]
    if metrics["task"] == "classification":
        labels = predictions["labels"]
        y = np.array([labels.index(t) for t in predictions["true"]])
        probs = np.asarray(predictions["probabilities"])
        raw = apply_temperature(predictions["logits"], 1.0) if "logits" in predictions else None
        plots.plot_confusion_matrix(m, path=out / "confusion_matrix.png")
        plots.plot_reliability_diagram(
            probs if raw is None else raw,
            y,
            calibrated=None if raw is None else probs,
            path=out / "reliability.png",
        )
        paths["confusion_matrix"] = out / "confusion_matrix.png"
        paths["reliability"] = out / "reliability.png"
        if m.get("early"):
            paths["early"] = out / "early_classification.png"
            plots.plot_early_classification(m["early"], path=paths["early"])
        metric = "macro_f1"
    else:
        plots.plot_redshift(
            predictions["true"],
            predictions["redshift"],
            predictions["redshift_sigma"],
            path=out / "redshift.png",
        )
        paths["redshift"] = out / "redshift.png"
        metric = "nmad"
    for group in ("redshift", "peak_mag", "catalogue"):
        path = out / f"by_{group}.png"
        plots.plot_metric_by_bin(audit[group], metric, group=group, path=path)
        paths[f"by_{group}"] = path
    paths["predictions"] = _write_predictions(predictions, out / "predictions.csv")
    return paths


def _write_predictions(predictions: dict, path: Path) -> Path:
    """One row per object: id, truth and every per-object prediction (class probabilities
    as ``p_<class>``); for error analysis, stacking and plots of one's own."""
    import csv
    import io

    from maven.utils.atomic import write_text

    columns: dict[str, list] = {"id": list(predictions["id"]), "true": list(predictions["true"])}
    n = len(columns["id"])
    for key, value in predictions.items():
        if key in columns or key in ("labels", "logits", "embeddings") or value is None:
            continue
        arr = np.asarray(value)
        if key == "probabilities":
            for j, label in enumerate(predictions["labels"]):
                columns[f"p_{label}"] = arr[:, j].tolist()
        elif arr.ndim == 1 and len(arr) == n:
            columns[key] = arr.tolist()
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    writer.writerows(zip(*columns.values(), strict=True))
    return write_text(path, buf.getvalue())
