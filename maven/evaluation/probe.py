"""The probes every pre-trained model is held to (``maven probe``): what its frozen embedding
knows, on fresh simulations and on real supernovae.

For a saved :class:`~maven.models.MavenModel` folder, :func:`probe` reports

* **simulations**: ``n_sim`` fresh, class-balanced simulated objects (a seed no training run
  uses), split in half; a linear probe (standardised embedding, class-balanced logistic
  regression) is fitted on the first half and scored on the second: class macro-F1 and the
  redshift NMAD of ``dz / (1 + z)`` from a ridge regression of ``log(1 + z)``;
* **real folds** (with ``real``): the same probes on the real objects of the default classes,
  out of fold over ``n_folds`` grouped, stratified folds (:func:`maven.data.folds.assign_folds`);
* **retrieval**: light curve -> spectrum and back among the first ``n_retrieval`` simulated
  pairs: top-1, top-10 and the median rank;
* **novelty**: the kNN novelty AUROC of the simulator's never-trained classes (``novel``)
  against the unseen half of the simulations, the first half as reference
  (:func:`maven.evaluation.novelty_eval.knn_novelty`).

Each probe reads the light-curve embedding, the spectrum embedding and both concatenated.
Class probes give the model the redshift where a record has one (as fine-tuning does);
redshift probes hide it. Everything is deterministic for a given model and seed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maven.errors import ConfigError, MavenError
from maven.search.embeddings import Embeddings

__all__ = ["PROBE_SEED", "check_probe_options", "linear_probe", "probe", "probe_markdown"]

#: simulator seed offset of the probe's objects (training uses ``seed``, validation
#: ``seed + 1_000_003``)
PROBE_SEED = 2_000_003
INPUTS = ("photometry", "spectrum", "both")
_NAMES = {"photometry": "light curve", "spectrum": "spectrum", "both": "both"}


def check_probe_options(options: dict, *, paths: bool = False) -> None:
    """Refuse options :func:`probe` does not take, or (with ``paths``) a ``real`` path that
    does not exist or simulations it cannot make (e.g. Ia-91bg without a template directory),
    before a run spends hours and fails at its end.

    Raises:
        ConfigError: unknown options, a missing ``real`` path or an impossible simulation.
    """
    import inspect

    params = inspect.signature(probe).parameters
    known = set(params) - {"model_dir", "out_dir", "progress"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"probe: unknown options {unknown}; known: {sorted(known)}")
    if not paths:
        return
    if options.get("real") is not None and not Path(options["real"]).exists():
        raise ConfigError(f"probe.real: {options['real']} does not exist")
    from maven.simulate import simulate

    configs = _sim_configs({k: params[k].default for k in known} | options)
    for config in configs:
        if config is not None:
            simulate(0, config=config)  # loads what the classes need, or raises


def _sim_configs(options: dict) -> tuple:
    """(known-class, novel-class or ``None``) simulator configs of probe ``options``."""
    from maven.training.data import sim_config

    known = sim_config(options["survey"], options["sim"] or {})
    if not (options["novel"] and options["n_novel"]):
        return known, None
    return known, dataclasses.replace(known, classes=tuple(options["novel"]))


def _features(emb: Embeddings, modality: str) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, rows that have them) of :class:`~maven.search.Embeddings`."""
    return emb.concatenated(("photometry", "spectrum") if modality == "both" else (modality,))


