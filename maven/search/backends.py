"""The FAISS back-ends of an index: one class per index type, one instance per modality.

==========  ======================================================  ========================
``flat``    exact ``IndexFlatIP`` in ``IndexIDMap2``                 ``auto`` below 200 000
``hnsw``    ``IndexHNSWFlat`` (inner product, M=32) in IDMap2        by config; ~7.7 GB at 10M
``ivfpq``   ``IndexIVFPQ`` (nlist ~ 4 sqrt(n), 8-bit PQ, ``pq_m``   ``auto`` from 200 000;
            = dim bytes/vector; OPQ rotation first when pq_m < dim)  ~1.4 GB at 10M x 128
==========  ======================================================  ========================

Each back-end adds vectors under int64 keys, searches by inner product, removes and
reconstructs by key, and tunes its search parameter (``nprobe`` / ``efSearch``) against
exact search. HNSW cannot delete: a removed vector becomes a tombstone, counted here and
dropped from results by the index.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from maven.errors import ConfigError, MavenError
from maven.search.vectors import normalize

__all__ = [
    "AUTO_EXACT_MAX",
    "BACKENDS",
    "DEFAULT_PARAMS",
    "INDEX_TYPES",
    "Backend",
    "FlatBackend",
    "HNSWBackend",
    "IVFPQBackend",
    "create_backend",
]

INDEX_TYPES = ("auto", "flat", "hnsw", "ivfpq")
#: ``index_type="auto"`` uses exact search up to this many vectors per modality
AUTO_EXACT_MAX = 200_000
DEFAULT_PARAMS: dict[str, Any] = {
    "hnsw_m": 32,
    "ef_construction": 80,
    "ef_search": None,  # tuned when None
    "nlist": None,  # 4 * sqrt(n) when None
    "nprobe": None,  # tuned when None
    "pq_m": None,  # bytes per vector (8-bit codes); dim when None (128 B for 128-d)
    "opq": None,  # OPQ rotation; None: when sub-vectors have >1 dimension (pq_m < dim)
    "opq_niter": 20,
    "train_size": 200_000,  # IVF-PQ training subsample (raised to 40 per coarse centroid)
    "kmeans_niter": 10,  # k-means iterations for the IVF coarse quantizer
    "target_recall": 0.95,  # recall@10 the tuner aims for
    "tune_queries": 200,
    "seed": 0,
}


def _faiss():
    import faiss

    return faiss


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean |found ∩ truth| / |truth| per row."""
    hits = sum(len(np.intersect1d(f[f >= 0], t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


class Backend:
    """One modality's FAISS index (``index``), its parameters and its tombstones."""

    kind = ""
    #: the search-time parameter tuned against exact search; ``None``: exact, nothing to tune
    search_param: str | None = None

    def __init__(self, index, params: dict, tombstones: int = 0) -> None:
        self.index = index
        self.params = params
        self.tombstones = tombstones
        self.apply_search_params()

    @classmethod
    def create(cls, dim: int, train: np.ndarray, params: dict) -> Backend:
        """A new, empty back-end for ``dim``-d vectors (trained on ``train`` if it needs it)."""
        raise NotImplementedError

    def apply_search_params(self) -> None:
        """Set the stored search parameter on the FAISS index (nothing for exact search)."""

    def tuning_grid(self) -> list[int]:
        """The values of :attr:`search_param` that :meth:`tune` tries, smallest first."""
        return []

    @property
    def ntotal(self) -> int:
        """Number of vectors in the FAISS index (tombstoned ones included)."""
        return int(self.index.ntotal)

    def add(self, x: np.ndarray, keys: np.ndarray) -> None:
        """Add the vectors ``x`` (N, D) under the int64 ``keys``."""
        self.index.add_with_ids(x, keys.astype(np.int64))

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(similarities, keys)`` of the top ``min(k, ntotal)`` (at least 1)."""
        return self.index.search(q, max(1, min(k, self.ntotal)))

    def remove(self, keys: np.ndarray) -> int:
        """Remove ``keys`` from the index; returns how many were removed."""
        sel = _faiss().IDSelectorBatch(keys.astype(np.int64))
        return int(self.index.remove_ids(sel))

    def all_keys(self) -> np.ndarray:
        """Every key stored in the index, as int64."""
        return _faiss().vector_to_array(self.index.id_map).astype(np.int64)

    def reconstruct(self, keys: np.ndarray) -> np.ndarray:
        """Stored vectors of ``keys``, (len(keys), D), normalised."""
        keys = np.asarray(keys, np.int64)
        if not len(keys):
            return np.zeros((0, self.index.d), np.float32)
        return np.stack([self.index.reconstruct(int(k)) for k in keys])

    def reconstruct_all(self) -> tuple[np.ndarray, np.ndarray]:
        """``(keys, vectors)`` of everything stored."""
        keys = self.all_keys()
        return keys, self.reconstruct(keys)

    def tune(self, queries: np.ndarray, truth_keys: np.ndarray, target_recall: float) -> dict:
        """Set the smallest value of :attr:`search_param` whose recall against ``truth_keys``
        (the exact top-k of ``queries``) reaches ``target_recall``, or 99 % of the best
        reachable. Returns ``{search_param: value, "recall10": recall}``."""
        name, grid = self.search_param, self.tuning_grid()
        scores = []
        for v in grid:
            self.params[name] = v
            self.apply_search_params()
            _, found = self.search(queries, truth_keys.shape[1])
            scores.append(_recall(found, truth_keys))
        goal = min(float(target_recall), 0.99 * max(scores))
        best = next(i for i, s in enumerate(scores) if s >= goal)
        self.params[name] = grid[best]
        self.params["tuned_recall10"] = scores[best]
        self.apply_search_params()
        return {name: grid[best], "recall10": scores[best]}


class FlatBackend(Backend):
    """Exact search: ``IndexFlatIP`` in ``IndexIDMap2``."""

    kind = "flat"

    @classmethod
    def create(cls, dim: int, train: np.ndarray, params: dict) -> FlatBackend:
        """A new, empty exact index for ``dim``-d vectors (``train`` is not used)."""
        faiss = _faiss()
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), dict(params))


class HNSWBackend(Backend):
    """``IndexHNSWFlat`` (inner product) in ``IndexIDMap2``; removals are tombstones."""

    kind = "hnsw"
    search_param = "ef_search"

    @classmethod
    def create(cls, dim: int, train: np.ndarray, params: dict) -> HNSWBackend:
        """A new, empty HNSW graph with ``hnsw_m`` links and ``ef_construction`` from ``params``."""
        faiss = _faiss()
        p = dict(params)
        h = faiss.IndexHNSWFlat(dim, int(p["hnsw_m"]), faiss.METRIC_INNER_PRODUCT)
        h.hnsw.efConstruction = int(p["ef_construction"])
        return cls(faiss.IndexIDMap2(h), p)

    def _hnsw(self):
        return _faiss().downcast_index(self.index.index).hnsw

    def apply_search_params(self) -> None:
        """Set ``efSearch`` from the stored ``ef_search``, if any."""
        if self.params.get("ef_search"):
            self._hnsw().efSearch = int(self.params["ef_search"])

    def tuning_grid(self) -> list[int]:
        """The ``ef_search`` values tried by :meth:`tune`."""
        return [16, 32, 64, 128, 256, 512]

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`Backend.search`, with ``efSearch`` at least ``k``."""
        k = max(1, min(k, self.ntotal))
        self._hnsw().efSearch = max(int(self.params.get("ef_search") or 16), k)
        return self.index.search(q, k)

    def remove(self, keys: np.ndarray) -> int:
        """Count ``keys`` as tombstones (HNSW cannot remove vectors); the caller filters them
        out of results. Returns ``len(keys)``."""
        self.tombstones += len(keys)
        return len(keys)


class IVFPQBackend(Backend):
    """``IndexIVFPQ`` (8-bit codes, optionally behind an OPQ rotation); vectors come back
    approximate from :meth:`reconstruct`."""

    kind = "ivfpq"
    search_param = "nprobe"

    @classmethod
    def create(cls, dim: int, train: np.ndarray, params: dict) -> IVFPQBackend:
        """A new IVF-PQ index trained on (a sample of) ``train``: ``nlist``, ``pq_m``, code bits
        and OPQ chosen from ``params`` and the training set's size (stored back in ``params``).

        Raises:
            MavenError: fewer than 2 training vectors, or ``pq_m`` not dividing ``dim``."""
        faiss = _faiss()
        p = dict(params)
        n = train.shape[0]
        if n < 2:
            raise MavenError("an ivfpq index needs at least 2 vectors to train")
        nlist = p["nlist"] or max(1, int(round(4 * math.sqrt(n))))
        nlist = int(max(1, min(nlist, n // 39 if n >= 39 else 1)))
        m = int(p["pq_m"] or dim)
        if dim % m:
            raise ConfigError(f"pq_m={m} must divide the embedding dimension {dim}")
        # 8-bit codebooks need a few points per centroid; tiny sets get smaller ones
        nbits = 8 if n >= 1024 else max(1, int(math.log2(max(2, n // 4))))
        quantizer = faiss.IndexFlatIP(dim)
        ivf = faiss.IndexIVFPQ(quantizer, dim, nlist, m, nbits, faiss.METRIC_INNER_PRODUCT)
        ivf.own_fields = True
        ivf.cp.niter = int(p["kmeans_niter"])
        quantizer.this.disown()
        index = ivf
        use_opq = p["opq"] if p["opq"] is not None else m < dim
        if use_opq and n >= 1024:  # OPQ trains its own 8-bit PQ
            opq = faiss.OPQMatrix(dim, m)
            opq.niter = int(p["opq_niter"])
            index = faiss.IndexPreTransform(opq, ivf)
        rng = np.random.default_rng(int(p["seed"]))
        size = min(n, max(int(p["train_size"]), 40 * nlist))
        sample = train if size == n else train[np.sort(rng.choice(n, size, replace=False))]
        index.train(np.ascontiguousarray(sample))
        p.update(nlist=nlist, pq_m=m, pq_nbits=nbits, opq=bool(use_opq and n >= 1024))
        return cls(index, p)

    def ivf(self):
        """The ``IndexIVFPQ`` inside the index (behind the OPQ rotation, if any)."""
        return _faiss().extract_index_ivf(self.index)

    def apply_search_params(self) -> None:
        """Set ``nprobe`` from the stored ``nprobe``, if any."""
        if self.params.get("nprobe"):
            self.ivf().nprobe = int(self.params["nprobe"])

    def tuning_grid(self) -> list[int]:
        """The ``nprobe`` values tried by :meth:`tune`: powers of 2 up to ``nlist``."""
        nlist = self.ivf().nlist
        return [v for v in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512) if v <= nlist]

    def _lists(self):
        """``(list number, its keys)`` of every non-empty inverted list."""
        faiss, ivf = _faiss(), self.ivf()
        for lst in range(ivf.nlist):
            size = ivf.invlists.list_size(lst)
            if size:
                yield lst, faiss.rev_swig_ptr(ivf.invlists.get_ids(lst), size)

    def all_keys(self) -> np.ndarray:
        """Every key stored, read from the inverted lists."""
        parts = [ids.copy() for _, ids in self._lists()]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def reconstruct(self, keys: np.ndarray) -> np.ndarray:
        """Approximate stored vectors of ``keys`` (decoded PQ codes, rotated back), normalised."""
        faiss, ivf, d = _faiss(), self.ivf(), self.index.d
        keys = np.asarray(keys, np.int64)
        want = {int(k): i for i, k in enumerate(keys)}
        out = np.zeros((len(keys), d), np.float32)
        for lst, ids in self._lists():
            for off in np.nonzero(np.isin(ids, keys))[0]:
                rec = np.empty(d, np.float32)
                ivf.reconstruct_from_offset(lst, int(off), faiss.swig_ptr(rec))
                out[want[int(ids[off])]] = rec
        if isinstance(self.index, faiss.IndexPreTransform):
            out = self.index.chain.at(0).reverse_transform(out)
        return normalize(out) if len(keys) else out


#: index type -> its back-end class
BACKENDS: dict[str, type[Backend]] = {
    cls.kind: cls for cls in (FlatBackend, HNSWBackend, IVFPQBackend)
}


def create_backend(kind: str, dim: int, train: np.ndarray, params: dict) -> Backend:
    """A new back-end of type ``kind`` (``"flat"``, ``"hnsw"`` or ``"ivfpq"``).

    Raises:
        MavenError: an unknown type, or what the type's :meth:`Backend.create` raises.
    """
    if kind not in BACKENDS:
        raise ConfigError(f"unknown index type {kind!r}; choose from {INDEX_TYPES}")
    return BACKENDS[kind].create(dim, train, params)
