"""Is the novelty score any good? Hold a class out of fine-tuning and see whether its objects
come out as novel.

:func:`heldout_novelty` fine-tunes the recipe without one class (e.g. SLSN-I or IIn), then
scores unseen objects of the known classes (a held-out fold) and every object of the
held-out class by

* ``knn``: maven's novelty score, the mean cosine distance to the ``k`` nearest training
  embeddings (:mod:`maven.search.novelty` uses the same definition on a FAISS index);
* ``max_softmax``: the baseline, one minus the classifier's largest calibrated probability.

It reports the AUROC and the precision among the top-n scores (n = number of held-out
objects) of each, writes ``novelty_eval.json`` and an ROC plot.

:func:`simulated_novelty` scores the simulator's off-by-default classes (TDE, KN, Ia-91bg),
which no pre-training or fine-tuning run sees, against simulated known classes, with a saved
model's embedding of the light curve, the spectrum and both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maven.errors import ConfigError, MavenError

__all__ = ["embedding_novelty", "heldout_novelty", "knn_novelty", "simulated_novelty"]


def knn_novelty(queries: np.ndarray, reference: np.ndarray, k: int = 10) -> np.ndarray:
    """Mean cosine distance of each query to its ``k`` nearest reference vectors."""
    from maven.search.vectors import exact_knn, normalize

    q, ref = normalize(queries), normalize(reference)
    sims, _ = exact_knn(q, ref, min(k, len(ref)))
    return (1.0 - sims).mean(axis=1)


def _scores(name: str, scores: np.ndarray, is_novel: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score, roc_curve

    n = int(is_novel.sum())
    top = np.argsort(-scores, kind="stable")[:n]
    fpr, tpr, _ = roc_curve(is_novel, scores)
    return {
        "method": name,
        "auroc": float(roc_auc_score(is_novel, scores)),
        "precision_at_n": float(is_novel[top].mean()) if n else None,
        "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
    }


def heldout_novelty(
    config,
    supernovae: Sequence,
    heldout: str,
    out_dir: str | Path,
    *,
    k: int = 10,
    n_folds: int = 5,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Fine-tune without ``heldout`` and score how novel its objects look (module docstring).

    Args:
        config: a classification :class:`~maven.training.finetune.FinetuneConfig`; its
            classes without ``heldout`` are the known ones.
        supernovae: labelled records.
        heldout: the class kept out of training.
        n_folds: one fold of the known classes (``1 / n_folds`` of them) is the unseen
            known set; the rest trains.

    Raises:
        ConfigError: not a classification recipe, or ``heldout`` not among its classes.
        MavenError: too few records.
    """
    from maven.data.folds import assign_folds
    from maven.models.inference import predict, usable
    from maven.training.finetune import copy_config, finetune, select_supernovae

    if config.task != "classification":
        raise ConfigError("novelty evaluation needs a classification recipe")
    if heldout not in config.classes:
        raise ConfigError(f"held-out class {heldout!r} is not among {config.classes}")
    known_cfg = copy_config(config, classes=[c for c in config.classes if c != heldout])
    records, dropped = select_supernovae(supernovae, config)
    known = [sn for sn in records if sn.type != heldout]
    novel = [sn for sn in records if sn.type == heldout]
    if not novel or len(known) < 2 * n_folds:
        raise MavenError(f"{len(known)} known and {len(novel)} {heldout} objects: too few")
    folds = assign_folds(known, n_folds=n_folds, seed=seed)
    train = [sn for sn, f in zip(known, folds, strict=True) if f != 0]
    test = [sn for sn, f in zip(known, folds, strict=True) if f == 0]
    model, processor, summary = finetune(known_cfg, train, progress=progress)

    def with_input(records: list) -> list:
        return [sn for sn, ok in zip(records, usable(model, processor, records), strict=True) if ok]

    train, test, novel = with_input(train), with_input(test), with_input(novel)
    ref = predict(model, processor, train, progress=progress)["embeddings"]
    queries = test + novel
    pred = predict(model, processor, queries, progress=progress)
    is_novel = np.array([sn.type == heldout for sn in queries])
    results = [
        _scores("knn", knn_novelty(pred["embeddings"], ref, k), is_novel),
        _scores("max_softmax", 1.0 - pred["probabilities"].max(axis=1), is_novel),
    ]
    out = {
        "heldout": heldout,
        "modality": config.modality,
        "k": k,
        "n_train": len(train),
        "n_known_test": len(test),
        "n_heldout": len(novel),
        "dropped": dropped,
        "results": results,
        "finetune_best": summary["best"],
    }
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    (path / "novelty_eval.json").write_text(json.dumps(out, indent=2) + "\n")
    _plot_roc(results, heldout, path / "novelty_roc.png")
    return out