def linear_probe(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    task: str,
) -> np.ndarray:
    """Predictions of a linear probe: standardised features, then class-balanced logistic
    regression (``task="class"``) or a ridge regression (``task="redshift"``, on
    ``log(1 + z)``; returns z)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if task == "class":
        clf = LogisticRegression(max_iter=2000, class_weight="balanced")
        return make_pipeline(StandardScaler(), clf).fit(x_train, y_train).predict(x_test)
    reg = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(x_train, np.log1p(y_train))
    return np.expm1(reg.predict(x_test))


def _score(task: str, truth: np.ndarray, pred: np.ndarray) -> float:
    from maven.evaluation.metrics import classification_metrics, redshift_metrics

    if task == "class":
        return classification_metrics(truth, pred)["macro_f1"]
    return redshift_metrics(truth, pred)["nmad"]


def _labelled(records: Sequence, task: str) -> tuple[np.ndarray, np.ndarray]:
    """(truth, rows that have it) for ``task``: class among the default ones, or redshift."""
    from maven.data.types import DEFAULT_CLASSES

    if task == "class":
        y = np.array([sn.type if sn.type in DEFAULT_CLASSES else "" for sn in records])
        return y, y != ""
    z = np.array([np.nan if sn.redshift is None else sn.redshift for sn in records])
    return z, np.isfinite(z)


def _split_probe(emb: Embeddings, records: Sequence, task: str, half: int) -> dict[str, float]:
    y, ok = _labelled(records, task)
    out = {}
    for m in INPUTS:
        x, has = _features(emb, m)
        use = ok & has
        train, test = use[:half], use[half:]
        if train.sum() < 2 or test.sum() < 1 or len(set(y[:half][train].tolist())) < 2:
            out[m] = None
            continue
        pred = linear_probe(x[:half][train], y[:half][train], x[half:][test], task)
        out[m] = _score(task, y[half:][test], pred)
    return out


def _fold_probe(emb: Embeddings, records: Sequence, task: str, folds: np.ndarray) -> dict:
    y, ok = _labelled(records, task)
    out = {}
    for m in INPUTS:
        x, has = _features(emb, m)
        use = ok & has
        truth, preds = [], []
        for f in np.unique(folds):
            train, test = use & (folds != f), use & (folds == f)
            if test.sum() == 0 or len(set(y[train].tolist())) < 2:
                continue
            preds.append(linear_probe(x[train], y[train], x[test], task))
            truth.append(y[test])
        out[m] = _score(task, np.concatenate(truth), np.concatenate(preds)) if truth else None
    return out


def _novelty(
    emb: Embeddings, novel_emb: Embeddings, modality: str, half: int, k: int
) -> float | None:
    """AUROC of the kNN novelty score: novel objects against the unseen simulated half, the
    first half as the reference (the score of :mod:`maven.evaluation.novelty_eval`)."""
    from sklearn.metrics import roc_auc_score

    from maven.evaluation.novelty_eval import knn_novelty

    x, has = _features(emb, modality)
    xn, has_n = _features(novel_emb, modality)
    ref, known, novel = x[:half][has[:half]], x[half:][has[half:]], xn[has_n]
    if not (len(ref) and len(known) and len(novel)):
        return None
    scores = np.concatenate([knn_novelty(known, ref, k), knn_novelty(novel, ref, k)])
    return float(roc_auc_score(np.r_[np.zeros(len(known)), np.ones(len(novel))], scores))


def _hide_redshift(records: Sequence) -> list:
    return [dataclasses.replace(sn, redshift=None) for sn in records]


def probe(
    model_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    survey: str = "ztf",
    sim: dict | None = None,
    n_sim: int = 4000,
    n_retrieval: int = 1024,
    novel: Sequence[str] = ("TDE", "KN", "Ia-91bg"),
    n_novel: int = 600,
    real: str | Path | None = None,
    n_folds: int = 5,
    k: int = 10,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Probe a pre-trained model folder (module docstring); writes ``probe.json`` and
    ``probe.md`` into ``out_dir`` when given.

    Args:
        model_dir: a ``save_pretrained`` folder with its processor (or a fine-tuned head
            folder: its towers are probed).
        survey, sim: the simulated objects: survey and ``{"preset": name, **SimConfig
            overrides}`` (e.g. ``{"preset": "tiny"}`` without templates).
        n_sim: simulated objects (half fit the probes, half score them).
        n_retrieval: pairs of the retrieval probe (at most ``n_sim``).
        novel, n_novel: never-trained classes simulated for the novelty probe (none: skip).
        real: real data (any readable path) for the out-of-fold probes, or ``None``.
        n_folds, k: folds of the real probes; neighbours of the novelty score.

    Returns:
        ``{"model", "n_sim", "n_real", "table": {"sim": {"class_macro_f1": {input: value},
        "redshift_nmad": {...}}, "real": ... or None, "retrieval": {...},
        "novelty_auroc": {input: value} or None}}``.

    Raises:
        ConfigError: sizes too small.
    """
    from maven.data.folds import assign_folds
    from maven.evaluation.retrieval import retrieval_metrics
    from maven.models.loading import from_pretrained
    from maven.search.embed import embed_supernovae
    from maven.simulate import simulate

    if n_sim < 4 or n_retrieval < 2 or n_novel < 0 or n_folds < 2:
        raise ConfigError("probe needs n_sim >= 4, n_retrieval >= 2, n_novel >= 0, n_folds >= 2")
    model, processor = from_pretrained(model_dir, task="towers")
    config, novel_config = _sim_configs(
        {"survey": survey, "sim": sim, "novel": novel, "n_novel": n_novel}
    )
    records = simulate(n_sim, seed=PROBE_SEED + seed, shard=0, config=config)

    def embed(recs):
        return embed_supernovae(model, processor, recs, progress=progress)

    half = n_sim // 2
    emb = embed(records)
    emb_noz = embed(_hide_redshift(records))
    table: dict[str, Any] = {
        "sim": {
            "class_macro_f1": _split_probe(emb, records, "class", half),
            "redshift_nmad": _split_probe(emb_noz, records, "redshift", half),
        }
    }
    table["real"], n_real = None, 0
    if real is not None:
        from maven.data.types import DEFAULT_CLASSES
        from maven.io import read_supernovae

        known = [sn for sn in read_supernovae(real, progress=progress) if sn.type]
        known = [sn for sn in known if sn.type in DEFAULT_CLASSES]
        if len(known) < n_folds:
            raise MavenError(f"{real}: {len(known)} objects of the default classes, too few")
        folds, n_real = assign_folds(known, n_folds=n_folds, seed=seed), len(known)
        table["real"] = {
            "class_macro_f1": _fold_probe(embed(known), known, "class", folds),
            "redshift_nmad": _fold_probe(embed(_hide_redshift(known)), known, "redshift", folds),
        }
    pairs = np.flatnonzero(emb.has["photometry"] & emb.has["spectrum"])[:n_retrieval]
    ret = retrieval_metrics(
        *(_as_tensor(emb.vectors[m][pairs]) for m in ("photometry", "spectrum")), ks=(1, 10)
    )
    table["retrieval"] = {k_: v for k_, v in ret.items() if "mean_rank" not in k_}
    table["retrieval"]["n"] = len(pairs)
    table["novelty_auroc"] = None
    if novel_config is not None:
        novel_emb = embed(simulate(n_novel, seed=PROBE_SEED + seed, shard=1, config=novel_config))
        table["novelty_auroc"] = {m: _novelty(emb, novel_emb, m, half, k) for m in INPUTS}
    result = {
        "model": str(model_dir),
        "survey": survey,
        "sim": sim or {},
        "seed": seed,
        "n_sim": n_sim,
        "n_real": n_real,
        "novel": list(novel),
        "table": table,
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "probe.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / "probe.md").write_text(probe_markdown(result))
    return result


def _as_tensor(x: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x))


