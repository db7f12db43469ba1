"""Model cards: a Hugging Face ``README.md`` for a fine-tuned maven model, filled from the
files the pipeline writes (``finetune_summary.json``, ``crossval.json``,
``training_summary.json``), so every number on the card has a source on disk.

The card states how the model was made, the cross-validated metrics with their spread over
folds next to the baselines, per-class and per-redshift performance, calibration, early
classification, and what the model does not know (imbalance, selection biases, synthetic
pre-training).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from maven.errors import MavenError

__all__ = ["write_model_card"]

_HEADLINE = {
    "classification": ("macro_f1", "balanced_accuracy", "accuracy", "ece"),
    "redshift": ("r2", "nmad", "outlier_fraction", "abs_outlier_fraction", "coverage_68"),
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
    return f"Calibration on validation: sigma scale {c.get('redshift_sigma_scale', 1.0):.3f}."


def _ms(d: dict | None) -> str:
    return "-" if not d else f"{d['mean']:.3f} ± {d['std']:.3f}"


def _crossval_section(cv: dict) -> list[str]:
    task, mod = cv["task"], cv["modality"]
    keys = _HEADLINE[task]
    lines = [
        f"### {task} from {mod}"
        + (
            f" ({frame}-frame spectra)"
            if mod != "photometry"
            and (frame := cv["config"].get("processor", {}).get("spectrum_frame", "observer"))
            else ""
        ),
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
        row = [method] + [_ms(s.get(k)) for k in keys]
        if task == "classification":
            e5 = [e for e in s.get("early", []) if e["days"] == 5]
            row.append(_ms(e5[0]["accuracy"]) if e5 else "-")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    return lines


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


def write_model_card(
    model_dir: str | Path,
    crossval_dirs: Sequence[str | Path] = (),
    *,
    pretraining_summary: str | Path | None = None,
    name: str | None = None,
    notes: str = "",
) -> Path:
    """Write ``README.md`` (a model card with Hugging Face metadata) into ``model_dir``.

    Args:
        model_dir: a folder written by :func:`maven.training.finetune.finetune`.
        crossval_dirs: output folders of :func:`maven.evaluation.crossval.crossval`; the
            pooled ``maven/metrics.json`` of each gives per-class and per-redshift tables.
        pretraining_summary: the ``training_summary.json`` of the pre-training run.
        notes: extra markdown (how it was trained, decisions), placed before the limits.

    Raises:
        MavenError: a missing or unreadable input file.
    """
    model_dir = Path(model_dir)
    ft = _load(model_dir / "finetune_summary.json", "fine-tuning summary")
    cfg = _load(model_dir / "config.json", "model config")
    cfg_ft = ft["config"]
    name = name or model_dir.name
    n_params = _count_parameters(model_dir)
    labels = [cfg["id2label"][str(k)] for k in range(len(cfg.get("id2label", {})))]
    lines = [
        "---",
        "library_name: transformers",
        "license: other",
        "tags: [astronomy, supernovae, time-domain, contrastive-learning, maven]",
        f"pipeline_tag: {'text-classification' if cfg_ft['task'] == 'classification' else 'other'}",
        "---",
        "",
        f"# {name}",
        "",
        f"A **{cfg_ft['task']}** model on the maven embedding, reading "
        + {
            "photometry": "a light curve.",
            "spectrum": "a spectrum.",
            "both": "a light curve, a spectrum or both (either may be missing).",
        }[cfg_ft["modality"]],
        f"Classes: {', '.join(labels)}." if labels else "",
        "",
        "```python",
        "from maven.training.finetune import load_head",
        "from maven.models.inference import predict",
        "from maven.io import read_supernovae",
        "",
        f'model, processor = load_head("weights/{name}")',
        'sne = read_supernovae("my_data/")  # OSC JSON, SNANA, ZTF CSV, sncosmo tables, parquet',
        "out = predict(model, processor, sne)  # calibrated probabilities, labels, embeddings",
        "```",
        "",
        f"or `maven evaluate --model weights/{name} --data my_data/ --out report/`.",
        "",
        "## How it was made",
        "",
    ]
    if pretraining_summary:
        pre = _load(Path(pretraining_summary), "pre-training summary")
        pc = pre.get("config", {})
        val = pre.get("final_validation") or {}
        lines += [
            f"* **Pre-training** (contrastive, CLIP-style) on simulated supernovae "
            f"(`{pc.get('data', {}).get('train')}`): preset `{pc.get('model', {}).get('preset')}`, "
            f"{pre.get('steps')} steps of global batch {pre.get('global_batch')} on "
            f"{pre.get('device')} ({pre.get('wall_time_s_this_run', 0) / 60:.0f} min). Validation "
            f"on unseen simulated pairs: loss {val.get('loss', float('nan')):.3f}, light curve → "
            f"spectrum top-1 {val.get('phot2spec_top1', float('nan')):.3f}, top-10 "
            f"{val.get('phot2spec_top10', float('nan')):.3f} among {val.get('n')}.",
        ]
    lines += [
        f"* **Fine-tuning** on observed supernovae: {ft['n_train']} training and {ft['n_val']} "
        f"validation objects (validation chooses the epoch and the calibration only). Training "
        f"classes: {', '.join(f'{k} {v}' for k, v in ft['train_counts'].items())}. Dropped: "
        f"{', '.join(f'{k}: {v}' for k, v in ft['dropped'].items()) or 'none'}.",
        f"* Recipe: mode `{cfg_ft['mode']}`, {cfg_ft['epochs']} epochs at most (best: epoch "
        f"{ft['best']['epoch']}), contrastive steps {cfg_ft['contrastive_steps']}, class cap "
        f"{cfg_ft['class_cap']}, redshift input {cfg_ft['use_redshift_input']}. "
        f"{_calibration_text(ft['calibration'])} Full recipe in `finetune_summary.json`.",
        f"* Size: {n_params or 'see config.json'} parameters; {ft['wall_time_s'] / 60:.0f} min "
        f"on {ft['device']}.",
        "",
        "## Cross-validated performance",
        "",
        "Every method below was trained and tested on the same folds: `maven` (this recipe), "
        "`scratch` (same architecture and recipe, random initial weights: what pre-training "
        "buys), `probe` (frozen pre-trained towers + linear probe: what simulations alone give) "
        "and `features` (gradient-boosted trees on light-curve features). These are "
        "cross-validation figures on the development data; an independent evaluation on "
        "withheld objects is reported separately.",
        "",
    ]
    for d in crossval_dirs:
        d = Path(d)
        cv = _load(d / "crossval.json", "cross-validation results")
        lines += _crossval_section(cv)
        pooled = d / "maven" / "metrics.json"
        if pooled.exists():
            rep = _load(pooled, "pooled metrics")
            if cv["task"] == "classification":
                lines += ["Per class (pooled out-of-fold predictions of `maven`):", ""]
                lines += _per_class(rep)
            lines += ["Per redshift bin (pooled, `maven`):", ""]
            lines += _by_redshift(rep, cv["task"])
    lines += [notes.strip(), ""] if notes.strip() else []
    lines += [
        "## What it does not know",
        "",
        "* The observed training set is dominated by SNe Ia (about 9 in 10 light curves) and by "
        "bright, low-redshift objects that were selected for spectroscopy; SLSN-I, IIn and Ibc "
        "have tens of light curves each. Per-class numbers for them have wide spreads.",
        "* Photometry comes from many telescopes and bands; most of the non-Ia light curves are "
        "archival (Open Supernova Catalog), most Ia are ZTF. Survey and class are correlated in "
        "training, so the model may use the survey as a shortcut: see the per-catalogue audit.",
        "* Pre-training used maven's own simulations; their realism gaps (points per light curve, "
        "signal-to-noise, spectral coverage) are reported by `maven simulate-report`.",
        "* Probabilities are temperature-scaled on the validation split; they are calibrated for "
        "data like the training set, not for a survey's photometric stream with a different "
        "class mix. Use the novelty score of `maven novelty` to flag objects unlike the "
        "training set.",
        "",
    ]
    out = model_dir / "README.md"
    out.write_text("\n".join(line for line in lines if line is not None) + "\n")
    return out
