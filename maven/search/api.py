"""Task-level functions behind ``maven embed``, ``maven index build|search|info`` and
``maven novelty``: they take parsed arguments (paths, numbers) and return JSON-serialisable
results, so the CLI only parses and prints.

Embeddings files (``maven embed``) are parquet tables, one row per object: ``id, aliases,
type, redshift, survey, has_photometry, has_spectrum, photometry, spectrum`` (the last two
fixed-size float32 lists, zeros where the modality is missing), with the model name, hash and
dimension in the schema metadata (``maven.model_name``, ``maven.model_hash``, ``maven.dim``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maven.errors import FormatError, MavenError
from maven.search.embed import MODALITIES, embed_supernovae, model_hash, model_name
from maven.search.index import EmbeddingIndex
from maven.search.novelty import calibrate, novelty_scores

__all__ = [
    "build_index",
    "embed_dataset",
    "index_info",
    "novelty_table",
    "read_embeddings",
    "search",
    "write_embeddings",
    "write_table",
]


def _model(model, processor=None, *, device: str | None = None):
    """``(model, processor, hash, name)`` from a model folder or Hub id (its towers, read by
    :func:`maven.from_pretrained`) or a loaded model (a default processor if none given)."""
    if isinstance(model, (str, Path)):
        from maven.models.loading import from_pretrained, resolve_folder

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


def write_embeddings(emb: dict, path: str | Path, *, model_hash: str, model_name: str) -> Path:
    """Write :func:`embed_supernovae` output (plus model identity) as a parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dim = emb["photometry"].shape[1]
    meta = emb["metadata"]
    cols = {
        "id": pa.array(emb["ids"], pa.string()),
        "aliases": pa.array([m["aliases"] for m in meta], pa.list_(pa.string())),
        "type": pa.array([m["type"] for m in meta], pa.string()),
        "redshift": pa.array([m["redshift"] for m in meta], pa.float64()),
        "survey": pa.array([m["survey"] for m in meta], pa.string()),
        "has_photometry": pa.array(emb["has_photometry"]),
        "has_spectrum": pa.array(emb["has_spectrum"]),
    }
    for m in MODALITIES:
        flat = pa.array(np.ascontiguousarray(emb[m], np.float32).ravel())
        cols[m] = pa.FixedSizeListArray.from_arrays(flat, dim)
    table = pa.table(cols).replace_schema_metadata(
        {"maven.model_hash": model_hash, "maven.model_name": model_name, "maven.dim": str(dim)}
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def read_embeddings(path: str | Path) -> dict:
    """Read an embeddings parquet file into :func:`embed_supernovae`'s dict, plus
    ``model_hash`` and ``model_name``.

    Raises:
        FormatError: not a maven embeddings file.
    """
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise FormatError(f"{path}: not a readable parquet file ({exc})") from None
    md = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    need = {"id", "photometry", "spectrum", "has_photometry", "has_spectrum"}
    if "maven.dim" not in md or not need <= set(table.column_names):
        raise FormatError(f"{path}: not a maven embeddings file (write one with `maven embed`)")
    dim = int(md["maven.dim"])
    out: dict[str, Any] = {"ids": table["id"].to_pylist()}
    for m in MODALITIES:
        flat = table[m].combine_chunks().flatten().to_numpy()
        out[m] = np.asarray(flat, np.float32).reshape(-1, dim)
        out[f"has_{m}"] = table[f"has_{m}"].to_numpy().astype(bool)
    cols = [c for c in ("id", "aliases", "type", "redshift", "survey") if c in table.column_names]
    out["metadata"] = table.select(cols).to_pylist()
    out["model_hash"] = md.get("maven.model_hash")
    out["model_name"] = md.get("maven.model_name")
    return out


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

    Writes ``output`` (parquet, see the module docs) when given. Returns a JSON-serialisable
    summary ``{count, photometry, spectrum, dim, model_name, model_hash, output}``; with
    ``return_embeddings`` also the arrays under ``"embeddings"`` (not JSON).
    """
    mdl, proc, h, name = _model(model, processor, device=device)
    sne = _read_records(data)
    emb = embed_supernovae(mdl, proc, sne, batch_size=batch_size, progress=progress)
    out = None
    if output is not None:
        out = str(write_embeddings(emb, output, model_hash=h, model_name=name))
    summary = {
        "count": len(sne),
        "photometry": int(emb["has_photometry"].sum()),
        "spectrum": int(emb["has_spectrum"].sum()),
        "dim": int(emb["photometry"].shape[1]),
        "model_name": name,
        "model_hash": h,
        "output": out,
    }
    if return_embeddings:
        summary["embeddings"] = emb
    return summary


def _is_embeddings_file(path) -> bool:
    if not isinstance(path, (str, Path)) or not Path(path).is_file():
        return False
    try:
        import pyarrow.parquet as pq

        md = pq.read_schema(path).metadata or {}
    except Exception:
        return False
    return b"maven.dim" in md


def _embeddings(source, model, processor, batch_size, progress) -> dict:
    """Embeddings from an embeddings file, a dict, or records/data path + model."""
    if isinstance(source, dict):
        return source
    if _is_embeddings_file(source):
        return read_embeddings(source)
    if model is None:
        raise MavenError(
            f"{source}: raw records need a model to embed them (give a model folder), or pass "
            "an embeddings file written by `maven embed`"
        )
    mdl, proc, h, name = _model(model, processor)
    sne = _read_records(source)
    emb = embed_supernovae(mdl, proc, sne, batch_size=batch_size, progress=progress)
    emb["model_hash"], emb["model_name"] = h, name
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
    h, name = emb.get("model_hash"), emb.get("model_name")
    idx = EmbeddingIndex.from_embeddings(
        emb, model_hash=h, model_name=name, index_type=index_type, params=params
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
    """The verified manifest of an index directory (raises :class:`IndexError_` if bad)."""
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
        raise MavenError("give exactly one of ids, data or vectors")
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
    idx = _open(index, emb.get("model_hash"))
    return _search_embeddings(idx, emb, k, query_modality, modality, bool(exclude_self))


def _pick(emb: dict, i: int, query_modality: str | None) -> str | None:
    if query_modality is not None:
        return query_modality if emb[f"has_{query_modality}"][i] else None
    if emb["has_photometry"][i]:
        return "photometry"
    return "spectrum" if emb["has_spectrum"][i] else None


def _search_embeddings(idx, emb, k, query_modality, modality, exclude_self) -> list[dict]:
    out = []
    for i, oid in enumerate(emb["ids"]):
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
            emb[qm][i], k, modality=target, exclude_ids=[oid] if exclude_self else None
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
        raise MavenError("give data or ids, not both")
    rows: list[dict] = []
    if data is not None:
        emb = _embeddings(data, model, processor, batch_size, False)
        idx = _open(index, emb.get("model_hash"))
        metas = emb["metadata"]
        for m in MODALITIES:
            sel = [i for i in range(len(emb["ids"])) if _pick(emb, i, modality) == m]
            if sel:
                rows += _score_rows(idx, emb[m][sel], [metas[i] for i in sel], m, k, None)
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
        raise MavenError(f"{path}: table format must be .parquet, .csv or .json")
    return path
