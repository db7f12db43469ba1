"""Cross-validation of a fine-tuning recipe against baselines, on the same folds.

:func:`crossval` splits the labelled records into ``n_folds`` folds, stratified by class and
grouped by physical object (:func:`maven.data.folds.assign_folds`: the same supernova under
two names in two catalogues never sits in two folds). For each fold every method trains on
the other folds only (its own validation split comes out of them) and predicts the held-out
fold; nothing is tuned on a test fold. Methods:

* ``maven``: the recipe as given (pre-trained, fine-tuned);
* ``scratch``: the same architecture and recipe from random weights: what pre-training buys;
* ``probe``: the pre-trained towers frozen, a linear probe on the synthetic-only embedding
  (at least 60 epochs on cached embeddings; never the recipe's light-curve features nor its
  redshift templates): how far simulations alone go;
* ``features``: gradient-boosted trees on light-curve features
  (:mod:`maven.evaluation.features`; photometry recipes, and the objects with a light curve
  in a both-input classification recipe);
* ``features_sim``: the same trees trained on the training folds plus the recipe's simulated
  supplement (``simulated``): whether a gain comes from the simulations or from maven;
* ``spectrum_linear``, ``spectrum_knn``: logistic regression on the processor's spectrum grid
  (flux and continuum-divided flux) and a nearest-neighbour correlation classifier against
  the training folds' spectra (spectrum classification, and the objects with a spectrum in
  a both-input one);
* ``xcorr``: an SNID-style cross-correlation redshift against the training folds' spectra
  (spectrum redshift); see :mod:`maven.evaluation.spectral_baselines`.

A both-input recipe also gets the rows ``<method>_photometry_only`` and
``<method>_spectrum_only``: the same fine-tuned model given only the light curve (or only the
spectrum) of each test object that has one, the other input hidden.

Written to ``out_dir``: ``crossval.json`` (per fold and mean ± std per method),
``crossval.md`` (one table), per method a report on the pooled out-of-fold predictions
(confusion matrix, reliability diagram, bias audit, ``predictions.csv``) under
``<method>/``, and each method's predictions of each finished fold under ``folds/``
(``resume=True`` reads them instead of running that method on that fold again, so methods
can run apart into one folder and a last run with all of them writes one table).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maven.errors import ConfigError, MavenError

__all__ = ["BASELINES", "crossval", "paired_differences", "summarise"]

BASELINES = (
    "scratch",
    "probe",
    "features",
    "features_sim",
    "spectrum_linear",
    "spectrum_knn",
    "xcorr",
)
#: baselines that need no neural network, and the (task, modality) pairs they apply to
#: (a both-input recipe gives them the test objects that have their input)
SIMPLE_BASELINES = {
    "features": {
        ("classification", "photometry"),
        ("redshift", "photometry"),
        ("classification", "both"),
        ("redshift", "both"),
    },
    "features_sim": {
        ("classification", "photometry"),
        ("redshift", "photometry"),
        ("classification", "both"),
        ("redshift", "both"),
    },
    "spectrum_linear": {("classification", "spectrum"), ("classification", "both")},
    "spectrum_knn": {("classification", "spectrum"), ("classification", "both")},
    "xcorr": {("redshift", "spectrum"), ("redshift", "both")},
}
#: the row of a redshift method's network alone, where templates refined its estimate
NETWORK_ONLY = "{}_network"
#: the rows of a both-input method given one input (the other hidden)
SINGLE_INPUT = "{}_{}_only"
#: the input each simple baseline reads
_BASELINE_INPUT = {
    "features": "photometry",
    "features_sim": "photometry",
    "spectrum_linear": "spectrum",
    "spectrum_knn": "spectrum",
    "xcorr": "spectrum",
}
HEADLINE = {
    "classification": ("accuracy", "balanced_accuracy", "macro_f1", "ece", "ece_uncalibrated"),
    "redshift": (
        "nmad",
        "outlier_fraction_05",
        "outlier_fraction",
        "bias",
        "r2_log1p",
        "r2",
        "coverage_68",
    ),
}


def _method_config(config, method: str):
    from maven.training.finetune import copy_config

    if method == "maven":
        return config
    if config.model is None:
        raise ConfigError(f"baseline {method!r} needs a pre-trained model in the recipe")
    if method == "scratch":  # same architecture and processor, random weights
        return copy_config(config, model=None, preset=config.model)
    # a probe on cached embeddings is cheap: train it long enough to converge; it reads the
    # embedding only (a recipe's light-curve features need the full mode)
    epochs, patience = max(60, config.epochs), max(10, config.patience)
    return copy_config(
        config,
        mode="linear",
        contrastive_steps=0,
        epochs=epochs,
        patience=patience,
        lightcurve_features=False,
        redshift_templates=0,
    )


def _feature_predictions(config, train: list, test: list, early_days) -> tuple[dict, list]:
    from maven.evaluation.evaluate import early_scores
    from maven.evaluation.features import FeatureClassifier, FeatureRedshiftRegressor

    if config.task == "classification":
        clf = FeatureClassifier(use_redshift=config.use_redshift_input, random_state=config.seed)
        clf.fit(train, [sn.type for sn in train])
        labels = [str(c) for c in config.classes]
        cols = [list(clf.classes_).index(c) for c in labels]
        probs = clf.predict_proba(test)[:, cols]
        pred = {
            "labels": labels,
            "probabilities": probs,
            "predicted": [labels[k] for k in probs.argmax(axis=1)],
        }
        early = early_scores(clf.predict, test, labels, early_days) if early_days else []
        return pred, early
    reg = FeatureRedshiftRegressor(random_state=config.seed)
    reg.fit(train, [sn.redshift for sn in train])
    return {"redshift": reg.predict(test), "redshift_sigma": None}, []


def _spectral_predictions(method: str, config, train: list, test: list) -> tuple[list, dict]:
    """(test records it can read, predictions) of a spectral baseline. The classifiers read
    spectra through the recipe's processor, so they drop the same records as maven."""
    from maven.evaluation import spectral_baselines as sb
    from maven.models import MavenProcessor

    if method == "xcorr":  # the records with a spectrum (a both-input recipe has others)
        train, test = ([sn for sn in part if sn.spectra] for part in (train, test))
        reg = sb.CrossCorrelationRedshift().fit(train, [sn.redshift for sn in train])
        z = reg.predict(test)
        ok = np.isfinite(z)
        return [sn for sn, good in zip(test, ok, strict=True) if good], {
            "redshift": z[ok],
            "redshift_sigma": None,
        }
    processor = MavenProcessor(**config.processor)
    readable = [sb.processor_spectra(processor, part)[1].any(axis=1) for part in (train, test)]
    train = [sn for sn, good in zip(train, readable[0], strict=True) if good]
    test = [sn for sn, good in zip(test, readable[1], strict=True) if good]
    linear = method == "spectrum_linear"
    cls = sb.SpectrumLinearClassifier if linear else sb.SpectrumCorrelationClassifier
    clf = cls(processor).fit(train, [sn.type for sn in train])
    labels = [str(c) for c in config.classes]
    probs = np.zeros((len(test), len(labels)))
    raw = clf.predict_proba(test)
    for j, c in enumerate(clf.classes_):
        probs[:, labels.index(str(c))] = raw[:, j]
    return test, {
        "labels": labels,
        "probabilities": probs,
        "predicted": [labels[k] for k in probs.argmax(axis=1)],
    }


