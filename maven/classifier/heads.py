"""The classifier's run state and its heads on one chunk: loading a head, the processor
(a record it refuses left out), forward passes in batches, redshift estimates, the
reference index's novelty and neighbours. Internal to :mod:`maven.classifier`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from maven.errors import ConfigError, MavenError


@dataclasses.dataclass
class Classifier:
    """Everything one run needs, loaded once."""

    model: Any
    processor: Any
    model_hash: str
    labels: list[str]
    redshift_range: tuple[float, float]
    z_model: Any = None
    z_processor: Any = None
    feed_redshift: bool = False
    index: Any = None
    reference: str | None = None
    k: int = 5
    novelty_k: int = 10
    batch_size: int = 128
    device: Any = None


def load_head(model, processor, task: str):
    """``(model, processor, folder or None)`` for a head of ``task`` from a folder / Hub id or
    a loaded model."""
    from maven.models.hub import resolve_folder
    from maven.models.loading import from_pretrained
    from maven.models.modeling_heads import MavenForRedshift, MavenForSupernovaClassification

    cls = MavenForSupernovaClassification if task == "classification" else MavenForRedshift
    folder = None
    if isinstance(model, (str, Path)):
        folder = resolve_folder(model)
        model, saved = from_pretrained(folder)
        processor = saved if processor is None else processor
    if not isinstance(model, cls):
        where = f"{folder}" if folder is not None else "the model given"
        raise ConfigError(
            f"{where} holds a {type(model).__name__}, not a {cls.__name__} "
            f"(a {task} head written by maven finetune)"
        )
    if processor is None:
        raise ConfigError(f"a loaded {cls.__name__} needs its processor (processor=...)")
    return model.eval(), processor, folder


class OnnxHead:
    """A classification head run by onnxruntime from its ``maven export onnx`` folder, with the
    torch head's config (labels, calibration, modality) beside it.

    Raises:
        ConfigError: the export's labels, calibration, modality or processor differ from the
            head's (an export of another model).
    """

    def __init__(self, directory, model, processor) -> None:
        from maven.export.onnx_runtime import OnnxModel

        self.runner = OnnxModel(directory)
        self.config, self.num_labels = model.config, model.num_labels
        m, c = self.runner.manifest, model.config
        mine = {
            "task": "classification",
            "labels": [c.id2label[i] for i in range(model.num_labels)],
            "logit_bias": c.logit_bias,
            "calibration_temperature": c.calibration_temperature,
            "head_modality": c.head_modality,
        }
        differ = [k for k, v in mine.items() if m.get(k) != v]
        if self.runner.processor.to_dict() != processor.to_dict():
            differ.append("processor")
        if differ:
            raise ConfigError(
                f"{directory}: not an ONNX export of this model ({', '.join(differ)} differ; "
                "`maven export onnx --model MODEL --out DIR` writes one)"
            )

    def predict_batch(self, batch, chunk: list, towers: bool) -> dict[str, np.ndarray | None]:
        """:func:`maven.models.inference.predict_batch`'s arrays from onnxruntime."""
        out = self.runner(batch)
        res = {"embeddings": out["embeddings"], "logits": out["logits"]}
        for m in ("photometry", "spectrum") if towers else ():
            res[f"{m}_embeds"] = out.get(f"{m}_embeds")
        bad = ~np.isfinite(res["logits"]).all(axis=1) | ~np.isfinite(res["embeddings"]).all(axis=1)
        if bad.any():
            names = [chunk[i].id for i in np.flatnonzero(bad)[:5]]
            raise MavenError(f"non-finite ONNX outputs for {names}")
        return res


def process_records(processor, recs: list, refused: dict, idx: np.ndarray):
    """``(batch, rows)``: the processor's batch of the records it takes and their positions
    ``idx[keep]``; a record it refuses (an unknown band, ...) is left out, its message kept in
    ``refused[position]``, so one bad record does not end a run."""
    try:
        return processor(recs), idx
    except MavenError:
        keep = np.ones(len(recs), bool)
        for j, sn in enumerate(recs):
            try:
                processor([sn])
            except MavenError as exc:
                keep[j] = False
                refused[int(idx[j])] = str(exc)
        good = [r for r, k in zip(recs, keep, strict=True) if k]
        return (processor(good) if good else None), idx[keep]


def run_head(model, processor, chunk, order, batch_size, device, towers, reuse=None):
    """Outputs of ``model`` for the usable records of ``chunk`` (in ``order``'s batches):
    ``(usable (n,), outputs {key: (n, ...) arrays, NaN / zero where unusable}, batches,
    refused)``; ``batches`` are ``(batch, rows)`` (:func:`process_records`) for reuse."""
    import torch

    from maven.models.inference import has_modality, predict_batch

    n = len(chunk)
    ok = np.zeros(n, bool)
    out: dict[str, np.ndarray] = {}
    batches, refused = [], {}
    for j, start in enumerate(range(0, n, batch_size)):
        idx = order[start : start + batch_size]
        if reuse is not None:
            batch, rows = reuse[j]
        else:
            batch, rows = process_records(processor, [chunk[i] for i in idx], refused, idx)
        batches.append((batch, rows))
        if batch is None:
            continue
        good = has_modality(model, batch)
        ok[rows] = good
        if not good.any():
            continue
        if not good.all():
            mask = torch.from_numpy(good)
            batch = {key: v[mask] for key, v in batch.items()}
        rows = rows[good]
        recs = [chunk[i] for i in rows]
        if isinstance(model, OnnxHead):
            res = model.predict_batch(batch, recs, towers)
        else:
            res = predict_batch(model, batch, recs, towers=towers, device=device)
        for key, v in res.items():
            if v is None:
                continue
            if key not in out:
                fill = 0.0 if key.endswith("embeds") else np.nan
                out[key] = np.full((n, *v.shape[1:]), fill, np.float32)
            out[key][rows] = v
    return ok, out, batches, refused


def search_reference(clf: Classifier, vectors: np.ndarray, modality: str):
    """``(scores, percentiles, hits)`` of query vectors against one reference modality."""
    from maven.search import novelty_scores

    cal = clf.index.calibration.get(modality)
    nk = cal["k"] if cal is not None else clf.novelty_k
    nov = novelty_scores(clf.index, vectors, modality=modality, k=nk, model_hash=clf.model_hash)
    hits = clf.index.search(vectors, clf.k, modality=modality, model_hash=clf.model_hash)
    return nov["score"], nov["percentile"], hits


def predict_redshifts(clf: Classifier, chunk: list, order, reuse, z, z_sigma):
    """The redshift head's ``(z, sigma)`` for a chunk (``z`` / ``z_sigma`` where it has none)."""
    _, zout, _, _ = run_head(
        clf.z_model, clf.z_processor, chunk, order, clf.batch_size, clf.device, False, reuse=reuse
    )
    return zout.get("redshift", z), zout.get("redshift_sigma", z_sigma)


def with_redshifts(chunk: list, z: np.ndarray) -> list:
    """``chunk`` with the estimate ``z[i]`` as the redshift of each record that has none."""
    return [
        dataclasses.replace(sn, redshift=float(zi))
        if sn.redshift is None and np.isfinite(zi)
        else sn
        for sn, zi in zip(chunk, z, strict=True)
    ]
