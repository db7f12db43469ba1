"""maven's one on-disk dataset format: parquet shards in a fixed schema (simulated and real data).

A dataset is a folder::

    DIR/
      part-00000.parquet, part-00001.parquet, ...   one row per supernova
      maven_dataset.json                            schema version, counts, provenance, and
                                                    per shard: bytes, sha256, rows

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

Integrity: a folder is written complete beside its target and swapped in atomically
(:mod:`maven.utils.atomic`), so a failed or killed write leaves the previous dataset as it
was. The manifest records each shard's size, sha256 and row count; every load checks the
size and sha256 (and that no unlisted shard lies in the folder), and parquet page checksums
guard single shards. Row values are validated as records are: a null detection flag or a
band name that is not canonical raises, naming the file, object and field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from maven.data.bands import list_bands
from maven.data.records import LightCurve, Spectrum, Supernova
from maven.errors import ConfigError, FormatError, MavenError, ValidationError
from maven.utils.atomic import (
    checksums,
    locked,
    sha256_file,
    staged_directory,
    verify_files,
    write_text,
)

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
    "write_manifest",
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
    except (TypeError, ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise ValidationError(
            f"not JSON-serialisable: {why}", object_id=sn_id, field=field
        ) from None


def _loads(text, sn_id, field: str, kind: type = dict):
    """A JSON column of a row, which must decode to ``kind``."""
    try:
        value = json.loads(text or ("{}" if kind is dict else "null"))
    except (json.JSONDecodeError, TypeError, RecursionError) as exc:
        raise ValidationError(f"not valid JSON: {exc!r}", object_id=sn_id, field=field) from None
    if not isinstance(value, kind):
        raise ValidationError(
            f"must hold a JSON {kind.__name__}, got {type(value).__name__}",
            object_id=sn_id,
            field=field,
        )
    return value


@lru_cache(maxsize=1)
def _canonical_bands() -> frozenset[str]:
    return frozenset(list_bands())


def _check_bands(bands, sn_id, field: str) -> None:
    unknown = set(bands) - _canonical_bands()
    if unknown:
        raise ValidationError(
            f"{sorted(map(str, unknown))[:5]} are not canonical band names "
            "(see maven.data.bands.list_bands())",
            object_id=sn_id,
            field=field,
        )


def supernova_to_row(sn: Supernova) -> dict:
    """A :class:`Supernova` as one row (a dict of plain Python values) of :data:`SCHEMA`."""
    lc = sn.lightcurve
    if lc is not None:
        _check_bands(lc.bands, sn.id, "lightcurve.band")
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
            detected = row["lc_detected"]
            if detected is None or any(d is None for d in detected):
                raise ValidationError("null detection flag", object_id=sn_id, field="lc_detected")
            _check_bands(row["lc_band"] or [], sn_id, "lc_band")
            lc = LightCurve(
                np.asarray(row["lc_time"], dtype=np.float64),
                np.asarray(row["lc_band"], dtype=object),
                np.asarray(row["lc_flux"], dtype=np.float64),
                np.asarray(row["lc_flux_err"], dtype=np.float64),
                np.asarray(detected, dtype=bool),
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
                meta=_loads(s.get("meta"), sn_id, f"spectra[{i}].meta"),
                object_id=sn_id,
            )
            for i, s in enumerate(row.get("spectra") or [])
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
            meta=_loads(row.get("meta"), sn_id, "meta"),
            skipped=_loads(row.get("skipped"), sn_id, "skipped"),
        )
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        if isinstance(exc, MavenError):
            raise
        raise FormatError(f"dataset row {sn_id!r} is malformed: {exc!r}") from None


def _table(rows: list[dict]) -> pa.Table:
    """Rows as an arrow table; a value the schema cannot hold raises naming object and field."""
    try:
        return pa.Table.from_pylist(rows, schema=SCHEMA)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        pass
    for row in rows:
        for field in SCHEMA:
            try:
                pa.array([row.get(field.name)], type=field.type)
            except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
                raise ValidationError(
                    f"cannot be stored as {field.type}: {exc}",
                    object_id=row.get("id"),
                    field=field.name,
                ) from None
    raise ValidationError("rows cannot be stored in the dataset schema")  # pragma: no cover


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

    The folder is written complete beside ``out_dir`` and then swapped in, so when anything
    fails (a record that cannot be serialised, a full disk, a kill) the previous dataset at
    ``out_dir`` is left exactly as it was. Concurrent writers of one folder take turns.

    Args:
        supernovae: records (any iterable; consumed once).
        out_dir: target folder, created if missing; it must hold nothing but a dataset.
        shard_size: rows per parquet file.
        prefix: shard file prefix (``part-00000.parquet``); simulator shards use their own.
        provenance: JSON-serialisable description stored in the manifest.
        overwrite: replace the dataset already in ``out_dir``.

    Raises:
        MavenError: the folder holds a dataset already (and ``overwrite`` is false) or other
            files, or a record cannot be serialised (:class:`ValidationError` naming it).
        StorageError: the disk is full or the folder cannot be written.
    """
    if shard_size < 1:
        raise ConfigError(f"shard_size must be >= 1, got {shard_size}")
    out = Path(out_dir)
    with locked(out):
        if out.exists():
            if not out.is_dir():
                raise FormatError(f"{out} is a file, not a dataset folder")
            entries = list(out.iterdir())
            shards = [e for e in entries if e.suffix == ".parquet"]
            foreign = sorted(
                e.name
                for e in entries
                if e.suffix != ".parquet"
                and e.name != MANIFEST
                and not (e.name.startswith(".") and e.is_file())
            )
            if shards and not overwrite:
                raise MavenError(f"{out} already holds {len(shards)} shards (overwrite=True?)")
            if foreign:
                raise MavenError(
                    f"{out} holds other files ({', '.join(foreign[:5])}): a dataset is written "
                    "to a folder of its own"
                )
        with staged_directory(out) as tmp:
            n_shards, rows = 0, []

            def flush() -> None:
                nonlocal n_shards, rows
                if rows:
                    pq.write_table(
                        _table(rows),
                        tmp / f"{prefix}-{n_shards:05d}.parquet",
                        compression="zstd",
                        write_page_checksum=True,
                    )
                    n_shards, rows = n_shards + 1, []

            for sn in supernovae:
                rows.append(supernova_to_row(sn))
                if len(rows) >= shard_size:
                    flush()
            flush()
            write_manifest(tmp, provenance=provenance)
    return out