def _single_input_rows(
    method: str, model, processor, test: list, positions: list, early_days
) -> list:
    """Rows of a both-input model given one input: each test object that has it, the other
    input hidden (what a user with only a light curve, or only a spectrum, gets); the
    light-curve row also scored early."""
    from maven.evaluation.evaluate import evaluable, model_early_scores
    from maven.models.inference import predict

    rows = []
    for modality in ("photometry", "spectrum"):
        pos, copies = _given_only(test, positions, modality)
        records = evaluable(model, processor, copies)[0]
        kept = {id(sn) for sn in records}
        pos = [i for i, sn in zip(pos, copies, strict=True) if id(sn) in kept]
        if pos:
            pred = _without_embeddings(predict(model, processor, records))
            early = (
                model_early_scores(model, processor, records, early_days)
                if modality == "photometry"
                else []
            )
            rows.append((SINGLE_INPUT.format(method, modality), modality, pos, pred, early, {}))
    return rows


def _given_only(test: list, positions: list, modality: str) -> tuple[list[int], list]:
    """(the positions among ``positions`` of the test objects that have ``modality``, copies
    of them with the other input removed: :func:`~maven.evaluation.evaluate.restrict_modality`)."""
    from maven.evaluation.evaluate import restrict_modality

    has = {
        "photometry": lambda sn: sn.lightcurve is not None,
        "spectrum": lambda sn: bool(sn.spectra),
    }
    pos = [i for i in positions if has[modality](test[i])]
    return pos, restrict_modality([test[i] for i in pos], modality)


