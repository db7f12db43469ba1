"""Unit-normalised float32 vectors, and exact nearest neighbours by inner product."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from maven.errors import MavenError

__all__ = ["exact_knn", "normalize"]


def normalize(
    vectors, dim: int | None = None, what: str = "vectors", name_of: Callable | None = None
) -> np.ndarray:
    """(N, D) float32 C-contiguous ``vectors`` scaled to unit L2 norm (a 1-d vector is one row).

    Rows that already have unit norm (within 1e-5) in a float32 C-contiguous array are
    returned as they are, without a copy; otherwise a scaled copy. No (N, D) temporary besides
    that copy is made, so 10M x 128 embeddings (5 GB) can be indexed on a 24 GB machine.

    Raises:
        MavenError: wrong shape or dimension, non-finite values, or a zero vector (naming the
            row, and the object ``name_of(row)`` when given).
    """
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise MavenError(f"{what} must be (N, D), got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise MavenError(f"{what} have dimension {x.shape[1]}, the index has {dim}")
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    bad = ~np.isfinite(norms) | (norms <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        name = f" (object {name_of(i)!r})" if name_of is not None else ""
        kind = "is a zero vector" if np.isfinite(norms[i]) else "contains NaN or inf"
        raise MavenError(f"{what}: row {i}{name} {kind} ({int(bad.sum())} such rows)")
    if x.flags.c_contiguous and np.all(np.abs(norms - 1.0) <= 1e-5):
        return x
    out = np.array(x, dtype=np.float32, order="C", copy=True)
    out /= norms[:, None].astype(np.float32)
    return out


def exact_knn(queries: np.ndarray, database: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-``k`` by inner product (FAISS's blocked ``knn``, no index copy).

    Returns ``(similarities, positions)``, each (nq, k).
    """
    import faiss

    q = np.ascontiguousarray(queries, dtype=np.float32)
    db = np.ascontiguousarray(database, dtype=np.float32)
    return faiss.knn(q, db, k, metric=faiss.METRIC_INNER_PRODUCT)