def write_manifest(out_dir: str | Path, *, provenance: dict | None = None) -> Path:
    """Write the manifest of a folder of shards (``*.parquet``): counts per type (read from
    the files), and each shard's bytes, sha256 and rows. Returns its path."""
    out = Path(out_dir)
    files = sorted(f.name for f in out.glob("*.parquet"))
    counts: dict[str, int] = {}
    rows: dict[str, int] = {}
    for name in files:
        types = pq.read_table(out / name, columns=["type"]).column("type").to_pylist()
        rows[name] = len(types)
        for t in types:
            counts[t or "unknown"] = counts.get(t or "unknown", 0) + 1
    listed = checksums(out, files)
    for name in files:
        listed[name]["rows"] = rows[name]
    manifest = {
        "format": "maven-dataset",
        "schema_version": SCHEMA_VERSION,
        "n_supernovae": sum(rows.values()),
        "n_shards": len(files),
        "counts_per_type": dict(sorted(counts.items())),
        "files": listed,
        "provenance": provenance or {},
    }
    return write_text(out / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))


def is_dataset(path: str | Path) -> bool:
    """True for a maven parquet dataset folder or a single parquet file of the schema."""
    p = Path(path)
    if p.is_dir():
        return (p / MANIFEST).exists() or any(p.glob("*.parquet"))
    return p.suffix == ".parquet"


def _manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FormatError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict):
        raise FormatError(f"{path}: the manifest is not a JSON object")
    return manifest


