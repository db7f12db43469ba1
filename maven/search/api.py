"""Task-level functions behind ``maven embed``, ``maven index build|search|info`` and
``maven novelty``: they take parsed arguments (paths, numbers) and return JSON-serialisable
results, so the CLI only parses and prints. Embeddings files (``maven embed``) are
:meth:`Embeddings.to_parquet <maven.search.Embeddings.to_parquet>` tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from maven.errors import ConfigError, MavenError
from maven.search.embed import embed_supernovae, model_hash, model_name
from maven.search.embeddings import MODALITIES, Embeddings
from maven.search.index import EmbeddingIndex
from maven.search.novelty import calibrate, novelty_scores

__all__ = ["build_index", "embed_dataset", "index_info", "novelty_table", "search", "write_table"]


def _model(model, processor=None, *, device: str | None = None):
    """``(model, processor, hash, name)`` from a model folder or Hub id (its towers, read by
    :func:`maven.from_pretrained`) or a loaded model (a default processor if none given)."""
    if isinstance(model, (str, Path)):
        from maven.models.hub import resolve_folder
        from maven.models.loading import from_pretrained

        folder = resolve_folder(model)
        h, name = model_hash(folder), model_name(model)
        model, saved = from_pretrained(folder, task="towers")
        processor = saved if processor is None else processor
    else:
        from maven.models import MavenProcessor

        h, name = model_hash(model), model_name(model)
        processor = MavenProcessor() if processor is None else processor
    if device is not None:
        model = model.to(device)
    return model, processor, h, name


def _read_records(data) -> list:
    from maven.io import read_supernovae

    if isinstance(data, (str, Path)):
        return list(read_supernovae(data))
    return list(data)


def embed_dataset(
    model,
    data,
    output: str | Path | None = None,
    *,
    processor=None,
    batch_size: int = 256,
    progress: bool = True,
    device: str | None = None,
    return_embeddings: bool = False,
) -> dict:
    """Embed a data set (a path ``read_supernovae`` reads, or records) with a model.

    Writes ``output`` (:meth:`Embeddings.to_parquet`) when given. Returns a JSON-serialisable
    summary ``{count, photometry, spectrum, dim, model_name, model_hash, output}``; with
    ``return_embeddings`` also the :class:`Embeddings` under ``"embeddings"`` (not JSON).
    """
    mdl, proc, h, name = _model(model, processor, device=device)
    sne = _read_records(data)
    emb = embed_supernovae(mdl, proc, sne, batch_size=batch_size, progress=progress)
    emb.model_hash, emb.model_name = h, name
    out = None if output is None else str(emb.to_parquet(output))
    summary = {
        "count": len(sne),
        "photometry": int(emb.has["photometry"].sum()),
        "spectrum": int(emb.has["spectrum"].sum()),
        "dim": emb.dim,
        "model_name": name,
        "model_hash": h,
        "output": out,
    }
    if return_embeddings:
        summary["embeddings"] = emb
    return summary


def _embeddings(source, model, processor, batch_size, progress) -> Embeddings:
    """Embeddings given, read from an embeddings file, or of records / a data path + model."""
    if isinstance(source, Embeddings):
        return source
    if Embeddings.is_parquet(source):
        return Embeddings.from_parquet(source)
    if model is None:
        raise ConfigError(
            f"{source}: raw records need a model to embed them (give a model folder), or pass "
            "an embeddings file written by `maven embed`"
        )
    mdl, proc, h, name = _model(model, processor)
    sne = _read_records(source)
    emb = embed_supernovae(mdl, proc, sne, batch_size=batch_size, progress=progress)
    emb.model_hash, emb.model_name = h, name
    return emb


def build_index(
    source,
    output: str | Path,
    *,
    model=None,
    processor=None,
    index_type: str = "auto",
    params: dict | None = None,
    novelty_k: int | None = 10,
    batch_size: int = 256,
    progress: bool = True,
) -> dict:
    """Build an index directory from an embeddings file (``maven embed``) or from data plus
    a model (embedded here), calibrate novelty (``novelty_k``; ``None`` skips) and save it
    atomically. Returns the manifest (a dict)."""
    emb = _embeddings(source, model, processor, batch_size, progress)
    idx = EmbeddingIndex.from_embeddings(
        emb,
        model_hash=emb.model_hash,
        model_name=emb.model_name,
        index_type=index_type,
        params=params,
    )
    if len(idx) == 0:
        raise MavenError("nothing to index: no object has a usable light curve or spectrum")
    if novelty_k:
        for m in MODALITIES:
            if idx.count(m) >= 2:
                calibrate(idx, modality=m, k=novelty_k)
    idx.save(output)
    return index_info(output, verify_checksums=False)


def index_info(path: str | Path, *, verify_checksums: bool = True) -> dict:
    """The verified manifest of an index directory.

    Raises:
        IndexFormatError: a bad index (see :meth:`EmbeddingIndex.load`).
    """
    EmbeddingIndex.load(path, verify_checksums=verify_checksums)
    return json.loads((Path(path) / "manifest.json").read_text())


def _open(index, model_hash_: str | None = None) -> EmbeddingIndex:
    if isinstance(index, EmbeddingIndex):
        index.check_model(model_hash_)
        return index
    return EmbeddingIndex.load(index, model_hash=model_hash_)


def search(
    index,
    *,
    ids: Sequence[str] | str | None = None,
    data=None,
    vectors=None,
    model=None,
    processor=None,
    k: int = 10,
    query_modality: str | None = None,
    modality: str | None = None,
    exclude_self: bool | None = None,
    batch_size: int = 256,
) -> list[dict]:
    """Nearest neighbours, by stored object id, by raw records / files, or by vector.

    Args:
        index: an index directory or an :class:`EmbeddingIndex`.
        ids: object ids or aliases in the index (their stored embeddings are the queries).
        data: records, a data path, or an embeddings file; raw records need ``model`` (the
            index's own model: another model is refused).
        vectors: (nq, D) query embeddings (``query_modality`` says which tower made them,
            default photometry).
        query_modality: which embedding of each object to query with (default: light curve
            when there is one, else spectrum).
        modality: which stored modality to search (default: the query's); the other one is
            cross-modal retrieval (a light curve's nearest spectra and the reverse).
        exclude_self: leave the query object out of its hits (default: True for ``ids``).

    Returns:
        per query ``{query_id, query_modality, modality, hits: [{rank, id, aliases, type,
        redshift, survey, modality, distance, similarity, key}]}``.
    """
    given = sum(x is not None for x in (ids, data, vectors))
    if given != 1:
        raise ConfigError("give exactly one of ids, data or vectors")
    if ids is not None:
        idx = _open(index)
        return idx.search_ids(
            ids,
            k,
            query_modality=query_modality,
            modality=modality,
            exclude_self=True if exclude_self is None else exclude_self,
        )
    if vectors is not None:
        idx = _open(index)
        qm = query_modality or "photometry"
        target = modality or qm
        hits = idx.search(np.asarray(vectors, np.float32), k, modality=target)
        return [
            {"query_id": None, "query_modality": qm, "modality": target, "hits": h} for h in hits
        ]
    emb = _embeddings(data, model, processor, batch_size, False)
    idx = _open(index, emb.model_hash)
    return _search_embeddings(idx, emb, k, query_modality, modality, bool(exclude_self))


def _pick(emb: Embeddings, i: int, query_modality: str | None) -> str | None:
    if query_modality is not None:
        return query_modality if emb.has[query_modality][i] else None
    if emb.has["photometry"][i]:
        return "photometry"
    return "spectrum" if emb.has["spectrum"][i] else None


def _search_embeddings(idx, emb, k, query_modality, modality, exclude_self) -> list[dict]:
    out = []
    for i, oid in enumerate(emb.ids):
        qm = _pick(emb, i, query_modality)
        if qm is None:
            out.append(
                {
                    "query_id": oid,
                    "query_modality": query_modality,
                    "modality": modality,
                    "hits": [],
                    "error": "no usable embedding in that modality",
                }
            )
            continue
        target = modality or qm
        hits = idx.search(
            emb.vectors[qm][i], k, modality=target, exclude_ids=[oid] if exclude_self else None
        )[0]
        out.append({"query_id": oid, "query_modality": qm, "modality": target, "hits": hits})
    return out


def novelty_table(
    index,
    data=None,
    *,
    ids: Sequence[str] | None = None,
    model=None,
    processor=None,
    k: int = 10,
    modality: str | None = None,
    output: str | Path | None = None,
    batch_size: int = 256,
) -> list[dict]:
    """Rank a set of objects by novelty against the index (most novel first).

    Args:
        index: an index directory or an :class:`EmbeddingIndex` (the reference set).
        data: records, a data path (with ``model``) or an embeddings file; or
        ids: objects already in the index (each scored leave-one-out), default all of them.
        modality: reference modality; default per object: its light curve when it has one.
        output: write the table there (``.parquet``, ``.csv`` or ``.json``).

    Returns:
        rows ``{rank, id, modality, score, percentile, nearest_id, nearest_distance, type,
        redshift, survey}`` sorted by decreasing score.
    """
    if data is not None and ids is not None:
        raise ConfigError("give data or ids, not both")
    rows: list[dict] = []
    if data is not None:
        emb = _embeddings(data, model, processor, batch_size, False)
        idx = _open(index, emb.model_hash)
        metas = emb.metadata
        for m in MODALITIES:
            sel = [i for i in range(len(emb)) if _pick(emb, i, modality) == m]
            if sel:
                rows += _score_rows(idx, emb.vectors[m][sel], [metas[i] for i in sel], m, k, None)
    else:
        idx = _open(index)
        if ids is None:  # every object in the index, one row each
            ids = list(dict.fromkeys(idx.metadata["id"].to_pylist()))
        vecs, metas = idx.vectors_for_ids(list(ids), modality)
        for m in MODALITIES:
            sel = [i for i, meta in enumerate(metas) if meta["modality"] == m]
            if sel:
                ms = [metas[i] for i in sel]
                rows += _score_rows(idx, vecs[sel], ms, m, k, [mm["id"] for mm in ms])
    rows.sort(key=lambda r: -np.inf if r["score"] is None else -r["score"])
    for i, r in enumerate(rows):
        r["rank"] = i + 1
    if output is not None:
        write_table(rows, output)
    return rows


def _score_rows(idx, vecs, metas, m, k, exclude) -> list[dict]:
    res = novelty_scores(idx, vecs, modality=m, k=k, exclude_ids=exclude)
    out = []
    for j, meta in enumerate(metas):
        s = float(res["score"][j])
        out.append(
            {
                "rank": 0,
                "id": meta["id"],
                "modality": m,
                "score": None if np.isnan(s) else s,
                "percentile": float(res["percentile"][j]),
                "nearest_id": res["nearest_id"][j],
                "nearest_distance": float(res["nearest_distance"][j]),
                "type": meta.get("type"),
                "redshift": meta.get("redshift"),
                "survey": meta.get("survey"),
            }
        )
    return out


def write_table(rows: list[dict], path: str | Path) -> Path:
    """Write rows as ``.parquet``, ``.csv`` or ``.json`` (by suffix)."""
    import pyarrow as pa

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".json":
        path.write_text(json.dumps(rows, indent=1) + "\n")
        return path
    table = pa.Table.from_pylist(rows)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif suffix == ".csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, path)
    else:
        raise ConfigError(f"{path}: table format must be .parquet, .csv or .json")
    return path
