"""Rubin (LSST) alert packets, the schemas of the ``lsst-alert-packet`` package.

Two containers: Avro object-container files (the package's ``sample_data``, alerts saved with
``Schema.store_alerts``; read with fastavro alone), and single Kafka messages in the Confluent
wire format (a zero byte, the 4-byte schema id ``major * 100 + minor``, then the schemaless
record), decoded with that version's schema from ``lsst-alert-packet`` (GPL-3, so an optional
dependency: ``pip install 'maven-sn[rubin]'``).

Photometry (fluxes in nJy -> uJy), in maven's units (:mod:`maven.io.points`):

* ``diaSource`` and ``prvDiaSources``: difference-image detections (``psfFlux``, signed),
  ``detected=True``; points with ``psfFlux_flag`` set are dropped and counted;
* ``prvDiaForcedSources``: forced photometry at the object's position, detected when
  ``psfFlux >= 3 psfFluxErr``;
* ``prvDiaNondetectionLimits`` (schemas 3-7): ``0 +- diaNoise`` (``diaNoise`` read as the
  1-sigma flux noise), ``detected=False``.

Field names of schemas 3-4 (``midPointTai``, ``filterName``, ``psFlux``, ``decl``) and 5+
(``midpointMjdTai``, ``band``, ``psfFlux``, ``dec``) are both read. Times are MJD (TAI; the
37 s from UTC are ignored); bands are ``lsst::u`` .. ``lsst::y``. One point is kept per band
and epoch (a detection over forced photometry). The record's id is the ``diaObjectId``, its
position the ``diaObject``'s; alerts of one object join into one record. Alerts of solar-system
objects (no ``diaObjectId``) are not supernovae and are dropped and counted.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path

import numpy as np

from maven.data.bands import resolve_band
from maven.data.records import Supernova
from maven.errors import FormatError, UnknownBandError, ValidationError
from maven.io.avro import (
    CONTAINER_MAGIC,
    is_avro_name,
    read_bytes,
    read_container,
    records_in,
    schema_named,
)
from maven.io.common import count, count_unplaceable, optional_float
from maven.io.merge import merge_by_name
from maven.io.points import Points

__all__ = ["FORMAT", "sniff", "read", "wire_schema_id"]

FORMAT = "rubin_alert"
_NJY_TO_UJY = 1e-3
_ALIASES = {
    "time": ("midpointMjdTai", "midPointTai"),
    "band": ("band", "filterName"),
    "flux": ("psfFlux", "psFlux"),
    "flux_err": ("psfFluxErr", "psFluxErr"),
    "dec": ("dec", "decl"),
}


def wire_schema_id(raw: bytes) -> int | None:
    """The schema id of a Confluent wire-format message, ``None`` when ``raw`` is not one."""
    if len(raw) < 6 or raw[0] != 0:
        return None
    return struct.unpack(">I", raw[1:5])[0]


@lru_cache(maxsize=16)
def _wire_schema(schema_id: int):
    """The ``lsst-alert-packet`` schema of a wire-format id, ``None`` for an unknown one."""
    try:
        from lsst.alert.packet import Schema, get_schema_path
    except ImportError:
        raise FormatError(
            "decoding Rubin Kafka messages needs lsst-alert-packet: pip install 'maven-sn[rubin]'"
        ) from None
    major, minor = divmod(schema_id, 100)
    path = Path(get_schema_path(major, minor)) / f"lsst.v{major}_{minor}.alert.avsc"
    return Schema.from_file(str(path)) if path.is_file() else None


def sniff(path: Path, head: str) -> bool:
    """An object-container file with an ``lsst.vM_m`` alert schema, or an ``*.avro`` file that
    starts with the zero byte of a Kafka wire-format message."""
    return schema_named(head, r"lsst\.v\d+_\d+(\.alert)?") or (
        is_avro_name(path) and head.startswith("\x00")
    )


def _get(entry: dict, name: str):
    return next((entry[k] for k in _ALIASES[name] if entry.get(k) is not None), None)


def _add(points: Points, entry: dict, kind: str, skipped: dict, meta: dict) -> None:
    raw_band = _get(entry, "band")
    try:
        band = resolve_band(raw_band, survey="LSST").name
    except UnknownBandError:
        count_unplaceable(skipped, meta, str(raw_band))
        return
    time = optional_float(_get(entry, "time"))
    time = np.nan if time is None else time
    if kind == "limit":
        noise = optional_float(entry.get("diaNoise"))
        noise = np.nan if noise is None else noise * _NJY_TO_UJY
        points.add(time, band, 0.0, noise, False)
        return
    if entry.get("psfFlux_flag"):
        count(skipped, "Rubin source with psfFlux_flag set")
        return
    flux, err = (optional_float(_get(entry, k)) for k in ("flux", "flux_err"))
    flux = np.nan if flux is None else flux * _NJY_TO_UJY
    err = np.nan if err is None else err * _NJY_TO_UJY
    if kind == "forced":
        points.forced(time, band, flux, err)
    else:
        points.add(time, band, flux, err, True)


def _record(alert: dict, path: Path, skipped_alerts: dict) -> Supernova | None:
    source = alert.get("diaSource") if isinstance(alert, dict) else None
    if not isinstance(source, dict):
        raise FormatError(f"{path}: not a Rubin alert packet (no 'diaSource' record)")
    obj = alert.get("diaObject") if isinstance(alert.get("diaObject"), dict) else {}
    object_id = obj.get("diaObjectId")
    object_id = source.get("diaObjectId") if object_id is None else object_id
    if object_id is None:
        count(skipped_alerts, "alert of a solar-system object (no diaObjectId)")
        return None
    oid = str(object_id)
    skipped: dict[str, int] = {}
    meta: dict = {}
    points = Points(oid, skipped)
    for kind, entries in (
        ("detection", [source, *records_in(alert.get("prvDiaSources"))]),
        ("forced", records_in(alert.get("prvDiaForcedSources"))),
        ("limit", records_in(alert.get("prvDiaNondetectionLimits"))),
    ):
        for entry in entries:
            _add(points, entry, kind, skipped, meta)
    lc = points.lightcurve()
    if lc is None:
        count(skipped_alerts, "alert without usable photometry")
        return None
    ra, dec = optional_float(obj.get("ra")), optional_float(_get(obj, "dec") if obj else None)
    if ra is None or dec is None or not (0 <= ra <= 360 and -90 <= dec <= 90):
        ra = dec = None
    return Supernova(
        id=oid, lightcurve=lc, ra=ra, dec=dec, source=f"{FORMAT}:{path.name}", meta=meta,
        skipped=skipped,
    )  # fmt: skip


def read(path: str | Path) -> list[Supernova]:
    """The alerts of one file -> one :class:`Supernova` per ``diaObject``.

    Raises:
        FormatError: not a Rubin alert file, an unknown schema id, or no usable photometry.
    """
    path = Path(path)
    raw = read_bytes(path)
    if raw.startswith(CONTAINER_MAGIC):
        alerts = read_container(path, raw)[1]
    else:
        schema_id = wire_schema_id(raw)
        schema = None if schema_id is None else _wire_schema(schema_id)
        if schema is None:
            raise FormatError(
                f"{path}: neither an Avro object-container file nor a Kafka wire-format "
                f"message with a schema id lsst-alert-packet knows (id {schema_id})"
            )
        try:
            alerts = [schema.deserialize(raw[5:])]
        except Exception as exc:  # fastavro raises many types for damaged records
            raise FormatError(f"{path}: cannot decode with schema {schema_id}: {exc}") from None
    skipped_alerts: dict[str, int] = {}
    try:
        records = [sn for a in alerts if (sn := _record(a, path, skipped_alerts)) is not None]
    except ValidationError as exc:
        raise FormatError(f"{path}: {exc}") from None
    if not records:
        raise FormatError(f"{path}: no supernova photometry ({skipped_alerts or 'no alerts'})")
    for reason, n in skipped_alerts.items():
        records[0].add_skipped(reason, n)
    return merge_by_name(records)[0]