def _shards(path: Path) -> tuple[list[Path], dict]:
    """The shards of a dataset folder (or one shard) and their manifest records
    (``{name: {"bytes", "sha256", "rows"}}``, empty for manifests without checksums).

    Checked here: the folder holds exactly the listed shards, of the listed sizes; for older
    manifests, the number of shards. Checksums are checked as each shard is opened.
    """
    whole = path.is_dir()
    folder = path if whole else path.parent
    files = sorted(path.glob("*.parquet")) if whole else [path]
    if not path.exists():
        raise FormatError(f"{path}: no parquet files (missing)")
    if not files:  # also what a reader sees of a folder swapped out by a concurrent write
        raise FormatError(f"{path}: no parquet files (missing, or replaced while read: read again)")
    manifest = _manifest(folder)
    if manifest is None:
        return files, {}
    listed = manifest.get("files")
    if listed is None:
        n = manifest.get("n_shards")
        if whole and n is not None and n != len(files):
            raise FormatError(
                f"{folder}: the manifest lists {n} shards but the folder holds {len(files)} "
                "(an interrupted write?)"
            )
        return files, {}
    if not isinstance(listed, dict):
        raise FormatError(f"{folder / MANIFEST}: 'files' is not a mapping")
    names = {f.name for f in files}
    if whole and names != set(listed):
        extra, missing = sorted(names - set(listed)), sorted(set(listed) - names)
        raise FormatError(
            f"{folder}: shards differ from its manifest (unlisted {extra[:5]}, missing "
            f"{missing[:5]})"
        )
    records = {n: r for n, r in listed.items() if n in names}
    verify_files(folder, records, error=FormatError, verify_sha256=False)
    return files, records


def iter_supernovae(path: str | Path, *, batch_size: int = 256) -> Iterator[Supernova]:
    """Stream records from a dataset folder or one parquet file (constant memory).

    Raises:
        FormatError: a shard that fails the manifest's checks (set, size, sha256) or its page
            checksums, or a row that is not a valid record (naming file, object and field).
    """
    files, records = _shards(Path(path))
    for f in files:
        try:
            fh = open(f, "rb")  # one handle: the bytes checked are the bytes read
        except OSError as exc:
            raise FormatError(f"{f}: cannot read: {exc.strerror or exc}") from None
        with fh:
            if f.name in records and sha256_file(fh) != records[f.name].get("sha256"):
                raise FormatError(f"{f}: sha256 checksum mismatch (corrupted or replaced)")
            fh.seek(0)
            yield from _rows(f, fh, batch_size)


def _rows(f: Path, fh, batch_size: int) -> Iterator[Supernova]:
    n = 0
    try:
        pf = pq.ParquetFile(fh, page_checksum_verification=True)
        missing = {"id", "lc_time", "spectra"} - set(pf.schema_arrow.names)
        if missing:
            raise FormatError(f"{f}: not a maven dataset (missing columns {sorted(missing)})")
        for batch in pf.iter_batches(batch_size=batch_size):
            for row in batch.to_pylist():
                try:
                    sn = row_to_supernova(row)
                except MavenError as exc:
                    raise FormatError(f"{f}: row {n}: {exc}") from None
                yield sn
                n += 1
    except (OSError, ValueError, pa.ArrowException) as exc:  # damaged bytes
        if isinstance(exc, MavenError):
            raise
        raise FormatError(f"{f}: not a readable parquet file (after row {n}): {exc}") from None


def read_dataset(path: str | Path) -> list[Supernova]:
    """All records of a dataset folder or parquet file."""
    return list(iter_supernovae(path))


def load_dataset(path: str | Path, *, streaming: bool = False, split: str = "train"):
    """The dataset as a Hugging Face ``datasets.Dataset`` (or ``IterableDataset`` if streaming).

    Rows are plain dicts in :data:`SCHEMA`; :func:`row_to_supernova` turns one into a record.
    The shards are checked against the manifest (sizes and sha256) first.

    Raises:
        FormatError: a shard that fails the manifest's checks.
    """
    import datasets

    files, records = _shards(Path(path))
    verify_files(files[0].parent, records, error=FormatError)
    return datasets.load_dataset(
        "parquet", data_files={split: [str(f) for f in files]}, split=split, streaming=streaming
    )