def _without_embeddings(pred: dict) -> dict:
    return {k: v for k, v in pred.items() if k != "embeddings"}


def _run_fold(method: str, config, train: list, test: list, early_days, progress: bool) -> list:
    """The rows one method gives on one fold: ``(row name, input modality, positions of the
    scored objects in test, predictions, early list, info)``; the method's own row first, then
    its network-only row (redshift refined by templates) and, for a both-input recipe, its
    single-input rows."""
    from maven.evaluation.evaluate import evaluable, model_early_scores
    from maven.models.inference import predict
    from maven.training.finetune import finetune

    if method in ("features", "features_sim"):
        if method == "features_sim":
            from maven.training.finetune import simulated_records

            train = train + simulated_records(config)
        train = [sn for sn in train if sn.lightcurve is not None]
        positions, scored = _given_only(test, range(len(test)), "photometry")
        pred, early = _feature_predictions(config, train, scored, early_days)
        return [(method, _input(config, "photometry"), positions, pred, early, {})]
    if method in SIMPLE_BASELINES:
        records, pred = _spectral_predictions(method, config, train, test)
        return [(method, _input(config, "spectrum"), _positions(test, records), pred, [], {})]
    model, processor, summary = finetune(_method_config(config, method), train, progress=progress)
    records, dropped = evaluable(model, processor, test)
    positions = _positions(test, records)
    pred = _without_embeddings(predict(model, processor, records))
    early = model_early_scores(model, processor, records, early_days)
    info = {"best": summary["best"], "calibration": summary["calibration"], "dropped": dropped}
    rows = [(method, "both", positions, pred, early, info)]
    if "redshift_network" in pred:  # templates refined it: keep the network's own
        alone = {
            "redshift": pred["redshift_network"],
            "redshift_sigma": pred["redshift_sigma_network"],
        }
        rows.append((NETWORK_ONLY.format(method), "both", positions, alone, [], {}))
    if config.modality == "both":
        rows += _single_input_rows(method, model, processor, test, positions, early_days)
    return rows


def _input(config, modality: str) -> str:
    """The input a baseline row is scored on: its own one in a both-input recipe's table."""
    return modality if config.modality == "both" else "both"


def _positions(test: list, records: list) -> list[int]:
    """Where each of ``records`` (a subset of ``test``, same objects) sits in ``test``."""
    where = {id(sn): i for i, sn in enumerate(test)}
    return [where[id(sn)] for sn in records]


def _save_fold(path: Path, config, early_days, test: list, method: str, rows: list):
    from maven.evaluation.report import jsonable
    from maven.utils.atomic import write_text

    saved = {
        "config": config.to_dict(),
        "early_days": list(early_days),
        "test_ids": [sn.id for sn in test],
        "method": method,
        "rows": [
            {"name": n, "modality": m, "positions": pos, "predictions": pred, "early": e, "info": i}
            for n, m, pos, pred, e, i in rows
        ],
    }
    write_text(path, json.dumps(jsonable(saved)) + "\n")