def _f(v, fmt: str = ".3f") -> str:
    return "-" if v is None else format(v, fmt)


def probe_markdown(result: dict) -> str:
    """The probe table as markdown (what ``probe.md`` and the model card show)."""
    t = result["table"]
    real = t.get("real") or {}
    nov = t.get("novelty_auroc") or {}
    lines = [
        f"Frozen-embedding probes of `{result['model']}` ({result['n_sim']} simulated "
        f"{result['survey']} objects, half fit / half score; {result['n_real']} real objects, "
        "out of fold; linear probes).",
        "",
        "| input | sim class macro-F1 | sim z NMAD | real class macro-F1 | real z NMAD "
        f"| novelty AUROC ({', '.join(result['novel']) or '-'}) |",
        "|---|---|---|---|---|---|",
    ]
    for m in INPUTS:
        lines.append(
            f"| {_NAMES[m]} | {_f(t['sim']['class_macro_f1'][m])} "
            f"| {_f(t['sim']['redshift_nmad'][m], '.4f')} "
            f"| {_f(real.get('class_macro_f1', {}).get(m))} "
            f"| {_f(real.get('redshift_nmad', {}).get(m), '.4f')} | {_f(nov.get(m))} |"
        )
    r = t["retrieval"]
    lines += [
        "",
        f"Retrieval among {r['n']} simulated pairs: light curve -> spectrum top-1 "
        f"{r['phot2spec_top1']:.3f}, top-10 {r['phot2spec_top10']:.3f}, median rank "
        f"{r['phot2spec_median_rank']:.0f}; spectrum -> light curve top-1 "
        f"{r['spec2phot_top1']:.3f}, top-10 {r['spec2phot_top10']:.3f}, median rank "
        f"{r['spec2phot_median_rank']:.0f}.",
        "",
    ]
    return "\n".join(lines)
