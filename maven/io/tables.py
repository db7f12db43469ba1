"""sncosmo-style photometric tables (``time, band, flux, fluxerr, zp, zpsys``): astropy Tables
in memory and their ECSV / FITS / CSV files.

Column names follow sncosmo's aliases (``sncosmo.photdata.PHOTDATA_ALIASES``: ``mjd``, ``filter``,
``flux_err``, ``magsys`` ...). Fluxes on any zero point are rescaled to uJy; ``zpsys='vega'``
goes through the band's Vega->AB offset. Times above 2,400,000 are read as JD. An optional
boolean ``detected`` column is kept (else a point is detected when ``flux >= 3 fluxerr``).
Table ``meta`` keys ``name``/``id``, ``z``/``redshift``, ``type``, ``ra``, ``dec``, ``mwebv``
fill the record; other scalar meta go to ``Supernova.meta``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from maven.data.bands import ab_offset, resolve_band
from maven.data.photometry import AB_ZEROPOINT, rescale_flux
from maven.data.records import LightCurve, Supernova
from maven.errors import FormatError, UnknownBandError
from maven.io.common import build_lightcurve, count_unplaceable, optional_text, parse_json

__all__ = ["FORMAT", "sniff", "read", "from_table", "to_table", "write_table", "table_lightcurve"]

FORMAT = "sncosmo_table"
DETECTION_SNR = 3.0
_JD_MJD = 2400000.5
_META_KEYS = {
    "id": ("name", "id", "object_id", "snid"),
    "redshift": ("z", "redshift"),
    "type_raw": ("type", "sntype", "type_raw"),
    "ra": ("ra",),
    "dec": ("dec", "decl"),
    "mwebv": ("mwebv", "ebv"),
}


def sniff(path: Path, head: str) -> bool:
    """ECSV or FITS files, and CSVs whose header has sncosmo's photometric columns."""
    if head.startswith("# %ECSV"):
        return True
    if head.startswith("SIMPLE  ="):
        return True
    first = next((ln for ln in head.splitlines() if ln.strip() and not ln.startswith("#")), "")
    cols = {c.strip().lower() for c in first.split(",")}
    return {"band", "flux", "zp", "zpsys"} <= cols or {"filter", "flux", "zp", "zpsys"} <= cols


def _column_map(table) -> dict[str, str]:
    from sncosmo.photdata import PHOTDATA_ALIASES
    from sncosmo.utils import alias_map

    try:
        return alias_map(
            table.colnames,
            PHOTDATA_ALIASES,
            required=("time", "band", "flux", "fluxerr", "zp", "zpsys"),
        )
    except ValueError as exc:
        raise FormatError(f"not an sncosmo-style photometric table: {exc}") from None


