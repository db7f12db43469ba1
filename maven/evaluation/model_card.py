"""Model cards: a Hugging Face ``README.md`` for a fine-tuned maven model, filled from the
files the pipeline writes (``finetune_summary.json``, ``crossval.json``,
``training_summary.json``), so every number on the card has a source on disk.

The text is ``model_cards/template.md`` (``$name`` placeholders; see ``model_cards/README.md``)
and states how the model was made, the cross-validated metrics with their spread over folds
next to the baselines, per-class and per-redshift performance, calibration, early
classification, and what the model does not know (imbalance, selection biases, synthetic
pre-training). The metadata block is :func:`card_metadata`: licence, tags, pipeline tag and a
``model-index`` of this recipe's cross-validated metrics, which the Hub shows as evaluation
results. A card's hand-written sections (``notes``) may open with a YAML block of further
metadata (``datasets``, ``evaluation_dataset``, ``tags``).
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from maven.errors import FormatError, MavenError
from maven.evaluation.crossval import HEADLINE, paired_lines
from maven.utils.atomic import write_text

__all__ = ["TEMPLATE", "card_metadata", "write_model_card"]

#: the card text, with ``$placeholders``
TEMPLATE = Path(__file__).resolve().parents[2] / "model_cards" / "template.md"
LICENSE = "bsd-3-clause"
TAGS = [
    "astronomy",
    "supernovae",
    "time-domain",
    "light-curves",
    "spectra",
    "multimodal",
    "contrastive-learning",
    "maven",
]
#: the Hub has no task for light curves / spectra; per object they are tables of observations
PIPELINE_TAGS = {"classification": "tabular-classification", "redshift": "tabular-regression"}
#: metric key -> (Hub metric type, readable name, Hub metric args)
METRICS: dict[str, tuple[str, str, dict]] = {
    "macro_f1": ("f1", "macro-F1", {"average": "macro"}),
    "balanced_accuracy": ("balanced_accuracy", "balanced accuracy", {}),
    "accuracy": ("accuracy", "accuracy", {}),
    "ece": ("ece", "expected calibration error", {}),
    "r2": ("r_squared", "R^2 of the redshift", {}),
    "nmad": ("nmad", "NMAD of dz / (1 + z)", {}),
    "outlier_fraction": ("outlier_fraction", "outlier fraction (|dz| / (1 + z) > 0.15)", {}),
    "outlier_fraction_05": ("outlier_fraction", "outlier fraction (|dz| / (1 + z) > 0.05)", {}),
    "bias": ("bias", "mean dz / (1 + z)", {}),
    "r2_log1p": ("r_squared", "R^2 of log(1 + z)", {}),
    "abs_outlier_fraction": ("abs_outlier_fraction", "absolute outlier fraction (|dz| > 0.07)", {}),
    "coverage_68": ("coverage_68", "fraction within the predicted 1 sigma", {}),
}
#: keys a card's notes may set in the metadata
NOTES_KEYS = {"datasets", "evaluation_dataset", "tags"}

_HEADLINE = {
    "classification": ("macro_f1", "balanced_accuracy", "accuracy", "ece"),
    "redshift": HEADLINE["redshift"],  # the crossval table's redshift columns
}


def _load(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise MavenError(f"cannot read {what} {path}: {exc}") from None


def _count_parameters(model_dir: Path) -> int | None:
    """Parameters stored in ``model.safetensors`` (read from its header, no model built)."""
    from safetensors import safe_open

    path = model_dir / "model.safetensors"
    if not path.exists():
        return None
    total = 0
    with safe_open(str(path), framework="np") as fh:
        for key in fh.keys():
            n = 1
            for d in fh.get_slice(key).get_shape():
                n *= d
            total += n
    return total


def _recipe_specifics(cfg_ft: dict) -> str:
    """The recipe keys that only some tasks have: the head's fusion of two inputs, the redshift
    input of a classifier, the loss weighting of a redshift head."""
    parts = []
    if cfg_ft.get("modality") == "both":
        parts.append(f"fusion `{cfg_ft.get('fusion', 'concat')}`")
    if cfg_ft.get("task") == "redshift":
        parts.append(f"redshift loss beta {cfg_ft.get('redshift_loss_beta', 0.0)}")
    else:
        parts.append(f"redshift input {cfg_ft['use_redshift_input']}")
    return ", ".join(parts)


def _calibration_text(c: dict) -> str:
    """The calibration fitted on validation data, in words."""
    if "temperature" in c:
        prior = (
            f"prior correction strength {c['prior_strength']}, " if "prior_strength" in c else ""
        )
        return (
            f"Calibration on validation: {prior}temperature {c['temperature']:.3f}; expected "
            f"calibration error {c['val_ece_before']:.3f} -> {c['val_ece_after']:.3f}."
        )
    from maven.models.template_redshift import MIN_MEMBERS

    text = f"Calibration on validation: sigma scale {c.get('redshift_sigma_scale', 1.0):.3f}."
    if c.get("redshift_templates"):
        text += (
            f" {c['redshift_templates']} averaged rest-frame templates (each the mean of >= "
            f"{MIN_MEMBERS} training spectra) refine the redshift of every object with a"
            " spectrum by cross-correlation within the network's window; their sigma scale "
            f"{c.get('redshift_template_sigma_scale', 1.0):.3f} ({c.get('val_refined', 0)}"
            " validation objects refined)."
        )
    return text


def _ms(d: dict | None, digits: int = 3) -> str:
    return "-" if not d else f"{d['mean']:.{digits}f} ± {d['std']:.{digits}f}"


def _crossval_section(cv: dict) -> list[str]:
    task = cv["task"]
    keys = _HEADLINE[task]
    lines = [
        f"### {_section_title(cv)}",
        "",
        f"{cv['n']} objects, {cv['n_folds']}-fold cross-validation, stratified by class and "
        "grouped by object (one supernova, under any name in any catalogue, sits in one fold); "
        "mean ± standard deviation over folds.",
        "",
        "| method | "
        + " | ".join(keys)
        + (" | accuracy 5 d after detection |" if task == "classification" else " |"),
        "|" + "---|" * (len(keys) + 1 + (task == "classification")),
    ]
    for method, r in cv["methods"].items():
        s = r["mean_std"]
        row = [method] + [_ms(s.get(k), 3 if task == "classification" else 4) for k in keys]
        if task == "classification":
            e5 = [e for e in s.get("early", []) if e["days"] == 5]
            row.append(_ms(e5[0]["accuracy"]) if e5 else "-")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    paired = paired_lines(cv)
    return lines + (paired[1:] + [""] if paired else [])


def _per_class(report: dict) -> list[str]:
    m = report.get("classification") or {}
    if "per_class" not in m:
        return []
    lines = ["| class | precision | recall | F1 | objects |", "|---|---|---|---|---|"]
    for c, d in m["per_class"].items():
        vals = ["-" if d.get(k) is None else f"{d[k]:.3f}" for k in ("precision", "recall", "f1")]
        lines.append(f"| {c} | " + " | ".join(vals) + f" | {d['support']} |")
    return lines + [""]


def _by_redshift(report: dict, task: str) -> list[str]:
    rows = report.get("bias_audit", {}).get("groups", {}).get("redshift", [])
    if not rows:
        return []
    keys = (
        ("balanced_accuracy", "macro_f1")
        if task == "classification"
        else ("nmad", "outlier_fraction")
    )
    lines = ["| redshift | objects | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for r in rows:
        vals = ["-" if r.get(k) is None else f"{r[k]:.3f}" for k in keys]
        lines.append(f"| {r['bin']} | {r['n']} | " + " | ".join(vals) + " |")
    return lines + [""]


def _methods_side_by_side(reports: dict[str, dict], task: str) -> list[str]:
    """Every method's pooled out-of-fold figures in one table per class (F1) and per
    redshift bin (macro-F1, or NMAD for redshift), so each baseline sits beside maven."""
    methods = list(reports)
    lines: list[str] = []
    if task == "classification":
        per = {m: (r.get("classification") or {}).get("per_class", {}) for m, r in reports.items()}
        classes = list(next((p for p in per.values() if p), {}))
        if classes:
            lines += [
                "F1 per class, every method (pooled out-of-fold predictions):",
                "",
                "| class | " + " | ".join(methods) + " |",
                "|---|" + "---|" * len(methods),
            ]
            for c in classes:
                vals = [per[m].get(c, {}).get("f1") for m in methods]
                lines.append(
                    f"| {c} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in vals) + " |"
                )
            lines.append("")
    key = "macro_f1" if task == "classification" else "nmad"
    rows = {
        m: {g["bin"]: g for g in r.get("bias_audit", {}).get("groups", {}).get("redshift", [])}
        for m, r in reports.items()
    }
    bins = list(next((b for b in rows.values() if b), {}))
    if bins:
        lines += [
            f"{key} per redshift bin, every method (pooled; objects in brackets):",
            "",
            "| redshift | " + " | ".join(methods) + " |",
            "|---|" + "---|" * len(methods),
        ]
        for b in bins:
            cells = []
            for m in methods:
                g = rows[m].get(b)
                v = None if g is None else g.get(key)
                cells.append("-" if v is None else f"{v:.3f} ({g['n']})")
            lines.append(f"| {b} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _frame(config: dict) -> str:
    return config.get("processor", {}).get("spectrum_frame", "observer")


def _section_title(cv: dict) -> str:
    """``classification from both (rest-frame spectra)``: task, input and spectrum frame."""
    spectra = f" ({_frame(cv['config'])}-frame spectra)" if cv["modality"] != "photometry" else ""
    return f"{cv['task']} from {cv['modality']}{spectra}"


def _split_notes(notes: str) -> tuple[dict, str]:
    """(metadata of the notes' leading YAML block, the markdown after it)."""
    text = notes.strip()
    if not text.startswith("---\n"):
        return {}, text
    try:
        block, rest = text[4:].split("\n---", 1)
        meta = yaml.safe_load(block) or {}
    except (ValueError, yaml.YAMLError) as exc:
        raise FormatError(f"the notes' metadata block is not YAML closed by '---': {exc}") from None
    if not isinstance(meta, dict) or set(meta) - NOTES_KEYS:
        raise FormatError(f"the notes' metadata may set {sorted(NOTES_KEYS)}, got {meta!r}")
    return meta, rest.strip()


def card_metadata(
    name: str, finetune_config: dict, crossvals: Sequence[dict], extra: dict | None = None
) -> dict[str, Any]:
    """The card's Hugging Face metadata.

    ``model-index`` holds the cross-validated metrics (mean over folds; the spread in the
    metric's name) of the ``maven`` method of the cross-validations that ran this model's
    own recipe (same task, input and spectrum frame as ``finetune_config``); the other
    cross-validations on the card are related recipes, not this model. ``extra``: the
    notes' ``datasets``, ``evaluation_dataset`` (``type`` and ``name``) and ``tags``.
    """
    extra = extra or {}
    task = finetune_config["task"]
    meta: dict[str, Any] = {
        "library_name": "transformers",
        "license": LICENSE,
        "pipeline_tag": PIPELINE_TAGS[task],
        "tags": TAGS + [t for t in extra.get("tags", []) if t not in TAGS],
    }
    if extra.get("datasets"):
        meta["datasets"] = list(extra["datasets"])
    dataset = extra.get("evaluation_dataset") or {
        "type": "maven-observed-supernovae",
        "name": "observed supernovae",
    }
    results = []
    for cv in crossvals:
        same = (cv["task"], cv["modality"], _frame(cv["config"])) == (
            task,
            finetune_config["modality"],
            _frame(finetune_config),
        )
        if not same or "maven" not in cv["methods"]:
            continue
        stats = cv["methods"]["maven"]["mean_std"]
        metrics = []
        for key in _HEADLINE[cv["task"]]:
            if stats.get(key) is None:
                continue
            kind, readable, args = METRICS[key]
            entry = {
                "type": kind,
                "name": f"{readable} (mean of {cv['n_folds']} folds; std {stats[key]['std']:.3g})",
                "value": round(float(stats[key]["mean"]), 4),
            }
            metrics.append({**entry, "args": args} if args else entry)
        results.append(
            {
                "task": {
                    "type": PIPELINE_TAGS[cv["task"]],
                    "name": f"supernova {_section_title(cv)}",
                },
                "dataset": {
                    **dataset,
                    "split": f"{cv['n_folds']}-fold cross-validation, grouped by object "
                    f"({cv['n']} objects)",
                },
                "metrics": metrics,
            }
        )
    if results:
        meta["model-index"] = [{"name": name, "results": results}]
    return meta


def write_model_card(
    model_dir: str | Path,
    crossval_dirs: Sequence[str | Path] = (),
    *,
    pretraining_summary: str | Path | None = None,
    name: str | None = None,
    notes: str = "",
    template: str | Path = TEMPLATE,
) -> Path:
    """Write ``README.md`` (a model card with Hugging Face metadata) into ``model_dir``.

    Args:
        model_dir: a folder written by :func:`maven.training.finetune.finetune`.
        crossval_dirs: output folders of :func:`maven.evaluation.crossval.crossval`; the
            pooled ``maven/metrics.json`` of each gives per-class and per-redshift tables.
        pretraining_summary: the ``training_summary.json`` of the pre-training run.
        notes: extra markdown (how it was trained, decisions), placed before the limits;
            it may open with a YAML block of metadata (see :func:`card_metadata`).
        template: the card text (default ``model_cards/template.md`` of the repository).

    Raises:
        MavenError: a missing or unreadable input file or template, bad notes metadata.
    """
    model_dir = Path(model_dir)
    ft = _load(model_dir / "finetune_summary.json", "fine-tuning summary")
    cfg = _load(model_dir / "config.json", "model config")
    try:
        text = string.Template(Path(template).read_text())
    except OSError as exc:
        raise MavenError(
            f"cannot read the card template {template}: {exc} (cards are written from a clone "
            "of the repository, or give template=)"
        ) from None
    cfg_ft = ft["config"]
    name = name or model_dir.name
    n_params = _count_parameters(model_dir)
    extra, notes = _split_notes(notes)
    classification = cfg_ft["task"] == "classification"
    labels = (
        [cfg["id2label"][str(k)] for k in range(len(cfg["id2label"]))] if classification else []
    )
    how = []
    if pretraining_summary:
        pre = _load(Path(pretraining_summary), "pre-training summary")
        pc = pre.get("config", {})
        val = pre.get("final_validation") or {}
        how.append(
            f"* **Pre-training** (contrastive, CLIP-style) on simulated supernovae "
            f"(`{pc.get('data', {}).get('train')}`): preset `{pc.get('model', {}).get('preset')}`, "
            f"{pre.get('steps')} steps of global batch {pre.get('global_batch')} on "
            f"{pre.get('device')} ({pre.get('wall_time_s_this_run', 0) / 60:.0f} min). Validation "
            f"on unseen simulated pairs: loss {val.get('loss', float('nan')):.3f}, light curve → "
            f"spectrum top-1 {val.get('phot2spec_top1', float('nan')):.3f}, top-10 "
            f"{val.get('phot2spec_top10', float('nan')):.3f} among {val.get('n')}."
        )
        if pre.get("probe"):  # the table every pre-training run writes (maven probe)
            from maven.evaluation.probe import probe_markdown

            how += ["", *probe_markdown(pre["probe"]).strip().splitlines(), ""]
    sims = ft.get("simulated_counts") or {}
    n_sims = sum(sims.values())
    supplement = (
        f" Plus {n_sims} simulated objects in the training split only ("
        + ", ".join(f"{k} {v}" for k, v in sims.items())
        + f"; `{Path(str(cfg_ft.get('simulated'))).name}`)."
        if n_sims
        else ""
    )
    how += [
        f"* **Fine-tuning** on observed supernovae: {ft['n_train'] - n_sims} training and "
        f"{ft['n_val']} validation objects (validation chooses the epoch and the calibration "
        f"only). Training classes: {', '.join(f'{k} {v}' for k, v in ft['train_counts'].items())}."
        f"{supplement} Dropped: "
        f"{', '.join(f'{k}: {v}' for k, v in ft['dropped'].items()) or 'none'}.",
        f"* Recipe: mode `{cfg_ft['mode']}`, {cfg_ft['epochs']} epochs at most (best: epoch "
        f"{ft['best']['epoch']}), contrastive steps {cfg_ft['contrastive_steps']}, class cap "
        f"{cfg_ft['class_cap']}, {_recipe_specifics(cfg_ft)}. "
        f"{_calibration_text(ft['calibration'])} Full recipe in `finetune_summary.json`.",
        f"* Size: {n_params or 'see config.json'} parameters; {ft['wall_time_s'] / 60:.0f} min "
        f"on {ft['device']}.",
    ]
    crossvals, tables = [], []
    for d in crossval_dirs:
        d = Path(d)
        cv = _load(d / "crossval.json", "cross-validation results")
        crossvals.append(cv)
        tables += _crossval_section(cv)
        reports = {
            m: _load(d / m / "metrics.json", "pooled metrics")
            for m in cv["methods"]
            if (d / m / "metrics.json").exists()
        }
        tables += _methods_side_by_side(reports, cv["task"])
        pooled = d / "maven" / "metrics.json"
        if pooled.exists():
            rep = _load(pooled, "pooled metrics")
            if cv["task"] == "classification":
                tables += ["Per class (pooled out-of-fold predictions of `maven`):", ""]
                tables += _per_class(rep)
            tables += ["Per redshift bin (pooled, `maven`):", ""]
            tables += _by_redshift(rep, cv["task"])
    meta = card_metadata(name, cfg_ft, crossvals, extra)
    inputs = {
        "photometry": "a light curve.",
        "spectrum": "a spectrum.",
        "both": "a light curve, a spectrum or both (either may be missing).",
    }[cfg_ft["modality"]]
    card = text.safe_substitute(
        metadata=yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100),
        name=name,
        summary=f"A **{cfg_ft['task']}** model on the maven embedding, reading {inputs}"
        + (f"\nClasses: {', '.join(labels)}." if labels else ""),
        predicts="calibrated probabilities, labels, embeddings"
        if classification
        else "redshifts, calibrated 1-sigma uncertainties, embeddings",
        how_made="\n".join(how),
        crossval="\n".join(tables),
        notes=notes + "\n\n" if notes else "",
    )
    return write_text(model_dir / "README.md", card)
