"""ZTF light curves: Bright Transient Survey CSVs and forced-photometry flux tables.

* **BTS CSV** (``time,mag,magerr,band`` with ``band`` in g/R, time in MJD; the layout Maven's
  code reads): alert photometry, all points are detections. Object metadata (IAU name, type,
  redshift, position, MW A_V) come from a ``bts.csv`` catalogue next to the ``light-curves``
  folder (or in the same folder), looked up by the file's ZTF name.
* **Forced photometry** (``time,band,flux,flux_err,zp,zpsys`` with time in JD or MJD and
  bands like ``p48g``/``ztfr``; ZTF SN Ia DR1): fluxes are rescaled from their per-point zero
  point to uJy (read as an sncosmo-style table, :mod:`maven.io.tables`); a point counts as
  detected when ``flux >= 3 flux_err``. Metadata come from a
  DR1-style sample file (``ZTFID,z,ra,dec,type,...``) next to the ``lightcurves`` folder.
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from pathlib import Path

import numpy as np

from maven.data.bands import resolve_band
from maven.data.photometry import mag_to_flux
from maven.data.records import Supernova
from maven.errors import FormatError, UnknownBandError
from maven.io.common import (
    angle_degrees,
    build_lightcurve,
    count_unplaceable,
    optional_float,
    read_text,
)
from maven.io.tables import table_lightcurve

__all__ = ["FORMAT_BTS", "FORMAT_FORCED", "sniff_bts", "sniff_forced", "read_bts", "read_forced"]

FORMAT_BTS = "ztf_bts"
FORMAT_FORCED = "ztf_forced"


def _header(head: str) -> list[str]:
    for line in head.splitlines():
        if line.strip() and not line.startswith("#"):
            return [c.strip().lower() for c in line.split(",")]
    return []


def sniff_bts(path: Path, head: str) -> bool:
    """A CSV whose header has time, mag, magerr and band."""
    return {"time", "mag", "magerr", "band"} <= set(_header(head))


def sniff_forced(path: Path, head: str) -> bool:
    """A CSV whose header has time, band, flux, flux_err (or fluxerr) and zp."""
    cols = set(_header(head))
    return {"time", "band", "flux", "zp"} <= cols and bool({"flux_err", "fluxerr"} & cols)


def _rows(path: Path) -> list[dict[str, str | None]]:
    """The rows of a CSV as ``{column: text}`` (``None`` for a missing cell; cells beyond the
    header are dropped, so every value is a string or ``None``)."""
    text = read_text(path)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    if reader.fieldnames is None:
        raise FormatError(f"{path}: empty CSV")
    reader.fieldnames = [f.strip().lower() for f in reader.fieldnames]
    return [{k: v for k, v in row.items() if k is not None} for row in reader]


def _floats(rows: list[dict[str, str]], key: str, path: Path) -> np.ndarray:
    try:
        return np.array([float(r[key]) if r.get(key) not in (None, "") else np.nan for r in rows])
    except ValueError as exc:
        raise FormatError(f"{path}: column {key!r} is not numeric: {exc}") from None


def _bands(raw: list[str], skipped: dict[str, int], meta: dict) -> np.ndarray:
    """Canonical band per row; '' where the band cannot be placed (counted)."""
    out = []
    for b in raw:
        try:
            out.append(resolve_band(b, telescope="P48", survey="ZTF").name)
        except UnknownBandError:
            out.append("")
            count_unplaceable(skipped, meta, b)
    return np.array(out, dtype=object)


@lru_cache(maxsize=8)
def _catalogue(path: Path) -> dict[str, dict[str, str]]:
    rows = _rows(path)
    return {r.get("ztfid", ""): r for r in rows}


def _find_file(path: Path, names: tuple[str, ...]) -> Path | None:
    for folder in (path.parent, path.parent.parent):
        for name in names:
            if (folder / name).is_file():
                return folder / name
    return None


def _coordinates(ra: str | None, dec: str | None) -> tuple[float | None, float | None]:
    """Catalogue RA (hours when sexagesimal) and Dec -> degrees; both ``None`` unless both read."""
    ra_deg, dec_deg = angle_degrees(ra, hours=True), angle_degrees(dec, hours=False)
    if ra_deg is None or dec_deg is None or not -90.0 <= dec_deg <= 90.0:
        return None, None
    return ra_deg, dec_deg


def read_bts(path: str | Path) -> list[Supernova]:
    """One BTS light-curve CSV -> a :class:`Supernova` with catalogue metadata if found."""
    path = Path(path)
    rows = _rows(path)
    ztf_id = path.name.split(".")[0]
    skipped: dict[str, int] = {}
    meta: dict = {"ztf_id": ztf_id}
    mag, magerr = _floats(rows, "mag", path), _floats(rows, "magerr", path)
    flux, flux_err = mag_to_flux(mag, magerr)  # ZTF magnitudes are AB
    bands = _bands([r.get("band") or "" for r in rows], skipped, meta)
    ok = bands != ""
    time = _floats(rows, "time", path)
    lc = build_lightcurve(
        time[ok], bands[ok], flux[ok], flux_err[ok], object_id=ztf_id, skipped=skipped
    )
    cat_path = _find_file(path, ("bts.csv",))
    entry = _catalogue(cat_path).get(ztf_id, {}) if cat_path else {}
    iau = entry.get("iauid", "")
    iau = "" if iau in ("", "-") else iau
    ra, dec = _coordinates(entry.get("ra"), entry.get("dec"))
    a_v = optional_float(entry.get("a_v"))
    if entry:
        meta.update(
            {k: entry[k] for k in ("peakt", "peakfilt", "peakmag", "duration") if k in entry}
        )
    if lc is None or len(lc) == 0:
        raise FormatError(f"{path}: no usable photometry ({skipped})")
    return [
        Supernova(
            id=iau or ztf_id,
            aliases=[ztf_id] if iau else [],
            lightcurve=lc,
            type_raw=entry.get("type") or None,
            redshift=optional_float(entry.get("redshift")),
            ra=ra,
            dec=dec,
            mwebv=None if a_v is None else a_v / 3.1,
            source=f"ztf_bts:{path.name}",
            meta=meta,
            skipped=skipped,
        )
    ]


def read_forced(path: str | Path) -> list[Supernova]:
    """One forced-photometry flux table -> a :class:`Supernova` (DR1 sample-file metadata)."""
    from astropy.table import Table

    path = Path(path)
    ztf_id = path.name.split(".")[0]
    try:
        table = Table.read(read_text(path), format="ascii.csv")
    except Exception as exc:  # astropy raises many types for unreadable tables
        raise FormatError(f"{path}: cannot read as CSV: {exc}") from None
    skipped: dict[str, int] = {}
    meta: dict = {"ztf_id": ztf_id}
    try:
        lc = table_lightcurve(table, object_id=ztf_id, skipped=skipped, meta=meta, telescope="P48")
    except FormatError as exc:
        raise FormatError(f"{path}: {exc}") from None
    if lc is None:
        raise FormatError(f"{path}: no usable photometry ({skipped})")
    sample = _find_file(path, ("Yr1_AllSNe_SampleFile_WithClassSpecCoords.txt",))
    entry = _dr1_sample(sample).get(ztf_id) if sample else None
    kwargs = {}
    if entry:
        kwargs = dict(
            redshift=optional_float(entry[1]),
            ra=optional_float(entry[2]),
            dec=optional_float(entry[3]),
            type_raw=entry[4] or None,
        )
    return [
        Supernova(
            id=ztf_id,
            lightcurve=lc,
            source=f"{FORMAT_FORCED}:{path.name}",
            meta=meta,
            skipped=skipped,
            **kwargs,
        )
    ]


@lru_cache(maxsize=4)
def _dr1_sample(path: Path) -> dict[str, list[str]]:
    out = {}
    for line in read_text(path).splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 5 and parts[0].startswith("ZTF"):
            out[parts[0]] = parts
    return out