def table_lightcurve(
    table,
    *,
    object_id: str,
    skipped: dict[str, int],
    meta: dict,
    telescope: str | None = None,
) -> LightCurve | None:
    """The light curve of a photometric table; unplaceable bands are dropped and counted."""
    cols = _column_map(table)
    try:
        time = np.asarray(table[cols["time"]], dtype=np.float64)
        flux = np.asarray(table[cols["flux"]], dtype=np.float64)
        ferr = np.asarray(table[cols["fluxerr"]], dtype=np.float64)
        zp = np.asarray(table[cols["zp"]], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise FormatError(f"{object_id}: non-numeric photometry column: {exc}") from None
    if time.size and np.nanmedian(time) > _JD_MJD:
        time = time - _JD_MJD
        meta["time_input"] = "JD"
    flux, ferr = rescale_flux(flux, ferr, zp)
    bands = np.empty(len(table), dtype=object)
    for i, (b, sys) in enumerate(zip(table[cols["band"]], table[cols["zpsys"]], strict=True)):
        try:
            band = resolve_band(str(b), telescope=telescope)
            offset = ab_offset(band, str(sys))
        except UnknownBandError:
            bands[i] = ""
            count_unplaceable(skipped, meta, str(b))
            continue
        bands[i] = band.name
        if offset:
            scale = 10.0 ** (-0.4 * offset)
            flux[i] *= scale
            ferr[i] *= scale
    if "detected" in table.colnames:
        detected = np.asarray(table["detected"], dtype=bool)
    else:
        detected = flux >= DETECTION_SNR * ferr
    ok = bands != ""
    return build_lightcurve(
        time[ok], bands[ok], flux[ok], ferr[ok], detected[ok], object_id=object_id, skipped=skipped
    )


def _scalar(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        if isinstance(value, float) and not np.isfinite(value):
            return None
        return value
    return None


def from_table(table, object_id: str | None = None, *, source: str | None = None) -> Supernova:
    """An astropy/sncosmo photometric Table -> :class:`Supernova` (metadata from ``table.meta``)."""
    meta_in = {str(k).lower(): _scalar(v) for k, v in dict(table.meta).items()}
    fields = {}
    for field, keys in _META_KEYS.items():
        fields[field] = next((meta_in[k] for k in keys if meta_in.get(k) is not None), None)
    object_id = object_id or (str(fields.pop("id")) if fields.get("id") is not None else None)
    fields.pop("id", None)
    fields["type_raw"] = optional_text(fields["type_raw"])
    for key in ("redshift", "ra", "dec", "mwebv"):  # a flag is not a number
        fields[key] = None if isinstance(fields[key], bool) else fields[key]
    if not object_id:
        raise FormatError("table has no object name: pass object_id or set meta['name']")
    used = {k for keys in _META_KEYS.values() for k in keys}
    meta = {k: v for k, v in meta_in.items() if k not in used and v is not None}
    if isinstance(meta.get("mvnmeta"), str):
        extra = parse_json(meta.pop("mvnmeta"), f"{object_id}: meta 'mvnmeta'")
        if not isinstance(extra, dict):
            raise FormatError(f"{object_id}: meta 'mvnmeta' is not a JSON object")
        meta.update(extra)
    skipped: dict[str, int] = {}
    lc = table_lightcurve(table, object_id=object_id, skipped=skipped, meta=meta)
    if lc is None:
        raise FormatError(f"{object_id}: no usable photometry ({skipped})")
    aliases = meta.pop("aliases", "")
    return Supernova(
        id=object_id,
        lightcurve=lc,
        aliases=[a for a in str(aliases).split(",") if a] if aliases else [],
        source=source,
        meta=meta,
        skipped=skipped,
        **fields,
    )


def read(path: str | Path) -> list[Supernova]:
    """An ECSV, FITS or CSV photometric table file -> one :class:`Supernova`."""
    from astropy.table import Table

    path = Path(path)
    text_formats = {".ecsv": "ascii.ecsv", ".csv": "ascii.csv"}
    fmt = text_formats.get(path.suffix.lower()) or (
        "fits" if path.suffix.lower() in (".fits", ".fit", ".fz") else None
    )
    try:
        table = Table.read(path, format=fmt) if fmt else Table.read(path)
    except Exception as exc:  # astropy raises many types for unreadable tables
        raise FormatError(f"{path}: cannot read as a table: {exc}") from None
    try:
        return [
            from_table(
                table,
                object_id=None if _has_name(table) else path.stem,
                source=f"{FORMAT}:{path.name}",
            )
        ]
    except FormatError as exc:
        raise FormatError(f"{path}: {exc}") from None


def _has_name(table) -> bool:
    return any(k.lower() in _META_KEYS["id"] for k in table.meta)


def to_table(sn: Supernova):
    """The light curve of ``sn`` as an sncosmo-style Table (zp 23.9, zpsys 'ab') with meta."""
    if sn.lightcurve is None:
        raise FormatError(f"{sn.id}: no light curve to write")
    table = sn.lightcurve.to_table()
    table.meta.update(
        {
            "name": sn.id,
            "z": sn.redshift,
            "type": sn.type_raw,
            "ra": sn.ra,
            "dec": sn.dec,
            "mwebv": sn.mwebv,
            "aliases": ",".join(sn.aliases),
            "mvnmeta": json.dumps(sn.meta, sort_keys=True),
            "zp_note": f"flux in uJy, AB zero point {AB_ZEROPOINT}",
        }
    )
    return table


def write_table(sn: Supernova, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the light curve of ``sn`` to ECSV (``.ecsv``) or FITS (``.fits``)."""
    path = Path(path)
    table = to_table(sn)
    if path.suffix.lower() in (".fits", ".fit"):
        table.meta = {k[:8].upper(): v for k, v in table.meta.items() if v is not None}
        table.write(path, format="fits", overwrite=overwrite)
    else:
        table.write(path, format="ascii.ecsv", overwrite=overwrite)
    return path
