"""ZTF alert packets: Avro object-container files of every ZTF alert schema (1.x to 4.x).

A packet holds its triggering detection (``candidate``), up to 30 days of earlier history
(``prv_candidates``) and, from schema 4.0, forced photometry on earlier difference images
(``fp_hists``). They become, in maven's units (:mod:`maven.io.points`):

* **detections** (``candidate``, and ``prv_candidates`` with a ``magpsf``): difference-image
  PSF magnitudes, AB; ``isdiffpos`` ``"f"``/``"0"`` (a negative subtraction) gives a negative
  flux; ``detected=True``.
* **upper limits** (``prv_candidates`` with ``candid``/``magpsf`` null and ``diffmaglim`` set,
  the image where nothing was detected): ``diffmaglim`` is ZTF's 5-sigma limit, so the point
  is ``0 +- f_lim / 5`` with ``detected=False``.
* **forced photometry** (``fp_hists``, and the ``prv_candidates`` of the 3.5 forced-photometry
  test packets, which have the same fields): ``forcediffimflux +- forcediffimfluxunc`` in DN
  on the image zero point ``magzpsci``, i.e. ``flux_uJy = DN * 10^(-0.4 (magzpsci - 23.9))``;
  detected when ``flux >= 3 flux_err``. Points with ``procstatus`` other than ``"0"``, the
  ``-99999`` no-measurement value or no zero point are dropped and counted. ``forced=False``
  leaves forced photometry out.

Bands: ``fid`` 1, 2, 3 are ``ztf::g``, ``ztf::r``, ``ztf::i``; time is ``jd - 2400000.5``.
One point is kept per band and epoch (a detection over forced photometry over a limit; a
``prv_candidates`` entry repeating the candidate is dropped). The record's id is ``objectId``
(``ZTF-alert-<alertId>`` for the commissioning schemas that have none), its position the
candidate's; ``meta["ztf_schema"]`` is the schema version. Several alerts of one object, in
one file or (through :func:`maven.io.read_supernovae`) in several, join into one record.

The oldest commissioning packets are bare Avro records without the object-container header
and writer schema; they cannot be decoded and raise a :class:`FormatError` saying so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from maven.data.photometry import rescale_flux
from maven.data.records import Supernova
from maven.errors import FormatError, ValidationError
from maven.io.avro import (
    CONTAINER_MAGIC,
    is_avro_name,
    is_container,
    read_bytes,
    read_container,
    records_in,
    schema_named,
)
from maven.io.common import count, count_unplaceable, optional_float
from maven.io.merge import merge_by_name
from maven.io.points import Points

__all__ = ["FORMAT", "FID_BANDS", "LIMIT_SIGMA", "sniff", "read", "diff_sign"]

FORMAT = "ztf_alert"
#: ZTF filter ids -> maven bands.
FID_BANDS = {1: "ztf::g", 2: "ztf::r", 3: "ztf::i"}
#: ``diffmaglim`` is a 5-sigma limiting magnitude.
LIMIT_SIGMA = 5.0
#: forcediffimflux when no measurement was made
NO_FORCED_FLUX = -99999.0
_JD_MJD = 2400000.5
_SCHEMALESS = (
    "not an Avro object-container file (no 'Obj\\x01' header): a bare Avro record without "
    "its writer schema, as the oldest ZTF commissioning packets were written; it cannot be "
    "decoded without the exact schema it was written with"
)


def sniff(path: Path, head: str) -> bool:
    """An object-container file with a ``ztf`` alert schema, or any other ``*.avro`` file that
    is not a container (read raises the schemaless-packet error for it)."""
    return schema_named(head, r"ztf(\.alert)?") or (is_avro_name(path) and not is_container(head))


def diff_sign(value) -> float | None:
    """+1 for a positive subtraction (``isdiffpos`` ``t``/``1``/``true``), -1 for a negative
    one (``f``/``0``/``-1``/``false``), ``None`` when missing or unreadable."""
    text = str(value).strip().lower()
    if text in ("t", "true"):
        return 1.0
    if text in ("f", "false"):
        return -1.0
    v = optional_float(text)
    return {1.0: 1.0, 0.0: -1.0, -1.0: -1.0}.get(v) if v is not None else None


def _epoch(entry: dict, skipped: dict, meta: dict) -> tuple[float, str] | None:
    fid = entry.get("fid")
    band = FID_BANDS.get(fid) if isinstance(fid, int) else None
    if band is None:
        count_unplaceable(skipped, meta, f"fid {entry.get('fid')}")
        return None
    jd = optional_float(entry.get("jd"))
    return (np.nan if jd is None else jd - _JD_MJD), band


def _float(entry: dict, key: str) -> float:
    v = optional_float(entry.get(key))
    return np.nan if v is None else v


def _add_detection(points: Points, entry: dict, skipped: dict, meta: dict) -> None:
    where = _epoch(entry, skipped, meta)
    if where is None:
        return
    sign = diff_sign(entry.get("isdiffpos"))
    if sign is None:
        count(skipped, "detection with unreadable isdiffpos")
        return
    points.detections(*where, _float(entry, "magpsf"), _float(entry, "sigmapsf"), sign)


def _add_limit(points: Points, entry: dict, skipped: dict, meta: dict) -> None:
    where = _epoch(entry, skipped, meta)
    if where is not None:
        points.limits(*where, _float(entry, "diffmaglim"), LIMIT_SIGMA)


def _add_forced(points: Points, entry: dict, skipped: dict, meta: dict) -> None:
    if entry.get("procstatus") not in (None, "0"):
        count(skipped, "forced-photometry point with procstatus other than 0")
        return
    flux, zp = _float(entry, "forcediffimflux"), _float(entry, "magzpsci")
    if not np.isfinite(flux) or flux == NO_FORCED_FLUX or not np.isfinite(zp):
        count(skipped, "forced-photometry point without a flux or zero point")
        return
    where = _epoch(entry, skipped, meta)
    if where is not None:
        points.forced(*where, *rescale_flux(flux, _float(entry, "forcediffimfluxunc"), zp))


def _record(alert: dict, schema: dict, path: Path, forced: bool) -> Supernova | None:
    if not isinstance(alert, dict) or not isinstance(alert.get("candidate"), dict):
        raise FormatError(f"{path}: not a ZTF alert packet (no 'candidate' record)")
    if alert.get("objectId"):
        oid = str(alert["objectId"])
    elif alert.get("alertId") is not None:
        oid = f"ZTF-alert-{alert['alertId']}"
    else:
        raise FormatError(f"{path}: ZTF alert without objectId or alertId")
    skipped: dict[str, int] = {}
    meta: dict = {}
    version = alert.get("schemavsn") or schema.get("version")
    if version:
        meta["ztf_schema"] = str(version)
    points = Points(oid, skipped)
    candidate = alert["candidate"]
    _add_detection(points, candidate, skipped, meta)
    for entry in records_in(alert.get("prv_candidates")):
        if entry.get("magpsf") is not None:
            _add_detection(points, entry, skipped, meta)
        elif "forcediffimflux" in entry:
            if forced:
                _add_forced(points, entry, skipped, meta)
        elif entry.get("diffmaglim") is not None:
            _add_limit(points, entry, skipped, meta)
        else:
            count(skipped, "previous candidate with neither a magnitude nor a limit")
    for entry in records_in(alert.get("fp_hists")) if forced else []:
        _add_forced(points, entry, skipped, meta)
    lc = points.lightcurve()
    if lc is None:
        return None
    ra, dec = optional_float(candidate.get("ra")), optional_float(candidate.get("dec"))
    if ra is None or dec is None or not (0 <= ra <= 360 and -90 <= dec <= 90):
        ra = dec = None
    return Supernova(
        id=oid,
        lightcurve=lc,
        ra=ra,
        dec=dec,
        source=f"{FORMAT}:{path.name}",
        meta=meta,
        skipped=skipped,
    )


def read(path: str | Path, *, forced: bool = True) -> list[Supernova]:
    """The alerts of one Avro file -> one :class:`Supernova` per object.

    Args:
        forced: include forced photometry (``fp_hists``).

    Raises:
        FormatError: a schemaless packet, not a ZTF alert, or no usable photometry.
    """
    path = Path(path)
    raw = read_bytes(path)
    if not raw.startswith(CONTAINER_MAGIC):
        raise FormatError(f"{path}: {_SCHEMALESS}")
    schema, alerts = read_container(path, raw)
    records = []
    try:
        for alert in alerts:
            sn = _record(alert, schema, path, forced)
            if sn is not None:
                records.append(sn)
    except ValidationError as exc:
        raise FormatError(f"{path}: {exc}") from None
    if not records:
        raise FormatError(f"{path}: no alert with usable photometry ({len(alerts)} alerts)")
    records[0].add_skipped("alert without usable photometry", len(alerts) - len(records))
    return merge_by_name(records)[0]
