"""Light-curve tables as the ALeRCE, Fink and ANTARES clients return them, saved as CSV.

Each layout is told from its header:

* **ALeRCE** (``alerce`` ``query_detections`` / ``query_non_detections`` /
  ``query_lightcurve``): ``oid, candid, mjd, fid, magpsf, sigmapsf[, isdiffpos, diffmaglim,
  ...]``; non-detection rows have ``diffmaglim`` and no ``magpsf``.
* **Fink** (``/api/v1/objects``, with ``withupperlim``): ``i:objectId, i:jd, i:fid, i:magpsf,
  i:sigmapsf, i:isdiffpos, i:diffmaglim, d:tag``; ``d:tag`` ``"upperlim"`` rows are limits and
  ``"badquality"`` rows are dropped and counted.
* **ANTARES** (``Locus.lightcurve``): ``ant_mjd, ant_passband, ant_mag, ant_magerr,
  ant_maglim, ant_survey, ztf_isdiffpos, ztf_diffmaglim, ...`` with ``ant_survey`` 1/2 (ZTF
  detection / limit) or 4 (Rubin); the object id from a ``ztf_object_id`` or ``locus_id``
  column.

A row with a magnitude and its error is a difference-image detection (negative flux when the
``isdiffpos`` column says the subtraction was negative; an empty or absent ``isdiffpos`` is
positive, an unreadable one drops the row, counted); a row with only a limiting magnitude
is a 5-sigma upper limit, ``0 +- f_lim / 5`` (:mod:`maven.io.points`). ZTF ``fid`` 1/2/3 are
``ztf::g``/``ztf::r``/``ztf::i``. A table of several objects gives one record per object id
(the file name when the table has no id column).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from maven.data.bands import resolve_band
from maven.data.records import Supernova
from maven.errors import FormatError, UnknownBandError, ValidationError
from maven.io.alerts_ztf import FID_BANDS, LIMIT_SIGMA, diff_sign
from maven.io.common import count, count_unplaceable, optional_float
from maven.io.points import Points
from maven.io.ztf import _header, _rows

__all__ = ["FORMAT_ALERCE", "FORMAT_FINK", "FORMAT_ANTARES", "LAYOUTS"]

FORMAT_ALERCE = "alerce"
FORMAT_FINK = "fink"
FORMAT_ANTARES = "antares"
_JD_MJD = 2400000.5


@dataclass(frozen=True)
class _Layout:
    """Where one broker puts each quantity (lower-case column names)."""

    name: str
    description: str
    needs: tuple[str, ...]  # every one of these columns
    needs_any: tuple[str, ...]  # and at least one of these
    ids: tuple[str, ...]
    time: str
    band: str
    mag: str
    mag_err: str
    limit: tuple[str, ...]
    sign: str
    ra: str
    dec: str
    time_is_jd: bool = False
    tag: str | None = None
    survey: str | None = None

    def sniff(self, path: Path, head: str) -> bool:
        cols = set(_header(head))
        return set(self.needs) <= cols and bool(set(self.needs_any) & cols)

    def read(self, path: str | Path) -> list[Supernova]:
        return _read(self, Path(path))


ALERCE = _Layout(
    FORMAT_ALERCE, "ALeRCE light-curve CSV (oid, mjd, fid, magpsf, sigmapsf, diffmaglim)",
    needs=("mjd", "fid"), needs_any=("magpsf", "diffmaglim"), ids=("oid",), time="mjd",
    band="fid", mag="magpsf", mag_err="sigmapsf", limit=("diffmaglim",), sign="isdiffpos",
    ra="ra", dec="dec",
)  # fmt: skip
FINK = _Layout(
    FORMAT_FINK, "Fink light-curve CSV (i:objectId, i:jd, i:fid, i:magpsf, d:tag)",
    needs=("i:jd", "i:fid"), needs_any=("i:magpsf", "i:diffmaglim"), ids=("i:objectid",),
    time="i:jd", band="i:fid", mag="i:magpsf", mag_err="i:sigmapsf", limit=("i:diffmaglim",),
    sign="i:isdiffpos", ra="i:ra", dec="i:dec", time_is_jd=True, tag="d:tag",
)  # fmt: skip
ANTARES = _Layout(
    FORMAT_ANTARES, "ANTARES locus light-curve CSV (ant_mjd, ant_passband, ant_mag, ant_maglim)",
    needs=("ant_mjd", "ant_passband"), needs_any=("ant_mag", "ant_maglim"),
    ids=("ztf_object_id", "locus_id"), time="ant_mjd", band="ant_passband", mag="ant_mag",
    mag_err="ant_magerr", limit=("ant_maglim", "ztf_diffmaglim"), sign="ztf_isdiffpos",
    ra="ant_ra", dec="ant_dec", survey="ant_survey",
)  # fmt: skip
#: the three layouts, in the order their sniffers are tried
LAYOUTS = (ALERCE, FINK, ANTARES)
#: ``ant_survey`` codes -> survey context for the band names
_ANTARES_SURVEYS = {"1": "ZTF", "2": "ZTF", "4": "LSST"}


@lru_cache(maxsize=64)
def _band(layout_name: str, raw: str, survey: str) -> str | None:
    if layout_name != FORMAT_ANTARES:
        fid = optional_float(raw)
        return FID_BANDS.get(int(fid)) if fid is not None and fid.is_integer() else None
    try:
        return resolve_band(raw, survey=survey).name
    except UnknownBandError:
        return None


def _value(row: dict, names: tuple[str, ...]) -> float:
    v = next((optional_float(row.get(n)) for n in names if row.get(n) not in (None, "")), None)
    return np.nan if v is None else v


def _object(layout: _Layout, oid: str, rows: list[dict], path: Path) -> Supernova | None:
    skipped: dict[str, int] = {}
    meta: dict = {}
    points = Points(oid, skipped)
    for row in rows:
        tag = (row.get(layout.tag) or "").strip().lower() if layout.tag else ""
        if tag == "badquality":
            count(skipped, f"{layout.name} row tagged badquality")
            continue
        raw_band = (row.get(layout.band) or "").strip()
        survey = _ANTARES_SURVEYS.get((row.get(layout.survey) or "").strip(), "ZTF")
        band = _band(layout.name, raw_band, survey if layout.survey else "")
        if band is None:
            count_unplaceable(skipped, meta, raw_band)
            continue
        time = _value(row, (layout.time,)) - (_JD_MJD if layout.time_is_jd else 0.0)
        mag, err = _value(row, (layout.mag,)), _value(row, (layout.mag_err,))
        if tag != "upperlim" and np.isfinite(mag):
            raw_sign = (row.get(layout.sign) or "").strip()
            sign = diff_sign(raw_sign) if raw_sign else 1.0
            if sign is None:
                count(skipped, "detection with unreadable isdiffpos")
                continue
            points.detections(time, band, mag, err, sign)
        else:
            points.limits(time, band, _value(row, layout.limit), LIMIT_SIGMA)
    lc = points.lightcurve()
    if lc is None:
        return None
    positions = ((_value(r, (layout.ra,)), _value(r, (layout.dec,))) for r in rows)
    ra, dec = next(((a, d) for a, d in positions if 0 <= a <= 360 and -90 <= d <= 90), (None, None))
    return Supernova(
        id=oid, lightcurve=lc, ra=ra, dec=dec, source=f"{layout.name}:{path.name}", meta=meta,
        skipped=skipped,
    )  # fmt: skip


def _read(layout: _Layout, path: Path) -> list[Supernova]:
    """One broker table -> one :class:`Supernova` per object id."""
    rows = _rows(path)
    if not rows:
        raise FormatError(f"{path}: no rows")
    id_col = next((c for c in layout.ids if c in rows[0]), None)
    by_object: dict[str, list[dict]] = {}
    no_id = 0
    for row in rows:
        oid = (row.get(id_col) or "").strip() if id_col else path.name.split(".")[0]
        if oid:
            by_object.setdefault(oid, []).append(row)
        else:
            no_id += 1
    try:
        records = [sn for oid, r in by_object.items() if (sn := _object(layout, oid, r, path))]
    except ValidationError as exc:
        raise FormatError(f"{path}: {exc}") from None
    if not records:
        raise FormatError(f"{path}: no usable photometry in {len(rows)} rows")
    records[0].add_skipped(f"row without {id_col}", no_id)
    records[0].add_skipped("object without usable photometry", len(by_object) - len(records))
    return records