def embedding_novelty(
    model,
    processor,
    reference: Sequence,
    known: Sequence,
    novel: Sequence,
    *,
    modality: str = "photometry",
    k: int = 10,
    progress: bool = False,
) -> dict[str, Any]:
    """How well the kNN novelty score of a :class:`~maven.models.MavenModel` embedding
    separates ``novel`` records (classes it never saw, such as the simulator's TDE, KN,
    Ia-91bg) from unseen ``known`` ones, both scored against ``reference``.

    ``modality`` is ``"photometry"``, ``"spectrum"`` or ``"both"`` (objects with both; the two
    unit embeddings concatenated, so the cosine distance is the mean of the two).

    Returns:
        ``{"overall": {auroc, precision_at_n}, "per_class": {type: {auroc, precision_at_n,
        n}}, "n_reference", "n_known"}`` (AUROC of each novel class against all of ``known``).
    """
    from maven.search.embed import embed_supernovae

    if modality not in ("photometry", "spectrum", "both"):
        raise ConfigError(f"modality must be photometry, spectrum or both, got {modality!r}")
    parts = ("photometry", "spectrum") if modality == "both" else (modality,)

    def emb(records):
        vectors, has = embed_supernovae(
            model, processor, list(records), progress=progress
        ).concatenated(parts)
        return vectors[has], [sn for sn, h in zip(records, has, strict=True) if h]

    ref, _ = emb(reference)
    q_known, _ = emb(known)
    q_novel, novel_kept = emb(novel)
    if not (len(ref) and len(q_known) and len(q_novel)):
        raise MavenError(f"no reference, known or novel object has {' and '.join(parts)}")
    s_known, s_novel = knn_novelty(q_known, ref, k), knn_novelty(q_novel, ref, k)

    def score(sn_scores: np.ndarray) -> dict:
        scores = np.concatenate([s_known, sn_scores])
        flag = np.r_[np.zeros(len(s_known), bool), np.ones(len(sn_scores), bool)]
        r = _scores("knn", scores, flag)
        return {"auroc": r["auroc"], "precision_at_n": r["precision_at_n"], "n": len(sn_scores)}

    types = np.array([sn.type for sn in novel_kept])
    return {
        "modality": modality,
        "k": k,
        "n_reference": len(ref),
        "n_known": len(s_known),
        "overall": score(s_novel),
        "per_class": {t: score(s_novel[types == t]) for t in sorted(set(types.tolist()))},
    }


def simulated_novelty(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    survey: str = "ztf",
    n_reference: int = 3000,
    n_queries: int = 600,
    novel_classes: Sequence[str] = ("TDE", "KN", "Ia-91bg"),
    seed: int = 0,
    k: int = 10,
    template_dir: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Novelty of the simulator's never-trained classes for a saved model.

    Simulates ``n_reference`` reference and ``n_queries`` unseen objects of the default
    classes (balanced) and ``n_queries`` objects of ``novel_classes`` (off by default in the
    simulator, so neither pre-training nor fine-tuning saw them), scores all queries with
    :func:`embedding_novelty` per modality (photometry, spectrum, both) and writes
    ``simulated_novelty.json``.
    """
    from maven.models.loading import from_pretrained
    from maven.simulate import SimConfig, simulate

    def sims(n: int, shard: int, **kw):
        config = SimConfig(survey=survey, template_dir=template_dir, **kw)
        return simulate(n, seed=seed, shard=shard, config=config)

    known = sims(n_reference + n_queries, 0)
    novel = sims(n_queries, 1, classes=tuple(novel_classes))
    model, processor = from_pretrained(model_dir, task="towers")
    results = {
        m: embedding_novelty(
            model,
            processor,
            known[:n_reference],
            known[n_reference:],
            novel,
            modality=m,
            k=k,
            progress=progress,
        )
        for m in ("photometry", "spectrum", "both")
    }
    out = {
        "model": str(model_dir),
        "survey": survey,
        "seed": seed,
        "novel_classes": list(novel_classes),
        "results": results,
    }
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    (path / "simulated_novelty.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def _plot_roc(results: list[dict], heldout: str, path: Path) -> None:
    from maven.evaluation.plots import _figure, _save

    fig = _figure((4.5, 4.2))
    ax = fig.add_subplot(111)
    for r in results:
        ax.plot(r["roc"]["fpr"], r["roc"]["tpr"], label=f"{r['method']} (AUROC {r['auroc']:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("false positive rate (known classes)")
    ax.set_ylabel(f"true positive rate ({heldout})")
    ax.set_title(f"novelty of held-out {heldout}")
    ax.legend(loc="lower right")
    _save(fig, path)
