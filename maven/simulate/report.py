"""The realism report: simulated vs real supernovae, per class.

``realism_report(sim, real, out_dir)`` computes the same per-object features for both sets,
compares their distributions per class (medians, quantiles, Kolmogorov-Smirnov statistic,
overlaid histograms) and runs a classifier two-sample test (C2ST): a gradient-boosted tree
model is trained to tell real from simulated; a cross-validated ROC AUC of 0.5 means the
classifier cannot tell them apart (perfect realism), 1.0 means it always can. Permutation
importances show which features give the simulation away.

Features: :mod:`maven.simulate.realism_features`.

Per class present in both sets, and ``all`` (every common class, each subsampled to the same
count in both sets so that the class mix matches), the report holds per-feature statistics,
one histogram grid PNG and three C2STs: ``lightcurve`` (objects with survey photometry, a
reference-band detection and a redshift), ``spectrum`` (objects with a measured line and a
redshift: line, coverage and redshift) and ``lines`` (the same objects, line velocity and depth
only, so that instrument coverage and the redshift distribution do not dominate). Missing
values are allowed in the C2ST (the trees learn from missingness too: a decline that real light
curves rarely cover is a real difference), but ``spec_snr`` and ``spec_phase`` are left out of
it because real spectra often lack errors and real objects often lack light curves, which would
give the game away trivially. Caveat when reading the numbers: a real sample is selected
(spectroscopic classification needs a bright object: ZTF BTS is complete to ~18.5 mag), the
simulated one only by the detection trigger; ``max_peak_mag`` applies the same magnitude cut to
both.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from maven.data.records import Supernova
from maven.errors import MavenError
from maven.simulate.realism_features import (
    LC_FEATURES,
    LINES,
    SNR_DETECT,
    SPEC_FEATURES,
    feature_table,
    survey_bands,
)

__all__ = [
    "two_sample_test",
    "realism_report",
]

#: features of each C2ST (see the module docstring for what is left out and why)
C2ST_FEATURES = {
    "lightcurve": LC_FEATURES,
    "spectrum": ("line_velocity", "line_depth", "wave_min", "wave_max", "redshift"),
    "lines": ("line_velocity", "line_depth"),
}
#: features drawn on a log axis
_LOG_FEATURES = {"n_points", "n_detections", "median_snr", "spec_snr", "duration"}


def _say(progress: bool, msg: str) -> None:
    if progress:
        print(f"[simulate-report] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- statistics


def _matrix(rows: list[dict], names: Sequence[str]) -> np.ndarray:
    return np.array([[r[k] for k in names] for r in rows], dtype=np.float64).reshape(
        len(rows), len(names)
    )


def _fit_fold(x, y, tr, te, seed: int, importance: bool):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import roc_auc_score

    clf = HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=10,
        early_stopping=False,
        random_state=seed,
    )
    clf.fit(x[tr], y[tr])
    auc = float(roc_auc_score(y[te], clf.predict_proba(x[te])[:, 1]))
    if not importance:
        return auc, None
    pi = permutation_importance(
        clf, x[te], y[te], scoring="roc_auc", n_repeats=3, random_state=seed
    )
    return auc, pi.importances_mean


def two_sample_test(
    x_sim: np.ndarray,
    x_real: np.ndarray,
    feature_names: Sequence[str] | None = None,
    *,
    n_splits: int = 5,
    seed: int = 0,
    max_per_set: int = 5000,
    importance: bool = True,
) -> dict:
    """Classifier two-sample test: cross-validated ROC AUC of real vs simulated.

    A :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (NaN allowed) is trained on
    balanced sets (the larger subsampled to the smaller, both capped at ``max_per_set``) with
    stratified ``n_splits``-fold cross-validation. Permutation importances (drop in AUC when a
    feature is shuffled, on the held-out folds) say which features give the simulation away.

    Returns:
        ``{"auc", "auc_std", "auc_folds", "n_per_set", "importance": {feature: drop}}``.

    Raises:
        MavenError: mismatched shapes or fewer than ``2 * n_splits`` objects in a set.
    """
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    a = np.asarray(x_sim, dtype=np.float64)
    b = np.asarray(x_real, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or a.shape[1] == 0:
        raise MavenError(
            f"two-sample test needs (n, d) arrays of equal d, got {a.shape}, {b.shape}"
        )
    names = (
        list(feature_names) if feature_names is not None else [f"f{i}" for i in range(a.shape[1])]
    )
    if len(names) != a.shape[1]:
        raise MavenError(f"{len(names)} feature names for {a.shape[1]} features")
    n = min(len(a), len(b), max_per_set)
    if n < 2 * n_splits:
        raise MavenError(f"two-sample test needs >= {2 * n_splits} objects per set, got {n}")
    rng = np.random.default_rng(seed)
    a = a[rng.choice(len(a), n, replace=False)]
    b = b[rng.choice(len(b), n, replace=False)]
    x = np.vstack([a, b])
    y = np.r_[np.zeros(n, dtype=int), np.ones(n, dtype=int)]  # 1 = real
    aucs, imps = [], []
    skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    # one OpenMP thread: on these small tables threads only add contention (10x slower on a
    # busy 2-core machine) and one thread keeps the result independent of the machine
    with threadpool_limits(limits=1, user_api="openmp"):
        for k, (tr, te) in enumerate(skf.split(x, y)):
            auc, imp = _fit_fold(x, y, tr, te, seed + k, importance)
            aucs.append(auc)
            if imp is not None:
                imps.append(imp)
    out = {
        "auc": float(np.mean(aucs)),
        "auc_std": float(np.std(aucs)),
        "auc_folds": [round(v, 4) for v in aucs],
        "n_per_set": int(n),
        "features": names,
    }
    if importance:
        mean = np.mean(imps, axis=0)
        order = np.argsort(-mean)
        out["importance"] = {names[i]: round(float(mean[i]), 4) for i in order}
    return out


def _feature_stats(sim: np.ndarray, real: np.ndarray) -> dict:
    from scipy.stats import ks_2samp

    fs, fr = sim[np.isfinite(sim)], real[np.isfinite(real)]
    d: dict = {
        "n_sim": int(fs.size),
        "n_real": int(fr.size),
        "coverage_sim": round(fs.size / sim.size, 3) if sim.size else None,
        "coverage_real": round(fr.size / real.size, 3) if real.size else None,
    }
    for name, v in (("sim", fs), ("real", fr)):
        if v.size:
            q = np.quantile(v, [0.16, 0.5, 0.84])
            d[f"median_{name}"] = round(float(q[1]), 4)
            d[f"q16_{name}"], d[f"q84_{name}"] = round(float(q[0]), 4), round(float(q[2]), 4)
        else:
            d[f"median_{name}"] = d[f"q16_{name}"] = d[f"q84_{name}"] = None
    if fs.size >= 5 and fr.size >= 5:
        ks = ks_2samp(fs, fr)
        d["ks"], d["ks_pvalue"] = round(float(ks.statistic), 4), float(f"{ks.pvalue:.3g}")
    else:
        d["ks"] = d["ks_pvalue"] = None
    return d


# --------------------------------------------------------------------------- plots


def _figure(figsize):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _plot_histograms(group: str, sim_rows, real_rows, stats: dict, path: Path) -> None:
    feats = [k for k in (*LC_FEATURES, *SPEC_FEATURES) if k in stats]
    ncol = 4
    nrow = max(1, math.ceil(len(feats) / ncol))
    fig = _figure((3.2 * ncol, 2.5 * nrow))
    for i, k in enumerate(feats):
        ax = fig.add_subplot(nrow, ncol, i + 1)
        s = np.array([r[k] for r in sim_rows], dtype=float)
        r = np.array([r[k] for r in real_rows], dtype=float)
        s, r = s[np.isfinite(s)], r[np.isfinite(r)]
        log = k in _LOG_FEATURES
        if log:
            s, r = s[s > 0], r[r > 0]
        both = np.concatenate([s, r])
        if both.size < 2:
            ax.set_title(f"{k} (no data)", fontsize=9)
            continue
        lo, hi = np.quantile(both, [0.01, 0.99])
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        bins = np.geomspace(lo, hi, 30) if log else np.linspace(lo, hi, 30)
        for v, lab, col in ((s, "sim", "tab:blue"), (r, "real", "tab:orange")):
            if v.size:
                ax.hist(
                    np.clip(v, lo, hi),
                    bins=bins,
                    density=True,
                    histtype="step",
                    lw=1.5,
                    color=col,
                    label=f"{lab} ({v.size})",
                )
        if log:
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ks = stats[k].get("ks")
        ax.set_title(k + (f"  KS={ks:.2f}" if ks is not None else ""), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    fig.suptitle(f"simulated vs real: {group}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def _plot_c2st(groups: dict, path: Path) -> None:
    names = list(groups)
    fig = _figure((2.6 + 1.1 * max(len(names), 1), 3.2))
    ax = fig.add_subplot()
    w = 0.27
    tests = (("lightcurve", "tab:blue"), ("spectrum", "tab:green"), ("lines", "tab:olive"))
    for j, (test, col) in enumerate(tests):
        xs, ys, es = [], [], []
        for i, g in enumerate(names):
            c = groups[g]["c2st"].get(test)
            if c and "auc" in c:
                xs.append(i + (j - 1) * w)
                ys.append(c["auc"])
                es.append(c["auc_std"])
        if xs:
            ax.bar(xs, ys, width=w, yerr=es, color=col, label=test)
    ax.axhline(0.5, color="k", ls="--", lw=1)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylim(0.4, 1.02)
    ax.set_ylabel("C2ST ROC AUC (0.5 = indistinguishable)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.savefig(path, dpi=110)


# --------------------------------------------------------------------------- report


def _load(data, what: str, progress: bool) -> list[Supernova]:
    if isinstance(data, (str, Path)):
        from maven.io import read_supernovae

        t0 = time.time()
        sne = list(read_supernovae(data, progress=progress))
        _say(progress, f"read {len(sne)} {what} objects from {data} in {time.time() - t0:.1f}s")
    else:
        try:
            sne = list(data)
        except TypeError:
            raise MavenError(f"{what}: expected a path or a list of Supernova") from None
    if not sne:
        raise MavenError(f"{what}: no supernovae")
    bad = [type(s).__name__ for s in sne if not isinstance(s, Supernova)]
    if bad:
        raise MavenError(f"{what}: expected Supernova records, got {bad[0]}")
    return sne


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _fmt(v, nd=2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def _balanced_all(sim_by, real_by, classes, rng) -> tuple[list, list]:
    s_all, r_all = [], []
    for c in classes:
        n = min(len(sim_by[c]), len(real_by[c]))
        s_all += [sim_by[c][i] for i in rng.choice(len(sim_by[c]), n, replace=False)]
        r_all += [real_by[c][i] for i in rng.choice(len(real_by[c]), n, replace=False)]
    return s_all, r_all


def _c2st_group(sim_rows, real_rows, seed: int) -> dict:
    out = {}
    for test, feats in C2ST_FEATURES.items():
        if test == "lightcurve":

            def ok(r):
                return r["has_lc"] and math.isfinite(r["peak_mag"]) and math.isfinite(r["redshift"])
        else:

            def ok(r):
                return math.isfinite(r["line_velocity"]) and math.isfinite(r["redshift"])

        s = [r for r in sim_rows if ok(r)]
        rr = [r for r in real_rows if ok(r)]
        try:
            out[test] = two_sample_test(_matrix(s, feats), _matrix(rr, feats), feats, seed=seed)
        except MavenError as exc:
            out[test] = {"skipped": str(exc), "n_sim": len(s), "n_real": len(rr)}
    return out


def realism_report(
    sim_path,
    real_path,
    out_dir,
    *,
    survey: str = "ztf",
    progress: bool = True,
    seed: int = 0,
    min_objects: int = 20,
    max_peak_mag: float | None = None,
    plots: bool = True,
) -> dict:
    """Compare simulated and real supernovae; write ``realism.json``, ``realism.md`` and PNGs.

    Args:
        sim_path, real_path: a file or folder :func:`maven.io.read_supernovae` reads (a parquet
            dataset folder, a real-data tree), or an already-loaded list of Supernova.
        out_dir: where the report goes (created).
        survey: whose bands the light-curve features use (``"ztf"``, ``"lsst"``, or
            ``"followup"``: every band, reference bands chosen per object; module docstring).
        progress: progress messages on stderr.
        seed: subsampling and cross-validation seed.
        min_objects: a class needs this many objects in each set to be compared.
        max_peak_mag: if given, keep only objects whose peak magnitude (``peak_mag``) is at
            most this in both sets (objects without survey photometry are kept): emulates the
            magnitude limit of a spectroscopically classified sample (ZTF BTS: ~18.5-19).
        plots: write the PNGs (``False``: JSON and Markdown only, faster).

    Returns:
        the JSON dict written to ``realism.json``.

    Raises:
        MavenError: unreadable or empty inputs, unknown survey, or no class with enough
            objects in both sets.
    """
    t_start = time.time()
    survey_bands(survey)
    sim = _load(sim_path, "simulated set", progress)
    real = _load(real_path, "real set", progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    sim_rows = feature_table(sim, survey)
    real_rows = feature_table(real, survey)
    _say(
        progress, f"features of {len(sim_rows) + len(real_rows)} objects in {time.time() - t0:.1f}s"
    )
    if not any(r["has_lc"] for r in sim_rows):
        raise MavenError(f"simulated set has no photometry in the {survey} bands")
    n_cut = {}
    if max_peak_mag is not None:

        def bright(r):
            return not r["has_lc"] or r["peak_mag"] <= max_peak_mag  # NaN compares False

        n_cut = {"sim": len(sim_rows), "real": len(real_rows)}
        sim_rows = [r for r in sim_rows if bright(r)]
        real_rows = [r for r in real_rows if bright(r)]
        n_cut = {k: v - len(sim_rows if k == "sim" else real_rows) for k, v in n_cut.items()}
        _say(progress, f"peak_mag <= {max_peak_mag}: dropped {n_cut}")

    def by_class(rows):
        d: dict[str, list] = {}
        for r in rows:
            d.setdefault(r["class"] or "unknown", []).append(r)
        return d

    sim_by, real_by = by_class(sim_rows), by_class(real_rows)
    counts = {
        "sim": dict(Counter(r["class"] or "unknown" for r in sim_rows)),
        "real": dict(Counter(r["class"] or "unknown" for r in real_rows)),
        "real_with_survey_photometry": dict(
            Counter(r["class"] or "unknown" for r in real_rows if r["has_lc"])
        ),
        "real_without_survey_photometry": int(sum(not r["has_lc"] for r in real_rows)),
        "real_with_spectrum": dict(
            Counter(r["class"] or "unknown" for r in real_rows if r["has_spec"])
        ),
    }
    classes = [
        c
        for c in sim_by
        if c in real_by and len(sim_by[c]) >= min_objects and len(real_by[c]) >= min_objects
    ]
    classes.sort(key=lambda c: -len(real_by[c]))
    if not classes:
        raise MavenError(
            f"no class with >= {min_objects} objects in both sets "
            f"(simulated: {counts['sim']}, real: {counts['real']})"
        )
    rng = np.random.default_rng(seed)
    groups_in = {c: (sim_by[c], real_by[c]) for c in classes}
    if len(classes) > 1:
        groups_in["all"] = _balanced_all(sim_by, real_by, classes, rng)
    groups: dict = {}
    for g, (s_rows, r_rows) in groups_in.items():
        t0 = time.time()
        s_lc = [r for r in s_rows if r["has_lc"]]
        r_lc = [r for r in r_rows if r["has_lc"]]
        stats = {}
        for k in LC_FEATURES:
            stats[k] = _feature_stats(_matrix(s_lc, [k])[:, 0], _matrix(r_lc, [k])[:, 0])
        s_sp = [r for r in s_rows if r["has_spec"]]
        r_sp = [r for r in r_rows if r["has_spec"]]
        for k in SPEC_FEATURES:
            stats[k] = _feature_stats(_matrix(s_sp, [k])[:, 0], _matrix(r_sp, [k])[:, 0])
        ks_rank = sorted(
            (k for k in stats if stats[k]["ks"] is not None), key=lambda k: -stats[k]["ks"]
        )
        png = f"hist_{_slug(g)}.png" if plots else None
        if plots:
            _plot_histograms(g, s_rows, r_rows, stats, out / png)
        groups[g] = {
            "n_sim": len(s_rows),
            "n_real": len(r_rows),
            "n_sim_lightcurve": len(s_lc),
            "n_real_lightcurve": len(r_lc),
            "n_sim_spectrum": len(s_sp),
            "n_real_spectrum": len(r_sp),
            "line": LINES[g][0] if g in LINES else None,
            "features": stats,
            "largest_ks": ks_rank[:3],
            "c2st": _c2st_group(s_rows, r_rows, seed),
            "plot": png,
        }
        c = groups[g]["c2st"]
        _say(
            progress,
            f"{g}: AUC lightcurve {_fmt(c['lightcurve'].get('auc'))}, spectrum "
            f"{_fmt(c['spectrum'].get('auc'))}, lines {_fmt(c['lines'].get('auc'))} "
            f"({time.time() - t0:.1f}s)",
        )
    if plots:
        _plot_c2st(groups, out / "c2st_auc.png")
    report = {
        "survey": survey,
        "sim": str(sim_path) if isinstance(sim_path, (str, Path)) else "<records>",
        "real": str(real_path) if isinstance(real_path, (str, Path)) else "<records>",
        "detection_snr": SNR_DETECT,
        "max_peak_mag": max_peak_mag,
        "dropped_by_max_peak_mag": n_cut,
        "counts": counts,
        "classes": classes,
        "groups": groups,
        "plots": (["c2st_auc.png"] + [groups[g]["plot"] for g in groups]) if plots else [],
        "seconds": round(time.time() - t_start, 1),
    }
    (out / "realism.json").write_text(json.dumps(report, indent=1, allow_nan=False))
    (out / "realism.md").write_text(_markdown(report))
    _say(progress, f"wrote {out}/realism.json, realism.md and {len(report['plots'])} PNGs")
    return report


def _markdown(rep: dict) -> str:
    lines = [
        "# Realism report: simulated vs real",
        "",
        f"Survey `{rep['survey']}`; simulated `{rep['sim']}`; real `{rep['real']}`. "
        "C2ST = classifier two-sample test (cross-validated ROC AUC of real vs simulated; "
        "0.5 = indistinguishable, 1 = always told apart). KS = Kolmogorov-Smirnov statistic.",
        "",
        f"Real objects without {rep['survey']} photometry (spectral comparison only): "
        f"{rep['counts']['real_without_survey_photometry']}."
        + (
            f" Only objects with peak_mag <= {rep['max_peak_mag']} (dropped: "
            f"{rep['dropped_by_max_peak_mag']})."
            if rep["max_peak_mag"] is not None
            else ""
        ),
        "",
        "| group | n sim | n real | n real (LC) | n real (spec) | AUC lightcurve | AUC spectrum "
        "| AUC lines | largest KS | top C2ST features (LC; spectrum) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for g, d in rep["groups"].items():
        cells = []
        for test in C2ST_FEATURES:
            c = d["c2st"][test]
            cells.append(f"{c['auc']:.3f} ± {c['auc_std']:.3f}" if "auc" in c else "n/a")
        ks = ", ".join(f"{k} ({d['features'][k]['ks']:.2f})" for k in d["largest_ks"])
        tops = []
        for test in ("lightcurve", "spectrum"):
            imp = d["c2st"][test].get("importance", {})
            tops.append(", ".join(f"{k} ({v:.2f})" for k, v in list(imp.items())[:3]) or "-")
        lines.append(
            f"| {g} | {d['n_sim']} | {d['n_real']} | {d['n_real_lightcurve']} | "
            f"{d['n_real_spectrum']} | {cells[0]} | {cells[1]} | {cells[2]} | {ks} | "
            f"{tops[0]}; {tops[1]} |"
        )
    lines += ["", "![C2ST AUC](c2st_auc.png)", ""] if rep["plots"] else [""]
    for g, d in rep["groups"].items():
        line = f" (line: {d['line']})" if d["line"] else ""
        lines += [
            f"## {g}{line}",
            "",
            "| feature | median sim [16%, 84%] | median real [16%, 84%] | coverage sim / real "
            "| KS |",
            "|---|---|---|---|---|",
        ]
        for k, s in d["features"].items():
            lines.append(
                f"| {k} | {_fmt(s['median_sim'])} [{_fmt(s['q16_sim'])}, {_fmt(s['q84_sim'])}] "
                f"| {_fmt(s['median_real'])} [{_fmt(s['q16_real'])}, {_fmt(s['q84_real'])}] "
                f"| {_fmt(s['coverage_sim'])} / {_fmt(s['coverage_real'])} | {_fmt(s['ks'])} |"
            )
        lines += ["", f"![{g}]({d['plot']})", ""] if d["plot"] else [""]
    return "\n".join(lines) + "\n"
