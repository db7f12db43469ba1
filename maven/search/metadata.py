"""The metadata table of an index: one row per stored vector, ``key, id, aliases, type,
redshift, survey, modality``, and the checks that turn user metadata into its columns."""

from __future__ import annotations

import numpy as np

from maven.errors import MavenError, ValidationError

__all__ = [
    "META_COLUMNS",
    "empty_meta",
    "id_at",
    "key_view",
    "meta_columns",
    "meta_schema",
    "modality_table",
]

META_COLUMNS = ("key", "id", "aliases", "type", "redshift", "survey", "modality")


def meta_schema():
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


def empty_meta():
    """An empty metadata table."""
    return meta_schema().empty_table()


def key_view(meta) -> np.ndarray:
    """The ``key`` column as int64: a view without a copy when the table has one chunk (as
    every table an index keeps does, after ``combine_chunks``)."""
    col = meta.column("key")
    if col.num_chunks == 0:
        return np.zeros(0, np.int64)
    return (col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()).to_numpy()


def id_at(metadata, i: int):
    """The ``id`` of row ``i`` of metadata (rows or columns), ``None`` when there is none."""
    try:
        row = metadata[i] if not isinstance(metadata, dict) else {"id": metadata["id"][i]}
        return row.get("id") if isinstance(row, dict) else None
    except (IndexError, KeyError, TypeError):
        return None


def meta_columns(metadata, n: int) -> dict:
    """Metadata as arrow columns, from a list of dicts or a dict of columns (length ``n``).

    Raises:
        MavenError: a row that is not a dict, a missing or empty ``id``, a length that is not
            ``n``, or a column of the wrong type.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(metadata, dict):
        cols = dict(metadata)
    else:
        rows = list(metadata)
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise ValidationError(f"metadata[{i}] must be a dict, got {type(row).__name__}")
        names = ("id", "aliases", "type", "redshift", "survey")
        cols = {c: [r.get(c) for r in rows] for c in names}
    if "id" not in cols:
        raise ValidationError("metadata needs an 'id' for every vector")
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
        raise ValidationError(f"metadata[{bad}] needs a non-empty string 'id'")
    if pc.any(pc.not_equal(ids, pc.utf8_trim_whitespace(ids))).as_py():
        out["id"] = pc.utf8_trim_whitespace(ids)
    return out


def modality_table(keys: np.ndarray, cols: dict, modality: str):
    """The metadata rows of new vectors of one ``modality`` (``cols`` from
    :func:`meta_columns`), in :func:`meta_schema`."""
    import pyarrow as pa

    return pa.table(
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
    ).cast(meta_schema())