def _load_fold(path: Path, config, early_days, test: list, method: str) -> list | None:
    """The rows a method saved for this fold, or ``None`` when the file is missing or was
    written for another recipe, other early-classification days or other test objects."""
    from maven.evaluation.report import jsonable

    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    if (
        saved["config"] != json.loads(json.dumps(jsonable(config.to_dict())))
        or saved["early_days"] != list(early_days)
        or saved["test_ids"] != [sn.id for sn in test]
        or saved.get("method") != method
    ):
        return None

    def arrays(pred: dict) -> dict:
        return {k: v if k == "labels" or v is None else np.asarray(v) for k, v in pred.items()}

    return [
        (r["name"], r["modality"], r["positions"], arrays(r["predictions"]), r["early"], r["info"])
        for r in saved["rows"]
    ]


def _concat(preds: list[dict]) -> dict:
    out = {}
    for key in preds[0]:
        vals = [p[key] for p in preds]
        if key == "labels":
            out[key] = vals[0]
        elif vals[0] is None:
            out[key] = None
        elif isinstance(vals[0], list):
            out[key] = [v for chunk in vals for v in chunk]
        else:
            out[key] = np.concatenate([np.asarray(v) for v in vals])
    return out


def summarise(folds: list[dict], task: str) -> dict[str, Any]:
    """Mean and standard deviation over folds of the headline metrics (and of early scores)."""
    out: dict[str, Any] = {}
    for key in HEADLINE[task]:
        vals = [f["metrics"].get(key) for f in folds if f["metrics"].get(key) is not None]
        if vals:
            out[key] = {
                "mean": float(np.mean(vals)),
                "std": float(np.std(vals)),
                "n_folds": len(vals),
            }
    early: dict[float, list] = {}
    for f in folds:
        for e in f.get("early", []):
            early.setdefault(e["days"], []).append(e)
    if early:
        out["early"] = [
            {
                "days": d,
                **{
                    k: {
                        "mean": float(np.mean([e[k] for e in es])),
                        "std": float(np.std([e[k] for e in es])),
                    }
                    for k in ("accuracy", "balanced_accuracy", "macro_f1")
                },
            }
            for d, es in sorted(early.items())
        ]
    return out


