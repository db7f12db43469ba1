"""A FAISS index of maven embeddings, with its metadata table and a verified manifest.

An :class:`EmbeddingIndex` holds one FAISS index per modality (``"photometry"``,
``"spectrum"``) over L2-normalised vectors, searched by inner product (= cosine similarity),
plus one metadata table (``key, id, aliases, type, redshift, survey, modality``). Every
stored vector has an int64 ``key`` (unique, increasing); an object with a light curve and a
spectrum has two rows with the same ``id``. Distances reported are cosine distances,
``1 - similarity`` (0 identical, 2 opposite).

Index types (chosen per modality when the first vectors arrive, ``"auto"`` by size):

==========  ======================================================  ========================
``flat``    exact ``IndexFlatIP`` in ``IndexIDMap2``                 ``auto`` below 200 000
``hnsw``    ``IndexHNSWFlat`` (inner product, M=32) in IDMap2        by config; ~7.7 GB at 10M
``ivfpq``   ``IndexIVFPQ`` (nlist ~ 4 sqrt(n), 8-bit PQ, ``pq_m``   ``auto`` from 200 000;
            = dim bytes/vector; OPQ rotation first when pq_m < dim)  ~1.4 GB at 10M x 128
==========  ======================================================  ========================

HNSW cannot delete: removed vectors become tombstones (dropped from results, skipped by an
over-fetch) and the modality is rebuilt once tombstones pass 10 %. IVF-PQ and HNSW search
parameters (``nprobe`` / ``efSearch``) are tuned at build time against exact search on a sample
to reach ``target_recall`` (recall@10), and stored in the manifest.

On disk an index is a directory::

    manifest.json        format, model name + hash, dim, counts, index types/params, checksums
    photometry.faiss     FAISS's own format (faiss.write_index), one per modality
    spectrum.faiss
    metadata.parquet     the metadata table
    calibration.json     novelty calibration (leave-one-out scores), when computed

:meth:`EmbeddingIndex.save` writes a temporary sibling directory and swaps it in, so a failed
save leaves the previous index intact; :meth:`EmbeddingIndex.load` checks the format, sizes,
sha256 checksums, counts, dimension and (optionally) the expected model hash, and raises
:class:`IndexError_` (a :class:`~maven.errors.MavenError`) with a clear message otherwise.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maven.errors import MavenError
from maven.search.embed import MODALITIES
from maven.utils.atomic import checksums, locked, staged_directory, verify_files, write_text

__all__ = [
    "EmbeddingIndex",
    "IndexError_",
    "INDEX_TYPES",
    "AUTO_EXACT_MAX",
    "DEFAULT_PARAMS",
    "exact_knn",
    "normalize",
]

FORMAT = "maven-embedding-index"
FORMAT_VERSION = 1
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
_META_COLUMNS = ("key", "id", "aliases", "type", "redshift", "survey", "modality")
_TOMBSTONE_REBUILD = 0.10


class IndexError_(MavenError):
    """An index that is missing, truncated, corrupted, foreign or built with another model."""


def _faiss():
    import faiss

    return faiss


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
    faiss = _faiss()
    q = np.ascontiguousarray(queries, dtype=np.float32)
    db = np.ascontiguousarray(database, dtype=np.float32)
    return faiss.knn(q, db, k, metric=faiss.METRIC_INNER_PRODUCT)


def _meta_schema():
    """The metadata table's schema. The repetitive strings are dictionary-encoded (one byte a
    row for the modality, four for type and survey), so 10M rows cost ~0.3 GB, not ~0.5 GB."""
    import pyarrow as pa

    codes = pa.dictionary(pa.int32(), pa.string())
    return pa.schema(
        [
            ("key", pa.int64()),
            ("id", pa.string()),
            ("aliases", pa.list_(pa.string())),
            ("type", codes),
            ("redshift", pa.float64()),
            ("survey", codes),
            ("modality", pa.dictionary(pa.int8(), pa.string())),
        ]
    )


def _empty_meta():
    return _meta_schema().empty_table()


def _key_view(meta) -> np.ndarray:
    """The ``key`` column as int64: a view without a copy when the table has one chunk (as
    every table this module keeps does, after ``combine_chunks``)."""
    col = meta.column("key")
    if col.num_chunks == 0:
        return np.zeros(0, np.int64)
    return (col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()).to_numpy()


class _Sub:
    """One modality's FAISS index and how to search, remove from and reconstruct it."""

    def __init__(self, kind: str, index, params: dict) -> None:
        self.kind = kind
        self.index = index
        self.params = params
        self.tombstones = 0
        self.apply_search_params()

    # -------------------------------------------------------------- construction

    @classmethod
    def create(cls, kind: str, dim: int, train: np.ndarray, params: dict) -> _Sub:
        faiss = _faiss()
        p = dict(params)
        if kind == "flat":
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        elif kind == "hnsw":
            h = faiss.IndexHNSWFlat(dim, int(p["hnsw_m"]), faiss.METRIC_INNER_PRODUCT)
            h.hnsw.efConstruction = int(p["ef_construction"])
            index = faiss.IndexIDMap2(h)
        elif kind == "ivfpq":
            n = train.shape[0]
            if n < 2:
                raise MavenError("an ivfpq index needs at least 2 vectors to train")
            nlist = p["nlist"] or max(1, int(round(4 * math.sqrt(n))))
            nlist = int(max(1, min(nlist, n // 39 if n >= 39 else 1)))
            m = int(p["pq_m"] or dim)
            if dim % m:
                raise MavenError(f"pq_m={m} must divide the embedding dimension {dim}")
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
        else:
            raise MavenError(f"unknown index type {kind!r}; choose from {INDEX_TYPES}")
        return cls(kind, index, p)

    @classmethod
    def from_faiss(cls, kind: str, index, params: dict, tombstones: int) -> _Sub:
        sub = cls(kind, index, params)
        sub.tombstones = tombstones
        return sub

    def ivf(self):
        return _faiss().extract_index_ivf(self.index)

    def apply_search_params(self) -> None:
        faiss = _faiss()
        if self.kind == "ivfpq" and self.params.get("nprobe"):
            self.ivf().nprobe = int(self.params["nprobe"])
        if self.kind == "hnsw" and self.params.get("ef_search"):
            faiss.downcast_index(self.index.index).hnsw.efSearch = int(self.params["ef_search"])

    # -------------------------------------------------------------- operations

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def add(self, x: np.ndarray, keys: np.ndarray) -> None:
        self.index.add_with_ids(x, keys.astype(np.int64))

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = max(1, min(k, self.ntotal))
        if self.kind == "hnsw":
            h = _faiss().downcast_index(self.index.index)
            base = int(self.params.get("ef_search") or 16)
            h.hnsw.efSearch = max(base, k)
        return self.index.search(q, k)

    def remove(self, keys: np.ndarray) -> int:
        if self.kind == "hnsw":
            self.tombstones += len(keys)
            return len(keys)
        sel = _faiss().IDSelectorBatch(keys.astype(np.int64))
        return int(self.index.remove_ids(sel))

    def all_keys(self) -> np.ndarray:
        faiss = _faiss()
        if self.kind in ("flat", "hnsw"):
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        ivf, parts = self.ivf(), []
        for lst in range(ivf.nlist):
            size = ivf.invlists.list_size(lst)
            if size:
                parts.append(faiss.rev_swig_ptr(ivf.invlists.get_ids(lst), size).copy())
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def reconstruct(self, keys: np.ndarray) -> np.ndarray:
        """Stored vectors of ``keys`` (approximate for ivfpq), (len(keys), D), normalised."""
        faiss = _faiss()
        d = self.index.d
        keys = np.asarray(keys, np.int64)
        if self.kind in ("flat", "hnsw"):
            out = np.stack([self.index.reconstruct(int(k)) for k in keys]) if len(keys) else None
            return out if out is not None else np.zeros((0, d), np.float32)
        ivf = self.ivf()
        want = {int(k): i for i, k in enumerate(keys)}
        out = np.zeros((len(keys), d), np.float32)
        for lst in range(ivf.nlist):
            size = ivf.invlists.list_size(lst)
            if not size:
                continue
            ids = faiss.rev_swig_ptr(ivf.invlists.get_ids(lst), size)
            hit = np.nonzero(np.isin(ids, keys))[0]
            for off in hit:
                rec = np.empty(d, np.float32)
                ivf.reconstruct_from_offset(lst, int(off), faiss.swig_ptr(rec))
                out[want[int(ids[off])]] = rec
        if isinstance(self.index, faiss.IndexPreTransform):
            out = self.index.chain.at(0).reverse_transform(out)
        return normalize(out) if len(keys) else out

    def reconstruct_all(self) -> tuple[np.ndarray, np.ndarray]:
        keys = self.all_keys()
        return keys, self.reconstruct(keys)


class EmbeddingIndex:
    """Similarity search over maven embeddings, by modality, with metadata.

    Args:
        dim: embedding dimension.
        model_hash: :func:`~maven.search.model_hash` of the model whose embeddings this holds;
            vectors given with another hash are refused.
        model_name: a readable name for the manifest.
        index_type: ``"auto"``, ``"flat"``, ``"hnsw"`` or ``"ivfpq"``.
        params: overrides of :data:`DEFAULT_PARAMS`.

    Example:
        >>> import numpy as np
        >>> idx = EmbeddingIndex(4, model_hash="sha256:x")
        >>> _ = idx.add(np.eye(4), [{"id": f"sn{i}"} for i in range(4)], modality="photometry")
        >>> idx.search(np.array([1.0, 0, 0, 0]), k=1, modality="photometry")[0][0]["id"]
        'sn0'
    """

    def __init__(
        self,
        dim: int,
        *,
        model_hash: str | None = None,
        model_name: str | None = None,
        index_type: str = "auto",
        params: dict | None = None,
    ) -> None:
        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise MavenError(f"dim must be a positive integer, got {dim!r}")
        if index_type not in INDEX_TYPES:
            raise MavenError(f"unknown index type {index_type!r}; choose from {INDEX_TYPES}")
        unknown = sorted(set(params or {}) - set(DEFAULT_PARAMS))
        if unknown:
            raise MavenError(f"unknown index params {unknown}; known: {sorted(DEFAULT_PARAMS)}")
        self.dim = int(dim)
        self.model_hash = model_hash
        self.model_name = model_name
        self.index_type = index_type
        self.params = {**DEFAULT_PARAMS, **(params or {})}
        self._subs: dict[str, _Sub] = {}
        self._meta = _empty_meta()
        self._keys = _key_view(self._meta)  # sorted; a view of self._meta["key"]
        self._next_key = 0
        #: novelty calibration per modality: {"k": int, "scores": sorted np.ndarray}
        self.calibration: dict[str, dict] = {}

    # ------------------------------------------------------------------ info

    def __len__(self) -> int:
        return self._meta.num_rows

    def count(self, modality: str | None = None) -> int:
        """Live vectors, in one modality or in all."""
        if modality is None:
            return len(self)
        self._check_modality(modality)
        import pyarrow.compute as pc

        return int(pc.sum(pc.equal(self._meta["modality"], modality)).as_py() or 0)

    @property
    def metadata(self):
        """The metadata table (a ``pyarrow.Table``, one row per stored vector)."""
        return self._meta

    def info(self) -> dict:
        """A JSON-serialisable summary (what the manifest records, minus checksums)."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": {"name": self.model_name, "hash": self.model_hash},
            "dim": self.dim,
            "count": len(self),
            "counts": {m: self.count(m) for m in MODALITIES},
            "metric": "inner_product",
            "normalized": True,
            "distance": "cosine (1 - inner product)",
            "index_type": self.index_type,
            "indexes": {
                m: {
                    "type": s.kind,
                    "ntotal": s.ntotal,
                    "tombstones": s.tombstones,
                    "params": _jsonable(s.params),
                }
                for m, s in self._subs.items()
            },
            "params": _jsonable(self.params),
            "next_key": self._next_key,
            "calibration": {
                m: {"k": c["k"], "n": len(c["scores"])} for m, c in self.calibration.items()
            },
        }

    def _check_modality(self, modality: str) -> None:
        if modality not in MODALITIES:
            raise MavenError(f"modality must be one of {MODALITIES}, got {modality!r}")

    def check_model(self, model_hash: str | None) -> None:
        """Raise unless ``model_hash`` is ``None`` or the hash this index was built with."""
        if model_hash is not None and self.model_hash is not None and model_hash != self.model_hash:
            raise IndexError_(
                f"this index holds embeddings of model {self.model_name!r} ({self.model_hash}); "
                f"the vectors given come from another model ({model_hash}). Rebuild the index "
                "with that model, or query with the model the index was built with."
            )

    # ------------------------------------------------------------------ adding

    def _resolve_type(self, n: int) -> str:
        if self.index_type != "auto":
            return self.index_type
        return "flat" if n < AUTO_EXACT_MAX else "ivfpq"

    def add(
        self,
        vectors,
        metadata: Sequence[dict],
        *,
        modality: str,
        model_hash: str | None = None,
        tune: bool = True,
    ) -> np.ndarray:
        """Add vectors of one modality with one metadata dict each; returns their keys.

        The first vectors of a modality choose its index type (``"auto"``: by their number)
        and train it (IVF-PQ); approximate types are then tuned to ``target_recall``.
        ``metadata`` is one dict per vector, or a dict of columns (lists or arrow arrays);
        ``id`` is required, ``aliases``, ``type``, ``redshift``, ``survey`` are optional.
        Returns the new keys (int64, increasing; never reused after a removal).

        Raises:
            MavenError: wrong dimension, NaN, zero vectors, missing ids, count mismatch, or
                vectors from another model.
        """
        import pyarrow as pa

        self._check_modality(modality)
        self.check_model(model_hash)
        x = normalize(vectors, self.dim, f"{modality} vectors", lambda i: _id_at(metadata, i))
        cols = _meta_columns(metadata, x.shape[0])
        if x.shape[0] == 0:
            return np.zeros(0, np.int64)
        keys = np.arange(self._next_key, self._next_key + x.shape[0], dtype=np.int64)
        new_sub = modality not in self._subs
        if new_sub:
            self._subs[modality] = _Sub.create(
                self._resolve_type(x.shape[0]), self.dim, x, self.params
            )
        sub = self._subs[modality]
        sub.add(x, keys)
        self._next_key += x.shape[0]
        table = pa.table(
            {
                "key": pa.array(keys, pa.int64()),
                "id": cols["id"],
                "aliases": cols["aliases"],
                "type": cols["type"],
                "redshift": cols["redshift"],
                "survey": cols["survey"],
                "modality": pa.DictionaryArray.from_arrays(
                    pa.array(np.zeros(len(keys), np.int8)), pa.array([modality])
                ),
            }
        ).cast(_meta_schema())
        self._meta = pa.concat_tables([self._meta, table]).combine_chunks()
        self._keys = _key_view(self._meta)
        self.calibration.pop(modality, None)
        fixed = self.params["nprobe" if sub.kind == "ivfpq" else "ef_search"]
        if new_sub and tune and sub.kind != "flat" and fixed is None:
            self.tune(modality, x, keys)
        return keys

    def add_embeddings(self, embeddings: dict, *, model_hash: str | None = None) -> dict:
        """Add the output of :func:`~maven.search.embed_supernovae` (both modalities).

        Returns ``{modality: number added}``.
        """
        added = {}
        for m in MODALITIES:
            mask = np.asarray(embeddings[f"has_{m}"], bool)
            if mask.any():
                rows = [embeddings["metadata"][i] for i in np.nonzero(mask)[0]]
                keys = self.add(embeddings[m][mask], rows, modality=m, model_hash=model_hash)
                added[m] = len(keys)
        return added

    @classmethod
    def from_embeddings(
        cls,
        embeddings: dict,
        *,
        model_hash: str | None = None,
        model_name: str | None = None,
        index_type: str = "auto",
        params: dict | None = None,
    ) -> EmbeddingIndex:
        """Build an index from :func:`~maven.search.embed_supernovae` output."""
        dim = int(np.asarray(embeddings["photometry"]).shape[1])
        idx = cls(
            dim, model_hash=model_hash, model_name=model_name, index_type=index_type, params=params
        )
        idx.add_embeddings(embeddings, model_hash=model_hash)
        return idx

    def tune(
        self,
        modality: str,
        sample_vectors: np.ndarray | None = None,
        sample_keys: np.ndarray | None = None,
    ) -> dict:
        """Pick the smallest ``nprobe`` / ``efSearch`` whose recall@10 against exact search
        reaches ``target_recall`` (or 99 % of the best reachable), on up to ``tune_queries``
        queries drawn from ``sample_vectors`` with keys ``sample_keys`` (default: the stored
        vectors). Returns
        ``{"param": value, "recall10": r}``."""
        sub = self._subs[modality]
        if sub.kind == "flat":
            return {}
        if sample_vectors is None or sample_keys is None:
            sample_keys, sample_vectors = sub.reconstruct_all()
        db = normalize(sample_vectors, self.dim)
        rng = np.random.default_rng(int(self.params["seed"]))
        nq = min(int(self.params["tune_queries"]), db.shape[0])
        q = db[rng.choice(db.shape[0], nq, replace=False)]
        k = min(10, db.shape[0])
        _, truth = exact_knn(q, db, k)
        truth_keys = np.asarray(sample_keys, np.int64)[truth]
        if sub.kind == "ivfpq":
            nlist = sub.ivf().nlist
            name, grid = (
                "nprobe",
                [v for v in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512) if v <= nlist],
            )
        else:
            name, grid = "ef_search", [16, 32, 64, 128, 256, 512]
        scores = []
        for v in grid:
            sub.params[name] = v
            sub.apply_search_params()
            _, found = sub.search(q, k)
            scores.append(_recall(found, truth_keys))
        goal = min(float(self.params["target_recall"]), 0.99 * max(scores))
        best = next(i for i, s in enumerate(scores) if s >= goal)
        sub.params[name] = grid[best]
        sub.params["tuned_recall10"] = scores[best]
        sub.apply_search_params()
        return {name: grid[best], "recall10": scores[best]}

    # ------------------------------------------------------------------ removing

    def remove(self, ids: str | Iterable[str]) -> int:
        """Remove every vector of the given object ids (or aliases); returns how many."""
        import pyarrow as pa

        ids = [ids] if isinstance(ids, str) else list(ids)
        rows = self._rows_for_ids(ids)
        if not len(rows):
            return 0
        keys = self._keys[rows]
        modal = np.asarray(self._meta["modality"].take(pa.array(rows)).to_pylist())
        for m in MODALITIES:
            mk = keys[modal == m]
            if len(mk):
                self._subs[m].remove(mk)
                self.calibration.pop(m, None)
        keep = np.ones(len(self._keys), bool)
        keep[rows] = False
        self._meta = self._meta.filter(pa.array(keep)).combine_chunks()
        self._keys = _key_view(self._meta)
        for m, sub in list(self._subs.items()):
            if sub.kind == "hnsw" and sub.tombstones > _TOMBSTONE_REBUILD * max(sub.ntotal, 1):
                self._rebuild_modality(m, "hnsw")
        return int(len(rows))

    def _rows_for_ids(self, ids: Sequence[str]) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not ids:
            return np.zeros(0, np.int64)
        want = pa.array([str(i).strip() for i in ids], pa.string())
        mask = pc.is_in(self._meta["id"], value_set=want).to_numpy(zero_copy_only=False)
        rows = set(np.nonzero(mask)[0].tolist())
        aliases = self._meta["aliases"].combine_chunks()
        flat = pc.list_flatten(aliases)
        if len(flat):
            parents = pc.list_parent_indices(aliases).to_numpy()
            amask = pc.is_in(flat, value_set=want).to_numpy(zero_copy_only=False)
            rows.update(parents[amask].tolist())
        return np.array(sorted(rows), np.int64)

    def _modality_keys(self, modality: str) -> np.ndarray:
        import pyarrow.compute as pc

        mask = pc.equal(self._meta["modality"], modality).to_numpy(zero_copy_only=False)
        return self._keys[mask]

    def _rebuild_modality(self, modality: str, kind: str) -> None:
        sub = self._subs[modality]
        live = self._modality_keys(modality)
        x = sub.reconstruct(live) if len(live) else np.zeros((0, self.dim), np.float32)
        params = {k: v for k, v in sub.params.items() if k in DEFAULT_PARAMS}
        if len(live) == 0:
            del self._subs[modality]
            return
        new = _Sub.create(kind, self.dim, x, {**self.params, **params})
        new.add(x, live)
        self._subs[modality] = new

    def rebuild(self, index_type: str | None = None) -> dict:
        """Rebuild every modality (from the stored, possibly compressed, vectors), e.g. to
        change type as the index grows or to drop HNSW tombstones. Returns :meth:`info`."""
        if index_type is not None:
            if index_type not in INDEX_TYPES:
                raise MavenError(f"unknown index type {index_type!r}; choose from {INDEX_TYPES}")
            self.index_type = index_type
        for m in list(self._subs):
            n = self.count(m)
            self._rebuild_modality(m, self._resolve_type(n))
            sub = self._subs.get(m)
            if sub is not None and sub.kind != "flat":
                name = "nprobe" if sub.kind == "ivfpq" else "ef_search"
                sub.params[name] = self.params[name]
                sub.apply_search_params()
                if self.params[name] is None:
                    self.tune(m)
            self.calibration.pop(m, None)
        return self.info()

    # ------------------------------------------------------------------ searching

    def search_vectors(
        self, vectors, k: int = 10, *, modality: str, model_hash: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Raw top-``k``: ``(distances, keys)``, each (nq, k), cosine distance ascending;
        missing hits have key -1 and distance inf. No metadata (the fast path)."""
        self._check_modality(modality)
        self.check_model(model_hash)
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise MavenError(f"k must be a positive integer, got {k!r}")
        q = normalize(vectors, self.dim, "query vectors")
        nq = q.shape[0]
        dist = np.full((nq, k), np.inf, np.float32)
        keys = np.full((nq, k), -1, np.int64)
        sub = self._subs.get(modality)
        if sub is None or sub.ntotal == 0 or nq == 0:
            return dist, keys
        sim, found = sub.search(q, k + sub.tombstones)
        if sub.tombstones:
            pos = np.searchsorted(self._keys, found)
            pos = np.minimum(pos, max(len(self._keys) - 1, 0))
            live = (found >= 0) & (self._keys[pos] == found) if len(self._keys) else found < -1
            for i in range(nq):
                f, s = found[i][live[i]][:k], sim[i][live[i]][:k]
                keys[i, : len(f)], dist[i, : len(f)] = f, 1.0 - s
            return dist, keys
        kk = found.shape[1]
        keys[:, :kk] = found
        dist[:, :kk] = np.where(found >= 0, 1.0 - sim, np.inf)
        return dist, keys

    def rows(self, keys: np.ndarray) -> list[dict | None]:
        """Metadata dicts for keys (``None`` for -1 / unknown keys)."""
        import pyarrow as pa

        keys = np.asarray(keys, np.int64).ravel()
        if not len(self._keys):
            return [None] * len(keys)
        pos = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        ok = (keys >= 0) & (self._keys[pos] == keys)
        taken = self._meta.take(pa.array(pos[ok])).to_pylist() if ok.any() else []
        it = iter(taken)
        return [next(it) if o else None for o in ok]

    def search(
        self,
        vectors,
        k: int = 10,
        *,
        modality: str,
        model_hash: str | None = None,
        exclude_ids: Sequence[Sequence[str] | str | None] | None = None,
    ) -> list[list[dict]]:
        """Top-``k`` neighbours with metadata for each query vector.

        Args:
            vectors: (nq, D) or (D,) query embeddings (normalised here).
            k: neighbours per query.
            modality: which stored modality to search; a light-curve query against
                ``"spectrum"`` is cross-modal retrieval.
            model_hash: the hash of the model the queries came from (checked).
            exclude_ids: per query, object id(s) to leave out (e.g. the query itself).

        Returns:
            per query, a list of hits ``{rank, key, id, aliases, type, redshift, survey,
            modality, distance, similarity}``, nearest first.
        """
        q = normalize(vectors, self.dim, "query vectors")
        excl = [None] * q.shape[0] if exclude_ids is None else list(exclude_ids)
        if len(excl) != q.shape[0]:
            raise MavenError(f"exclude_ids has {len(excl)} entries for {q.shape[0]} queries")
        extra = max((1 if isinstance(e, str) else len(e or ())) for e in excl) if excl else 0
        # an excluded object can hold several vectors; over-fetch a little
        dist, keys = self.search_vectors(q, k + 2 * extra, modality=modality, model_hash=model_hash)
        metas = self.rows(keys)
        out = []
        for i in range(q.shape[0]):
            e = excl[i]
            skip = {e} if isinstance(e, str) else set(e or ())
            hits = []
            for j in range(keys.shape[1]):
                m = metas[i * keys.shape[1] + j]
                if m is None or m["id"] in skip or skip.intersection(m["aliases"] or ()):
                    continue
                d = float(dist[i, j])
                hits.append({"rank": len(hits) + 1, **m, "distance": d, "similarity": 1.0 - d})
                if len(hits) == k:
                    break
            out.append(hits)
        return out

    def vectors_for_ids(
        self, ids: str | Sequence[str], modality: str | None = None
    ) -> tuple[np.ndarray, list[dict]]:
        """Stored vectors of objects (approximate for ivfpq) and their metadata rows.

        ``modality=None`` takes each object's light curve when stored, else its spectrum.

        Raises:
            MavenError: an id (or alias) not in the index, or not in that modality.
        """
        ids = [str(i).strip() for i in ([ids] if isinstance(ids, str) else list(ids))]
        found = self.rows(self._keys[self._rows_for_ids(ids)])
        by_name: dict[str, dict[str, dict]] = {}
        for meta in found:
            for name in [meta["id"], *(meta["aliases"] or ())]:
                by_name.setdefault(name, {}).setdefault(meta["modality"], meta)
        rows = []
        for oid in ids:
            by_mod = by_name.get(oid)
            if not by_mod:
                raise MavenError(f"object {oid!r} is not in the index")
            mod = modality or ("photometry" if "photometry" in by_mod else "spectrum")
            if mod not in by_mod:
                raise MavenError(
                    f"object {oid!r} has no {mod} embedding in the index (has {sorted(by_mod)})"
                )
            rows.append(by_mod[mod])
        vecs = np.zeros((len(rows), self.dim), np.float32)
        for mod in MODALITIES:
            pos = [i for i, r in enumerate(rows) if r["modality"] == mod]
            if pos:
                keys = np.array([rows[i]["key"] for i in pos], np.int64)
                vecs[pos] = self._subs[mod].reconstruct(keys)
        return vecs, rows

    def search_ids(
        self,
        ids: str | Sequence[str],
        k: int = 10,
        *,
        query_modality: str | None = None,
        modality: str | None = None,
        exclude_self: bool = True,
    ) -> list[dict]:
        """Neighbours of stored objects, looked up by id or alias.

        ``query_modality``: which of the object's embeddings is the query (default: light
        curve if stored, else spectrum); ``modality``: which modality to search (default: the
        query's). Returns per id ``{query_id, query_modality, modality, hits}``.
        """
        ids = [ids] if isinstance(ids, str) else list(ids)
        vecs, metas = self.vectors_for_ids(ids, query_modality)
        out = []
        for v, meta in zip(vecs, metas, strict=True):
            target = modality or meta["modality"]
            hits = self.search(
                v, k, modality=target, exclude_ids=[meta["id"]] if exclude_self else None
            )[0]
            out.append(
                {
                    "query_id": meta["id"],
                    "query_modality": meta["modality"],
                    "modality": target,
                    "hits": hits,
                }
            )
        return out

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path) -> Path:
        """Write the index directory at ``path`` atomically (written complete beside it, then
        swapped in: :mod:`maven.utils.atomic`), holding the folder's lock, so concurrent
        builds into one folder take turns and a reader never meets a half-swapped index.

        If anything fails the previous index at ``path`` (if any) is left as it was.
        Returns ``path``.

        Raises:
            IndexError_: the index cannot be written (full disk, lock held too long).
        """
        import pyarrow.parquet as pq

        faiss = _faiss()
        path = Path(path)
        try:
            with locked(path), staged_directory(path) as tmp:
                files = []
                for m, sub in self._subs.items():
                    faiss.write_index(sub.index, str(tmp / f"{m}.faiss"))
                    files.append(f"{m}.faiss")
                pq.write_table(self._meta, tmp / "metadata.parquet")
                files.append("metadata.parquet")
                if self.calibration:
                    cal = {
                        m: {"k": c["k"], "scores": [float(s) for s in c["scores"]]}
                        for m, c in self.calibration.items()
                    }
                    (tmp / "calibration.json").write_text(json.dumps(cal))
                    files.append("calibration.json")
                manifest = self.info()
                manifest["created_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                try:
                    from maven import __version__

                    manifest["maven_version"] = __version__
                except ImportError:  # pragma: no cover
                    pass
                manifest["files"] = checksums(tmp, files)
                write_text(tmp / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
        except Exception as exc:  # a full disk, a lock held too long; faiss: RuntimeError
            raise IndexError_(f"could not save the index to {path}: {exc}") from exc
        return path

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        model_hash: str | None = None,
        verify_checksums: bool = True,
    ) -> EmbeddingIndex:
        """Read an index directory, verifying it.

        Args:
            path: the directory :meth:`save` wrote.
            model_hash: when given, the index must have been built with this model.
            verify_checksums: check each file's sha256 (sizes are always checked).

        Raises:
            IndexError_: missing/foreign/truncated/corrupted files, a manifest naming files
                outside the folder, inconsistent counts or dimension, or another model's index.
        """
        path = Path(path)
        with locked(path, shared=True):  # a writer swaps the folder only between loads
            return cls._load(path, model_hash, verify_checksums)

    @classmethod
    def _load(cls, path: Path, model_hash: str | None, verify_checksums: bool) -> EmbeddingIndex:
        import pyarrow.parquet as pq

        faiss = _faiss()
        mpath = path / "manifest.json"
        if not path.is_dir():
            raise IndexError_(f"{path}: no such index directory")
        if not mpath.is_file():
            raise IndexError_(f"{path}: not a maven index (no manifest.json)")
        try:
            manifest = json.loads(mpath.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IndexError_(f"{mpath}: unreadable manifest ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise IndexError_(f"{path}: not a maven index (manifest format is not {FORMAT!r})")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexError_(
                f"{path}: index format version {manifest.get('format_version')!r} is not "
                f"supported (this maven reads version {FORMAT_VERSION})"
            )
        try:
            files = dict(manifest["files"])
            dim = int(manifest["dim"])
            subs_info = dict(manifest["indexes"])
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexError_(f"{mpath}: incomplete manifest ({exc})") from None
        verify_files(path, files, error=IndexError_, verify_sha256=verify_checksums)
        known = {"metadata.parquet", "calibration.json", *(f"{m}.faiss" for m in MODALITIES)}
        if set(files) - known:
            raise IndexError_(
                f"{path}: the manifest lists unknown files {sorted(set(files) - known)}"
            )
        idx = cls(
            dim,
            model_hash=manifest.get("model", {}).get("hash"),
            model_name=manifest.get("model", {}).get("name"),
            index_type=manifest.get("index_type", "auto"),
            params={k: v for k, v in manifest.get("params", {}).items() if k in DEFAULT_PARAMS},
        )
        idx.check_model_on_load(model_hash, path)
        try:
            meta = pq.read_table(path / "metadata.parquet")
        except Exception as exc:
            raise IndexError_(f"{path / 'metadata.parquet'}: unreadable ({exc})") from None
        if tuple(meta.column_names) != _META_COLUMNS:
            raise IndexError_(f"{path}: metadata columns {meta.column_names} are not maven's")
        try:  # indexes written before the dictionary encoding hold plain strings
            idx._meta = meta.cast(_meta_schema()).combine_chunks()
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise IndexError_(
                f"{path / 'metadata.parquet'}: unexpected column types ({exc})"
            ) from None
        idx._keys = _key_view(idx._meta)
        if len(idx._keys) != manifest.get("count"):
            raise IndexError_(
                f"{path}: metadata has {len(idx._keys)} rows, the manifest says "
                f"{manifest.get('count')}"
            )
        for m, info in subs_info.items():
            if m not in MODALITIES or f"{m}.faiss" not in files:
                raise IndexError_(f"{path}: manifest lists unknown index {m!r}")
            try:
                fi = faiss.read_index(str(path / f"{m}.faiss"))
            except Exception as exc:
                raise IndexError_(
                    f"{path / (m + '.faiss')}: not a readable FAISS index ({exc})"
                ) from None
            if fi.d != dim or fi.ntotal != info.get("ntotal"):
                raise IndexError_(
                    f"{path / (m + '.faiss')}: dimension {fi.d} / {fi.ntotal} vectors, the "
                    f"manifest says {dim} / {info.get('ntotal')}"
                )
            idx._subs[m] = _Sub.from_faiss(
                info["type"], fi, dict(info.get("params", {})), int(info.get("tombstones", 0))
            )
            if idx.count(m) != fi.ntotal - idx._subs[m].tombstones:
                raise IndexError_(f"{path}: {m} index and metadata disagree on the count")
        default_next = int(idx._keys.max()) + 1 if len(idx._keys) else 0
        idx._next_key = int(manifest.get("next_key", default_next))
        if "calibration.json" in files:
            try:
                cal = json.loads((path / "calibration.json").read_text())
                idx.calibration = {
                    m: {"k": int(c["k"]), "scores": np.asarray(c["scores"], np.float64)}
                    for m, c in cal.items()
                }
            except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
                raise IndexError_(f"{path / 'calibration.json'}: unreadable ({exc!r})") from None
        return idx

    def check_model_on_load(self, model_hash: str | None, path: Path) -> None:
        if model_hash is not None and model_hash != self.model_hash:
            raise IndexError_(
                f"{path}: index built with model {self.model_name!r} ({self.model_hash}), "
                f"not with the requested model ({model_hash})"
            )


def _id_at(metadata, i: int):
    """The ``id`` of row ``i`` of metadata (rows or columns), ``None`` when there is none."""
    try:
        row = metadata[i] if not isinstance(metadata, dict) else {"id": metadata["id"][i]}
        return row.get("id") if isinstance(row, dict) else None
    except (IndexError, KeyError, TypeError):
        return None


def _meta_columns(metadata, n: int) -> dict:
    """Metadata as arrow columns, from a list of dicts or a dict of columns (length ``n``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(metadata, dict):
        cols = dict(metadata)
        rows = None
    else:
        rows = list(metadata)
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise MavenError(f"metadata[{i}] must be a dict, got {type(row).__name__}")
        names = ("id", "aliases", "type", "redshift", "survey")
        cols = {c: [r.get(c) for r in rows] for c in names}
    if "id" not in cols:
        raise MavenError("metadata needs an 'id' for every vector")
    length = len(cols["id"])
    if length != n:
        raise MavenError(f"{n} vectors but {length} metadata rows")
    types = {
        "id": pa.string(),
        "aliases": pa.list_(pa.string()),
        "type": pa.string(),
        "redshift": pa.float64(),
        "survey": pa.string(),
    }
    out = {}
    for name, typ in types.items():
        vals = cols.get(name)
        if vals is None:
            out[name] = pa.nulls(n, typ)
            continue
        if name == "aliases" and not isinstance(vals, pa.Array):
            vals = [list(a or []) for a in vals]
        if name == "redshift" and not isinstance(vals, pa.Array):
            vals = [None if v is None else float(v) for v in vals]
        try:
            out[name] = pa.array(vals, typ) if not isinstance(vals, pa.Array) else vals.cast(typ)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise MavenError(f"metadata column {name!r}: {exc}") from None
        if len(out[name]) != n:
            raise MavenError(f"metadata column {name!r} has {len(out[name])} values for {n}")
    ids = out["id"]
    if ids.null_count or (n and pc.min(pc.utf8_length(pc.utf8_trim_whitespace(ids))).as_py() == 0):
        bad = next(i for i, v in enumerate(ids.to_pylist()) if not v or not v.strip())
        raise MavenError(f"metadata[{bad}] needs a non-empty string 'id'")
    if pc.any(pc.not_equal(ids, pc.utf8_trim_whitespace(ids))).as_py():
        out["id"] = pc.utf8_trim_whitespace(ids)
    return out


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean |found ∩ truth| / |truth| per row."""
    hits = sum(len(np.intersect1d(f[f >= 0], t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def _jsonable(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out
