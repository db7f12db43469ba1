"""Novelty: how far an embedding lies from its nearest reference neighbours.

score(x) = mean cosine distance from ``x`` to its ``k`` nearest reference vectors (in one
modality of an :class:`~maven.search.EmbeddingIndex`). A score alone depends on the model and
the reference set, so it is also reported as a *percentile* against the reference set's own
leave-one-out scores (each reference object scored against all the others): percentile 50 is
a typical reference object, 99.9 is further out than 99.9 % of them. The calibration (a sorted
sample of leave-one-out scores, up to ``sample`` reference vectors) is stored with the index.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from maven.errors import ConfigError, MavenError
from maven.search.index import EmbeddingIndex
from maven.search.vectors import normalize

__all__ = ["calibrate", "knn_scores", "novelty_scores", "score_percentile"]


def knn_scores(
    index: EmbeddingIndex,
    vectors,
    *,
    modality: str,
    k: int = 10,
    exclude_keys: Sequence[int | None] | None = None,
    model_hash: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean distance to the ``k`` nearest reference vectors.

    Args:
        exclude_keys: per query, one stored key to leave out (leave-one-out), or ``None``.

    Returns:
        ``(scores (nq,), nearest_keys (nq,), nearest_distances (nq,))``; the score uses as many
        neighbours as exist when the reference set has fewer than ``k``.
    """
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    if index.count(modality) == 0:
        raise MavenError(f"the index holds no {modality} vectors to compare against")
    q = normalize(vectors, index.dim, "query vectors")
    extra = 0 if exclude_keys is None else 1
    dist, keys = index.search_vectors(q, k + extra, modality=modality, model_hash=model_hash)
    scores = np.empty(q.shape[0])
    nearest = np.full(q.shape[0], -1, np.int64)
    near_d = np.full(q.shape[0], np.nan)
    for i in range(q.shape[0]):
        ok = keys[i] >= 0
        if exclude_keys is not None and exclude_keys[i] is not None:
            ok &= keys[i] != exclude_keys[i]
        d, kk = dist[i][ok][:k], keys[i][ok][:k]
        scores[i] = float(np.mean(d)) if len(d) else np.nan
        if len(d):
            nearest[i], near_d[i] = kk[0], d[0]
    return scores, nearest, near_d


def calibrate(
    index: EmbeddingIndex, *, modality: str, k: int = 10, sample: int = 10_000, seed: int = 0
) -> dict:
    """Leave-one-out scores of (a random sample of) the reference vectors, stored on the index
    as ``index.calibration[modality] = {"k": k, "scores": sorted array}`` and returned."""
    keys = index.keys(modality)
    if len(keys) < 2:
        raise MavenError(f"calibration needs at least 2 {modality} reference vectors")
    if len(keys) > sample:
        keys = np.sort(np.random.default_rng(seed).choice(keys, sample, replace=False))
    vecs = index.reconstruct(keys, modality=modality)
    scores = []
    for s in range(0, len(keys), 4096):
        sc, _, _ = knn_scores(
            index, vecs[s : s + 4096], modality=modality, k=k, exclude_keys=list(keys[s : s + 4096])
        )
        scores.append(sc)
    cal = {"k": int(k), "scores": np.sort(np.concatenate(scores))}
    index.calibration[modality] = cal
    return cal


def score_percentile(index: EmbeddingIndex, scores, *, modality: str, k: int = 10) -> np.ndarray:
    """Percentile (0-100) of each score among the reference leave-one-out scores
    (calibrating first when the index has no calibration for this modality and ``k``)."""
    cal = index.calibration.get(modality)
    if cal is None or cal["k"] != k:
        cal = calibrate(index, modality=modality, k=k)
    ref = np.asarray(cal["scores"])
    s = np.asarray(scores, dtype=np.float64)
    return 100.0 * np.searchsorted(ref, s, side="right") / len(ref)


def novelty_scores(
    index: EmbeddingIndex,
    vectors,
    *,
    modality: str,
    k: int = 10,
    exclude_ids: Sequence[str | None] | None = None,
    model_hash: str | None = None,
) -> dict[str, np.ndarray | list]:
    """Novelty of query embeddings against the index's ``modality`` reference vectors.

    Args:
        vectors: (nq, D) embeddings of the queries, same modality as the references (or the
            other one, for a cross-modal score).
        exclude_ids: per query, an object id whose stored vector to leave out (a reference
            object scored against the others).

    Returns:
        ``{"score": (nq,), "percentile": (nq,), "nearest_id": [...], "nearest_distance":
        (nq,)}``; higher is more novel.
    """
    excl = None
    if exclude_ids is not None:
        wanted = [oid for oid in exclude_ids if oid is not None]
        key_of: dict[str, int] = {}
        for m in index.rows_for_ids(wanted):
            if m["modality"] == modality:
                for name in [m["id"], *(m["aliases"] or ())]:
                    key_of.setdefault(name, m["key"])
        excl = [None if oid is None else key_of.get(oid) for oid in exclude_ids]
    scores, nearest, near_d = knn_scores(
        index, vectors, modality=modality, k=k, exclude_keys=excl, model_hash=model_hash
    )
    metas = index.rows(nearest)
    return {
        "score": scores,
        "percentile": score_percentile(index, scores, modality=modality, k=k),
        "nearest_id": [m["id"] if m else None for m in metas],
        "nearest_distance": near_d,
    }