def crossval(
    config,
    supernovae: Sequence,
    out_dir: str | Path,
    *,
    n_folds: int = 5,
    seed: int = 0,
    methods: Sequence[str] = ("maven", *BASELINES),
    early_days: Sequence[float] | None = None,
    progress: bool = True,
    resume: bool = False,
) -> dict[str, Any]:
    """Run the protocol (module docstring) and write its outputs; returns the summary.

    Args:
        config: the :class:`~maven.training.finetune.FinetuneConfig` of the ``maven`` method.
        supernovae: labelled records (those the recipe cannot use are dropped and counted).
        methods: ``"maven"`` and any of :data:`BASELINES`; the simple ones run only where
            they apply (:data:`SIMPLE_BASELINES`).
        early_days: days after first detection for early classification (default
            :data:`~maven.evaluation.evaluate.EARLY_DAYS`; ``()`` for none).
        resume: read each fold finished by an earlier run into ``out_dir`` (its predictions
            are saved per method as ``folds/fold-<k>-<method>.json``) instead of training
            it again; one saved for another recipe or other test objects runs again.

    Raises:
        ConfigError: an unknown method, or a baseline that needs a pre-trained model.
        MavenError: too few records for the folds.
    """
    from tqdm.auto import tqdm

    from maven.data.folds import assign_folds, fold_counts
    from maven.evaluation.evaluate import (
        EARLY_DAYS,
        restrict_modality,
        score_predictions,
        write_evaluation,
    )
    from maven.evaluation.report import jsonable
    from maven.training.finetune import select_supernovae

    unknown = sorted(set(methods) - {"maven", *BASELINES})
    if unknown:
        raise ConfigError(f"unknown methods {unknown}; known: maven, {', '.join(BASELINES)}")
    task_input = (config.task, config.modality)
    methods = [m for m in methods if m not in SIMPLE_BASELINES or task_input in SIMPLE_BASELINES[m]]
    if not config.simulated:  # features_sim is the features baseline given the simulations
        methods = [m for m in methods if m != "features_sim"]
    if config.model is None and {"scratch", "probe"} & set(methods):
        raise ConfigError("the scratch and probe baselines need a pre-trained model in the recipe")
    early_days = EARLY_DAYS if early_days is None else tuple(early_days)
    records, dropped = select_supernovae(supernovae, config)
    if len(records) < 2 * n_folds:
        raise MavenError(f"{len(records)} usable records are too few for {n_folds} folds")
    strata = [sn.type if config.task == "classification" else "all" for sn in records]
    folds = assign_folds(records, n_folds=n_folds, seed=seed, labels=strata)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "config": config.to_dict(),
        "task": config.task,
        "modality": config.modality,
        "n_folds": n_folds,
        "seed": seed,
        "n": len(records),
        "dropped": dropped,
        "fold_counts": fold_counts(strata, folds),
        "methods": {},
    }
    pooled: dict[str, tuple[list, list]] = {}
    per_fold: dict[str, list] = {}
    modality_of: dict[str, str] = {}
    for k in tqdm(range(n_folds), desc="folds", disable=not progress):
        train = [sn for sn, f in zip(records, folds, strict=True) if f != k]
        test = [sn for sn, f in zip(records, folds, strict=True) if f == k]
        rows = []
        for method in methods:
            fold_file = out / "folds" / f"fold-{k}-{method}.json"
            done = _load_fold(fold_file, config, early_days, test, method) if resume else None
            if done is None:
                done = list(_run_fold(method, config, train, test, early_days, progress))
                fold_file.parent.mkdir(exist_ok=True)
                _save_fold(fold_file, config, early_days, test, method, done)
            elif progress:
                tqdm.write(f"fold {k} {method}: finished before, read from {fold_file}")
            rows.extend(done)
        for name, modality, positions, pred, early, info in rows:
            recs = restrict_modality([test[i] for i in positions], modality)
            m, _ = score_predictions(recs, pred, config.task)
            entry = {"fold": k, "n_test": len(recs), "metrics": m, "early": early, **info}
            per_fold.setdefault(name, []).append(entry)
            pooled.setdefault(name, ([], []))[0].extend(recs)
            pooled[name][1].append(pred)
            modality_of[name] = modality
            if progress:
                tqdm.write(
                    f"fold {k} {name}: "
                    + ", ".join(
                        f"{key}={m[key]:.3f}"
                        for key in HEADLINE[config.task][:3]
                        if m.get(key) is not None
                    )
                )
        (out / "crossval.json").write_text(
            json.dumps(jsonable({**result, "per_fold_so_far": per_fold}), indent=2) + "\n"
        )
    for method in pooled:
        recs, preds = pooled[method]
        pred = _concat(preds)
        m, audit = score_predictions(recs, pred, config.task)
        summary = summarise(per_fold[method], config.task)
        result["methods"][method] = {"mean_std": summary, "folds": per_fold[method]}
        task = config.task
        metrics = {
            "task": task,
            "modality": config.modality if modality_of[method] == "both" else modality_of[method],
            "n": len(recs),
            "dropped": {},
            "metrics": {**m, "early": summary.get("early", [])},
            "bias_audit": audit,
        }
        truth = [sn.type if task == "classification" else sn.redshift for sn in recs]
        write_evaluation(
            metrics,
            {"id": [sn.id for sn in recs], "true": truth, **pred},
            out / method,
            title=f"maven crossval: {method} (pooled out-of-fold predictions)",
        )
    (out / "crossval.json").write_text(json.dumps(jsonable(result), indent=2) + "\n")
    (out / "crossval.md").write_text(crossval_markdown(result))
    return result


