"""The labelled evaluation of a classification run: a few numbers kept per labelled object,
and the report written from them. Internal to :mod:`maven.classifier`.
"""

from __future__ import annotations

import numpy as np

from maven.classifier.heads import Classifier


def collect_labelled(collect, clf, chunk, ok, logits, probs, predicted) -> None:
    """Keep what the labelled evaluation needs (a few numbers per object, not the records)."""
    from maven.evaluation.evaluate import audit_groups
    from maven.training.finetune import missing_target

    known = set(clf.labels)
    keep = []
    for i, sn in enumerate(chunk):
        reason = missing_target(sn, "classification", known) or (
            None if ok[i] else f"no {clf.model.config.head_modality} input"
        )
        if reason:
            collect["dropped"][reason] += 1
        else:
            keep.append(i)
    if not keep:
        return
    recs = [chunk[i] for i in keep]
    collect["id"] += [sn.id for sn in recs]
    collect["true"] += [sn.type for sn in recs]
    collect["predicted"] += [predicted[i] for i in keep]
    collect["probabilities"].append(probs[keep])
    collect["logits"].append(logits[keep])
    for key, v in audit_groups(recs).items():
        collect["groups"].setdefault(key, []).append(v)


def write_labelled_evaluation(clf: Classifier, collect: dict, folder) -> dict:
    """The labelled evaluation of a run (``{"metrics", "files"}``; empty without labels)."""
    from maven.evaluation.evaluate import evaluation_metrics, write_evaluation

    if not collect["id"]:
        return {"metrics": None, "files": {}, "evaluation_dropped": dict(collect["dropped"])}
    pred = {
        "id": collect["id"],
        "true": collect["true"],
        "labels": clf.labels,
        "predicted": collect["predicted"],
        "probabilities": np.concatenate(collect["probabilities"]),
        "logits": np.concatenate(collect["logits"]),
    }
    groups = {k: np.concatenate(v) for k, v in collect["groups"].items()}
    metrics = evaluation_metrics(clf.model, pred, dict(collect["dropped"]), groups=groups)
    paths = write_evaluation(metrics, pred, folder, title="maven classify: labelled objects")
    return {"metrics": metrics, "files": {k: str(v) for k, v in paths.items()}}
