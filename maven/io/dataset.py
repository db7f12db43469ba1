"""maven's one on-disk dataset format: parquet shards in a fixed schema (simulated and real data).

A dataset is a folder::

    DIR/
      part-00000.parquet, part-00001.parquet, ...   one row per supernova
      maven_dataset.json                            schema version, counts, provenance

Columns (one row per supernova; units as in :mod:`maven.data.records`):

==============  =====================================  =======================================
column          arrow type                             meaning
==============  =====================================  =======================================
id              string                                 primary name
aliases         list<string>                           other names
type_raw        string (nullable)                      type as the source wrote it
type            string (nullable)                      mapped class (Ia, II, Ibc, IIn, ...)
redshift        float64 (nullable)                     heliocentric redshift
ra, dec         float64 (nullable)                     degrees
mwebv           float64 (nullable)                     Milky Way E(B-V), mag
source          string (nullable)                      reader and file of origin
meta            string                                 JSON object of extras (simulation truth)
skipped         string                                 JSON object: reason -> count dropped
lc_time         list<float64> (null: no photometry)    MJD
lc_band         list<string>                           canonical band names
lc_flux         list<float64>                          uJy (AB zero point 23.9)
lc_flux_err     list<float64>                          uJy, > 0
lc_detected     list<bool>                             False for non-detections
spectra         list<struct>                           wavelength (A, observer frame),
                                                       flux, flux_err (nullable), mjd
                                                       (nullable), instrument, flux_unit, meta
==============  =====================================  =======================================

Records round-trip exactly (float64 throughout). Load with Hugging Face ``datasets``
(:func:`load_dataset`, streaming for large sets) or iterate records (:func:`iter_supernovae`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from maven.data.records import LightCurve, Spectrum, Supernova
from maven.errors import FormatError, MavenError, ValidationError

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "write_dataset",
    "read_dataset",
    "iter_supernovae",
    "load_dataset",
    "row_to_supernova",
    "supernova_to_row",
    "is_dataset",
]

SCHEMA_VERSION = 1
MANIFEST = "maven_dataset.json"

_SPECTRUM = pa.struct(
    [
        ("wavelength", pa.list_(pa.float64())),
        ("flux", pa.list_(pa.float64())),
        ("flux_err", pa.list_(pa.float64())),
        ("mjd", pa.float64()),
        ("instrument", pa.string()),
        ("flux_unit", pa.string()),
        ("meta", pa.string()),
    ]
)

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("aliases", pa.list_(pa.string())),
        ("type_raw", pa.string()),
        ("type", pa.string()),
        ("redshift", pa.float64()),
        ("ra", pa.float64()),
        ("dec", pa.float64()),
        ("mwebv", pa.float64()),
        ("source", pa.string()),
        ("meta", pa.string()),
        ("skipped", pa.string()),
        ("lc_time", pa.list_(pa.float64())),
        ("lc_band", pa.list_(pa.string())),
        ("lc_flux", pa.list_(pa.float64())),
        ("lc_flux_err", pa.list_(pa.float64())),
        ("lc_detected", pa.list_(pa.bool_())),
        ("spectra", pa.list_(_SPECTRUM)),
    ],
    metadata={"maven_schema_version": str(SCHEMA_VERSION)},
)


def _dumps(obj: dict, sn_id: str, field: str) -> str:
    try:
        return json.dumps(obj, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"not JSON-serialisable: {exc}", object_id=sn_id, field=field
        ) from None


def supernova_to_row(sn: Supernova) -> dict:
    """A :class:`Supernova` as one row (a dict of plain Python values) of :data:`SCHEMA`."""
    lc = sn.lightcurve
    row = {
        "id": sn.id,
        "aliases": list(sn.aliases),
        "type_raw": sn.type_raw,
        "type": sn.type,
        "redshift": sn.redshift,
        "ra": sn.ra,
        "dec": sn.dec,
        "mwebv": sn.mwebv,
        "source": sn.source,
        "meta": _dumps(sn.meta, sn.id, "meta"),
        "skipped": _dumps(sn.skipped, sn.id, "skipped"),
        "lc_time": None if lc is None else lc.time.tolist(),
        "lc_band": None if lc is None else lc.band.tolist(),
        "lc_flux": None if lc is None else lc.flux.tolist(),
        "lc_flux_err": None if lc is None else lc.flux_err.tolist(),
        "lc_detected": None if lc is None else lc.detected.tolist(),
        "spectra": [
            {
                "wavelength": s.wavelength.tolist(),
                "flux": s.flux.tolist(),
                "flux_err": None if s.flux_err is None else s.flux_err.tolist(),
                "mjd": s.mjd,
                "instrument": s.instrument,
                "flux_unit": s.flux_unit,
                "meta": _dumps(s.meta, sn.id, f"spectra[{i}].meta"),
            }
            for i, s in enumerate(sn.spectra)
        ],
    }
    return row


def _opt(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def row_to_supernova(row: dict) -> Supernova:
    """One dataset row (from pyarrow or ``datasets``) -> a validated :class:`Supernova`."""
    sn_id = row.get("id")
    try:
        lc = None
        if row.get("lc_time") is not None:
            lc = LightCurve(
                np.asarray(row["lc_time"], dtype=np.float64),
                np.asarray(row["lc_band"], dtype=object),
                np.asarray(row["lc_flux"], dtype=np.float64),
                np.asarray(row["lc_flux_err"], dtype=np.float64),
                np.asarray(row["lc_detected"], dtype=bool),
                object_id=sn_id,
            )
        spectra = [
            Spectrum(
                np.asarray(s["wavelength"], dtype=np.float64),
                np.asarray(s["flux"], dtype=np.float64),
                None if s.get("flux_err") is None else np.asarray(s["flux_err"], np.float64),
                mjd=_opt(s.get("mjd")),
                instrument=s.get("instrument"),
                flux_unit=s.get("flux_unit") or "erg/s/cm2/A",
                meta=json.loads(s.get("meta") or "{}"),
                object_id=sn_id,
            )
            for s in (row.get("spectra") or [])
        ]
        return Supernova(
            id=sn_id,
            lightcurve=lc,
            spectra=spectra,
            aliases=list(row.get("aliases") or []),
            type_raw=row.get("type_raw"),
            type=row.get("type"),
            redshift=_opt(row.get("redshift")),
            ra=_opt(row.get("ra")),
            dec=_opt(row.get("dec")),
            mwebv=_opt(row.get("mwebv")),
            source=row.get("source"),
            meta=json.loads(row.get("meta") or "{}"),
            skipped=json.loads(row.get("skipped") or "{}"),
        )
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise FormatError(f"dataset row {sn_id!r} is malformed: {exc!r}") from None


def write_dataset(
    supernovae: Iterable[Supernova],
    out_dir: str | Path,
    *,
    shard_size: int = 5000,
    prefix: str = "part",
    provenance: dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Write supernovae as parquet shards plus a manifest; returns the folder.

    Args:
        supernovae: records (any iterable; consumed once).
        out_dir: target folder, created if missing.
        shard_size: rows per parquet file.
        prefix: shard file prefix (``part-00000.parquet``); simulator shards use their own.
        provenance: JSON-serialisable description stored in the manifest.
        overwrite: replace existing shards with the same prefix.

    Raises:
        MavenError: the folder holds shards already (and ``overwrite`` is false), or a record
            cannot be serialised.
    """
    if shard_size < 1:
        raise MavenError(f"shard_size must be >= 1, got {shard_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    existing = sorted(out.glob(f"{prefix}-*.parquet"))
    if existing and not overwrite:
        raise MavenError(f"{out} already holds {len(existing)} '{prefix}' shards (overwrite=True?)")
    for p in existing:
        p.unlink()
    n_rows, n_shards, rows = 0, 0, []
    counts: dict[str, int] = {}

    def flush() -> None:
        nonlocal n_shards, rows
        if not rows:
            return
        table = pa.Table.from_pylist(rows, schema=SCHEMA)
        tmp = out / f".{prefix}-{n_shards:05d}.parquet.tmp"
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(out / f"{prefix}-{n_shards:05d}.parquet")
        n_shards += 1
        rows = []

    for sn in supernovae:
        rows.append(supernova_to_row(sn))
        counts[sn.type or "unknown"] = counts.get(sn.type or "unknown", 0) + 1
        n_rows += 1
        if len(rows) >= shard_size:
            flush()
    flush()
    manifest = {
        "format": "maven-dataset",
        "schema_version": SCHEMA_VERSION,
        "n_supernovae": n_rows,
        "n_shards": n_shards,
        "counts_per_type": dict(sorted(counts.items())),
        "provenance": provenance or {},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return out


def is_dataset(path: str | Path) -> bool:
    """True for a maven parquet dataset folder or a single parquet file of the schema."""
    p = Path(path)
    if p.is_dir():
        return (p / MANIFEST).exists() or any(p.glob("*.parquet"))
    return p.suffix == ".parquet"


def _parquet_files(path: Path) -> list[Path]:
    files = [path] if path.is_file() else sorted(path.glob("*.parquet"))
    if not files:
        raise FormatError(f"{path}: no parquet files")
    return files


def iter_supernovae(path: str | Path, *, batch_size: int = 256) -> Iterator[Supernova]:
    """Stream records from a dataset folder or one parquet file (constant memory)."""
    for f in _parquet_files(Path(path)):
        try:
            pf = pq.ParquetFile(f)
        except (OSError, pa.ArrowInvalid) as exc:
            raise FormatError(f"{f}: not a readable parquet file: {exc}") from None
        missing = {"id", "lc_time", "spectra"} - set(pf.schema_arrow.names)
        if missing:
            raise FormatError(f"{f}: not a maven dataset (missing columns {sorted(missing)})")
        for batch in pf.iter_batches(batch_size=batch_size):
            for row in batch.to_pylist():
                yield row_to_supernova(row)


def read_dataset(path: str | Path) -> list[Supernova]:
    """All records of a dataset folder or parquet file."""
    return list(iter_supernovae(path))


def load_dataset(path: str | Path, *, streaming: bool = False, split: str = "train"):
    """The dataset as a Hugging Face ``datasets.Dataset`` (or ``IterableDataset`` if streaming).

    Rows are plain dicts in :data:`SCHEMA`; :func:`row_to_supernova` turns one into a record.
    """
    import datasets

    files = [str(f) for f in _parquet_files(Path(path))]
    return datasets.load_dataset(
        "parquet", data_files={split: files}, split=split, streaming=streaming
    )