def paired_differences(result: dict) -> list[dict[str, Any]]:
    """Per baseline, the per-fold difference of the headline score (macro-F1; NMAD for
    redshift) between the maven row on the same input and the baseline: mean, std and the
    folds where maven is ahead. Folds are shared, so the difference is read fold by fold
    rather than from two spreads. A both-input table compares a light-curve or spectral
    baseline with ``maven_photometry_only`` / ``maven_spectrum_only``."""
    task = result["task"]
    key = "macro_f1" if task == "classification" else "nmad"
    sign = 1.0 if task == "classification" else -1.0  # NMAD: lower is better
    rows = result["methods"]
    out = []
    for name, r in rows.items():
        if name.startswith("maven"):
            continue
        single = SINGLE_INPUT.format("maven", _BASELINE_INPUT.get(name, "both"))
        ref = single if single in rows else "maven"
        if ref not in rows:
            continue
        a = {f["fold"]: f["metrics"].get(key) for f in rows[ref]["folds"]}
        b = {f["fold"]: f["metrics"].get(key) for f in r["folds"]}
        d = [a[k] - b[k] for k in sorted(a) if a[k] is not None and b.get(k) is not None]
        if d:
            out.append(
                {
                    "method": name,
                    "against": ref,
                    "metric": key,
                    "mean": float(np.mean(d)),
                    "std": float(np.std(d)),
                    "ahead": int(sum(sign * x > 0 for x in d)),
                    "n_folds": len(d),
                }
            )
    return out


def crossval_markdown(result: dict) -> str:
    """One table: mean ± std over folds of each method's headline metrics."""
    task = result["task"]
    keys = [k for k in HEADLINE[task]]
    lines = [
        f"# maven crossval: {task} from {result['modality']}",
        "",
        f"{result['n']} objects, {result['n_folds']} folds (stratified by class, grouped by "
        f"object; seed {result['seed']}). Dropped: {result['dropped'] or 'none'}.",
        "",
    ]
    counts = result["fold_counts"]
    classes = sorted({c for f in counts.values() for c in f})
    total = {c: sum(f.get(c, 0) for f in counts.values()) for c in classes}
    if task == "classification":
        lines += ["Objects per class: " + ", ".join(f"{c} {n}" for c, n in total.items()), ""]
    if task == "classification" and total:
        big = max(total.values())
        small = min(total.values())
        if big > 5 * small:
            lines += [
                f"The set is imbalanced ({big} vs {small}): read macro-F1 and balanced "
                "accuracy, not accuracy.",
                "",
            ]
    early5 = task == "classification"
    digits = 3 if task == "classification" else 4  # an NMAD of 0.004 needs the fourth
    header = ["method", *keys] + (["accuracy at 5 d"] if early5 else [])
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, r in result["methods"].items():
        s = r["mean_std"]
        row = [method] + [
            f"{s[k]['mean']:.{digits}f} ± {s[k]['std']:.{digits}f}" if k in s else "-" for k in keys
        ]
        if early5:
            e = [x for x in s.get("early", []) if x["days"] == 5]
            row.append(
                f"{e[0]['accuracy']['mean']:.3f} ± {e[0]['accuracy']['std']:.3f}" if e else "-"
            )
        lines.append("| " + " | ".join(row) + " |")
    lines += paired_lines(result)
    return "\n".join(lines) + "\n"


def paired_lines(result: dict) -> list[str]:
    """:func:`paired_differences` as markdown lines (none without a baseline)."""
    pairs = paired_differences(result)
    if not pairs:
        return []
    digits = 3 if result["task"] == "classification" else 4
    lines = ["", "Paired over the same folds (maven minus the baseline):", ""]
    for p in pairs:
        lines.append(
            f"* {p['against']} - {p['method']}: {p['metric']} {p['mean']:+.{digits}f} ± "
            f"{p['std']:.{digits}f}; maven better in {p['ahead']} of {p['n_folds']} folds"
        )
    return lines
