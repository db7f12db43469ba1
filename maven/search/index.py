"""A FAISS index of maven embeddings, with its metadata table: :class:`EmbeddingIndex`.

An index holds one FAISS back-end per modality (``"photometry"``, ``"spectrum"``;
:mod:`maven.search.backends`) over L2-normalised vectors, searched by inner product (= cosine
similarity), plus one metadata table (``key, id, aliases, type, redshift, survey, modality``;
:mod:`maven.search.metadata`). Every stored vector has an int64 ``key`` (unique, increasing);
an object with a light curve and a spectrum has two rows with the same ``id``. Distances
reported are cosine distances, ``1 - similarity`` (0 identical, 2 opposite).

The index type is chosen per modality when the first vectors arrive (``"auto"``: exact
``flat`` below :data:`~maven.search.backends.AUTO_EXACT_MAX` vectors, ``ivfpq`` from there).
HNSW cannot delete: removed vectors become tombstones (dropped from results, skipped by an
over-fetch) and the modality is rebuilt once tombstones pass 10 %. IVF-PQ and HNSW search
parameters (``nprobe`` / ``efSearch``) are tuned at build time against exact search on a sample
to reach ``target_recall`` (recall@10), and stored in the manifest.

:meth:`EmbeddingIndex.save` and :meth:`EmbeddingIndex.load` write and read the verified
folder of :mod:`maven.search.storage`; a bad folder raises
:class:`~maven.errors.IndexFormatError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from maven.errors import ConfigError, IndexFormatError, MavenError
from maven.search.backends import (
    AUTO_EXACT_MAX,
    BACKENDS,
    DEFAULT_PARAMS,
    INDEX_TYPES,
    Backend,
    create_backend,
)
from maven.search.embeddings import MODALITIES, Embeddings
from maven.search.metadata import (
    empty_meta,
    id_at,
    key_view,
    meta_columns,
    modality_table,
)
from maven.search.storage import (
    FORMAT,
    FORMAT_VERSION,
    read_calibration,
    read_faiss,
    read_manifest,
    read_metadata,
    write_index,
)
from maven.search.vectors import exact_knn, normalize
from maven.utils.atomic import locked

__all__ = ["EmbeddingIndex"]

_TOMBSTONE_REBUILD = 0.10


def _jsonable(d: dict) -> dict:
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in d.items()}


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
            raise ConfigError(f"dim must be a positive integer, got {dim!r}")
        if index_type not in INDEX_TYPES:
            raise ConfigError(f"unknown index type {index_type!r}; choose from {INDEX_TYPES}")
        unknown = sorted(set(params or {}) - set(DEFAULT_PARAMS))
        if unknown:
            raise ConfigError(f"unknown index params {unknown}; known: {sorted(DEFAULT_PARAMS)}")
        self.dim = int(dim)
        self.model_hash = model_hash
        self.model_name = model_name
        self.index_type = index_type
        self.params = {**DEFAULT_PARAMS, **(params or {})}
        self._backends: dict[str, Backend] = {}
        self._meta = empty_meta()
        self._keys = key_view(self._meta)  # sorted; a view of self._meta["key"]
        self._next_key = 0
        #: novelty calibration per modality: {"k": int, "scores": sorted np.ndarray}
        self.calibration: dict[str, dict] = {}

    def _set_meta(self, meta) -> None:
        """Keep the metadata table ``meta`` (in one chunk) and the key view of it."""
        self._meta = meta.combine_chunks()
        self._keys = key_view(self._meta)

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
                for m, s in self._backends.items()
            },
            "params": _jsonable(self.params),
            "next_key": self._next_key,
            "calibration": {
                m: {"k": c["k"], "n": len(c["scores"])} for m, c in self.calibration.items()
            },
        }

    def _check_modality(self, modality: str) -> None:
        if modality not in MODALITIES:
            raise ConfigError(f"modality must be one of {MODALITIES}, got {modality!r}")

    def check_model(self, model_hash: str | None) -> None:
        """Raise unless ``model_hash`` is ``None`` or the hash this index was built with."""
        if model_hash is not None and self.model_hash is not None and model_hash != self.model_hash:
            raise IndexFormatError(
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
        x = normalize(vectors, self.dim, f"{modality} vectors", lambda i: id_at(metadata, i))
        cols = meta_columns(metadata, x.shape[0])
        if x.shape[0] == 0:
            return np.zeros(0, np.int64)
        keys = np.arange(self._next_key, self._next_key + x.shape[0], dtype=np.int64)
        new_sub = modality not in self._backends
        if new_sub:
            self._backends[modality] = create_backend(
                self._resolve_type(x.shape[0]), self.dim, x, self.params
            )
        sub = self._backends[modality]
        sub.add(x, keys)
        self._next_key += x.shape[0]
        table = modality_table(keys, cols, modality)
        self._set_meta(pa.concat_tables([self._meta, table]))
        self.calibration.pop(modality, None)
        param = sub.search_param
        if new_sub and tune and param is not None and self.params[param] is None:
            self.tune(modality, x, keys)
        return keys

    def add_embeddings(self, embeddings: Embeddings, *, model_hash: str | None = None) -> dict:
        """Add :class:`~maven.search.Embeddings` (both modalities).

        Returns ``{modality: number added}``.
        """
        added = {}
        for m in MODALITIES:
            mask = np.asarray(embeddings.has[m], bool)
            if mask.any():
                rows = [embeddings.metadata[i] for i in np.nonzero(mask)[0]]
                vecs = embeddings.vectors[m][mask]
                added[m] = len(self.add(vecs, rows, modality=m, model_hash=model_hash))
        return added

    @classmethod
    def from_embeddings(
        cls,
        embeddings: Embeddings,
        *,
        model_hash: str | None = None,
        model_name: str | None = None,
        index_type: str = "auto",
        params: dict | None = None,
    ) -> EmbeddingIndex:
        """Build an index from :class:`~maven.search.Embeddings`."""
        dim = embeddings.dim
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
        sub = self._backends[modality]
        if sub.search_param is None:
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
        return sub.tune(q, truth_keys, self.params["target_recall"])

    # ------------------------------------------------------------------ removing

    def remove(self, ids: str | Iterable[str]) -> int:
        """Remove every vector of the given object ids (or aliases); returns how many."""
        import pyarrow as pa

        ids = [ids] if isinstance(ids, str) else list(ids)
        rows = self._positions_of(ids)
        if not len(rows):
            return 0
        keys = self._keys[rows]
        modal = np.asarray(self._meta["modality"].take(pa.array(rows)).to_pylist())
        for m in MODALITIES:
            mk = keys[modal == m]
            if len(mk):
                self._backends[m].remove(mk)
                self.calibration.pop(m, None)
        keep = np.ones(len(self._keys), bool)
        keep[rows] = False
        self._set_meta(self._meta.filter(pa.array(keep)))
        for m, sub in list(self._backends.items()):
            if sub.kind == "hnsw" and sub.tombstones > _TOMBSTONE_REBUILD * max(sub.ntotal, 1):
                self._rebuild_modality(m, "hnsw")
        return int(len(rows))

    def _positions_of(self, ids: Sequence[str]) -> np.ndarray:
        """Table rows of the vectors of objects with these ids or aliases, ascending."""
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

    def rows_for_ids(self, ids: Sequence[str]) -> list[dict]:
        """Metadata rows of every stored vector of the objects with these ids or aliases."""
        return self.rows(self._keys[self._positions_of(ids)])

    def reconstruct(self, keys: np.ndarray, *, modality: str) -> np.ndarray:
        """The stored vectors of ``keys`` in one modality (approximate for ivfpq), normalised,
        (len(keys), D)."""
        self._check_modality(modality)
        return self._backends[modality].reconstruct(np.asarray(keys, np.int64))

    def keys(self, modality: str) -> np.ndarray:
        """The keys of the live vectors of one modality, ascending."""
        import pyarrow.compute as pc

        mask = pc.equal(self._meta["modality"], modality).to_numpy(zero_copy_only=False)
        return self._keys[mask]

    def _rebuild_modality(self, modality: str, kind: str) -> None:
        sub = self._backends[modality]
        live = self.keys(modality)
        x = sub.reconstruct(live) if len(live) else np.zeros((0, self.dim), np.float32)
        params = {k: v for k, v in sub.params.items() if k in DEFAULT_PARAMS}
        if len(live) == 0:
            del self._backends[modality]
            return
        new = create_backend(kind, self.dim, x, {**self.params, **params})
        new.add(x, live)
        self._backends[modality] = new

    def rebuild(self, index_type: str | None = None) -> dict:
        """Rebuild every modality (from the stored, possibly compressed, vectors), e.g. to
        change type as the index grows or to drop HNSW tombstones. Returns :meth:`info`."""
        if index_type is not None:
            if index_type not in INDEX_TYPES:
                raise ConfigError(f"unknown index type {index_type!r}; choose from {INDEX_TYPES}")
            self.index_type = index_type
        for m in list(self._backends):
            n = self.count(m)
            self._rebuild_modality(m, self._resolve_type(n))
            sub = self._backends.get(m)
            if sub is not None and sub.search_param is not None:
                name = sub.search_param
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
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        q = normalize(vectors, self.dim, "query vectors")
        nq = q.shape[0]
        dist = np.full((nq, k), np.inf, np.float32)
        keys = np.full((nq, k), -1, np.int64)
        sub = self._backends.get(modality)
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
        found = self.rows_for_ids(ids)
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
                vecs[pos] = self.reconstruct(keys, modality=mod)
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
        """Write the index folder at ``path`` atomically (written complete beside it, then
        swapped in), holding the folder's lock, so concurrent builds into one folder take
        turns and a reader never meets a half-swapped index. If anything fails the previous
        index at ``path`` (if any) is left as it was. Returns ``path``.

        Raises:
            IndexFormatError: the index cannot be written (full disk, lock held too long).
        """
        return write_index(
            Path(path),
            info=self.info(),
            faiss_indexes={m: b.index for m, b in self._backends.items()},
            metadata=self._meta,
            calibration=self.calibration,
        )

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        model_hash: str | None = None,
        verify_checksums: bool = True,
    ) -> EmbeddingIndex:
        """Read an index folder, verifying it (:mod:`maven.search.storage`).

        Args:
            path: the folder :meth:`save` wrote.
            model_hash: when given, the index must have been built with this model.
            verify_checksums: check each file's sha256 (sizes are always checked).

        Raises:
            IndexFormatError: missing/foreign/truncated/corrupted files, a manifest naming
                files outside the folder, inconsistent counts or dimension, or another
                model's index.
        """
        path = Path(path)
        with locked(path, shared=True):  # a writer swaps the folder only between loads
            manifest = read_manifest(path, verify_checksums=verify_checksums)
            model = manifest.get("model", {})
            idx = cls(
                manifest["dim"],
                model_hash=model.get("hash"),
                model_name=model.get("name"),
                index_type=manifest.get("index_type", "auto"),
                params={k: v for k, v in manifest.get("params", {}).items() if k in DEFAULT_PARAMS},
            )
            if model_hash is not None and model_hash != idx.model_hash:
                raise IndexFormatError(
                    f"{path}: index built with model {idx.model_name!r} ({idx.model_hash}), "
                    f"not with the requested model ({model_hash})"
                )
            idx._set_meta(read_metadata(path, manifest))
            for m, info in manifest["indexes"].items():
                index = read_faiss(path, m, manifest)
                if info.get("type") not in BACKENDS:
                    raise IndexFormatError(f"{path}: unknown {m} index type {info.get('type')!r}")
                idx._backends[m] = BACKENDS[info["type"]](
                    index, dict(info.get("params", {})), int(info.get("tombstones", 0))
                )
                if idx.count(m) != index.ntotal - idx._backends[m].tombstones:
                    raise IndexFormatError(f"{path}: {m} index and metadata disagree on the count")
            default_next = int(idx._keys.max()) + 1 if len(idx._keys) else 0
            idx._next_key = int(manifest.get("next_key", default_next))
            idx.calibration = read_calibration(path, manifest)
        return idx
