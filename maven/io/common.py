"""Shared steps of every reader: open (optionally gzipped) text, clean arrays into records.

Readers turn native rows into numpy arrays, then call :func:`build_spectrum` and
:func:`build_lightcurve`, which drop unusable rows *with a counted reason* (recorded in the
``skipped`` mapping the caller passes, later ``Supernova.skipped``) and build validated records.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maven.data.records import LightCurve, Spectrum, Supernova
from maven.errors import FormatError, ValidationError

__all__ = [
    "Reader",
    "MAX_TEXT_BYTES",
    "read_text",
    "read_head",
    "parse_json",
    "MAX_JSON_DEPTH",
    "optional_text",
    "build_spectrum",
    "build_lightcurve",
    "count",
    "count_unplaceable",
    "optional_float",
    "angle_degrees",
]


@dataclass(frozen=True)
class Reader:
    """A named format: ``sniff(path, head) -> bool`` and ``read(path) -> list[Supernova]``."""

    name: str
    sniff: Callable[[Path, str], bool]
    read: Callable[[Path], list[Supernova]]
    description: str


#: most bytes a text input may hold (after decompression); larger ones are refused, so a
#: small ``.gz`` that expands to gigabytes (a decompression bomb) cannot exhaust memory
MAX_TEXT_BYTES = 128 * 2**20


def _read_bytes(path: Path, limit: int) -> bytes:
    """Up to ``limit`` bytes of a (possibly gzipped) file, decompressed as a stream."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read(limit)
        with open(path, "rb") as fh:
            return fh.read(limit)
    except EOFError:
        raise FormatError(f"{path}: truncated gzip file (ends before its end marker)") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise FormatError(f"{path}: damaged gzip file: {exc}") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_text(path: str | Path) -> str:
    """The text of a file, gunzipped when it ends in ``.gz``.

    Raises:
        FormatError: unreadable, damaged or truncated gzip, larger than
            :data:`MAX_TEXT_BYTES` once decompressed, or binary rather than text.
    """
    path = Path(path)
    raw = _read_bytes(path, MAX_TEXT_BYTES + 1)
    if len(raw) > MAX_TEXT_BYTES:
        raise FormatError(
            f"{path}: more than {MAX_TEXT_BYTES // 2**20} MiB of text"
            + (" once decompressed (a decompression bomb?)" if path.suffix == ".gz" else "")
        )
    if b"\x00" in raw[:4096]:
        raise FormatError(f"{path}: binary content, not a text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_head(path: str | Path, n: int = 4096) -> str:
    """The first ``n`` characters of a (possibly gzipped) file.

    Raises:
        FormatError: unreadable file, or a gzip file damaged or truncated within them.
    """
    return _read_bytes(Path(path), n).decode("utf-8", errors="replace")


#: deepest JSON nesting a reader accepts (catalogues nest fewer than 10 levels): deeper input
#: is refused before it is parsed, so no reader, writer or ``json`` recursion can overflow
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def parse_json(text: str, where: str | Path) -> Any:
    """``json.loads(text)`` for a reader: ``where`` (the file) names it in errors.

    Raises:
        FormatError: malformed JSON, nested deeper than :data:`MAX_JSON_DEPTH`, or a number
            Python refuses (an integer of more than 4300 digits).
    """
    skeleton = np.frombuffer(_JSON_STRING.sub("", text).encode("ascii", "replace"), np.uint8)
    step = np.isin(skeleton, (91, 123)).astype(np.int32) - np.isin(skeleton, (93, 125))
    if step.size and int(np.cumsum(step).max()) > MAX_JSON_DEPTH:
        raise FormatError(f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise FormatError(f"{where}: malformed JSON: {exc}") from None


def optional_text(value) -> str | None:
    """A non-empty string as it is, ``None`` for anything else (a number where a name or type
    belongs is not guessed into one)."""
    return value if isinstance(value, str) and value.strip() else None


def count(skipped: dict[str, int], reason: str, n: int = 1) -> None:
    """Add ``n`` to ``skipped[reason]`` (no-op for 0)."""
    if n:
        skipped[reason] = skipped.get(reason, 0) + int(n)


def count_unplaceable(skipped: dict[str, int], meta: dict, label: str) -> None:
    """Count one point dropped for a band that cannot be placed: ``skipped["unplaceable band"]``
    and, per band as written (with its context), ``meta["unplaceable_bands"][label]``."""
    count(skipped, "unplaceable band")
    label = str(label)
    per_band = meta.setdefault("unplaceable_bands", {})
    per_band[label] = per_band.get(label, 0) + 1


def optional_float(value) -> float | None:
    """A finite float, or ``None`` for missing, non-numeric or non-finite values."""
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if np.isfinite(v) else None


def angle_degrees(value, hours: bool) -> float | None:
    """``"10:40:39.33"`` / ``"10 40 39.33"`` (hours when ``hours``, else degrees) or a plain
    number of degrees -> degrees; ``None`` when missing or unreadable."""
    text = "" if value is None else str(value).strip()
    if not re.search(r"\d[:\s]+\d", text):
        return optional_float(text)
    from astropy import units as u
    from astropy.coordinates import Angle

    try:
        return float(Angle(text, unit=u.hourangle if hours else u.deg).deg)
    except (ValueError, TypeError, u.UnitsError):
        return None


def build_spectrum(
    wavelength,
    flux,
    flux_err=None,
    *,
    object_id: str,
    skipped: dict[str, int],
    mjd: float | None = None,
    instrument: str | None = None,
    flux_unit: str = "erg/s/cm2/A",
    meta: dict | None = None,
) -> Spectrum | None:
    """Clean and build a :class:`Spectrum`; ``None`` (counted) when nothing usable is left.

    Non-finite rows are dropped; a wavelength column in decreasing order is reversed;
    repeated wavelengths keep their first row; an error column with any non-positive or
    non-finite value is dropped as a whole (counted) rather than patched.
    """
    w = np.asarray(wavelength, dtype=np.float64)
    f = np.asarray(flux, dtype=np.float64)
    e = None if flux_err is None else np.asarray(flux_err, dtype=np.float64)
    ok = np.isfinite(w) & np.isfinite(f)
    count(skipped, "spectrum pixel with non-finite wavelength or flux", int((~ok).sum()))
    w, f = w[ok], f[ok]
    if e is not None:
        e = e[ok]
    if w.size >= 2 and w[0] > w[-1]:
        w, f = w[::-1], f[::-1]
        e = None if e is None else e[::-1]
    if w.size >= 2:
        order = np.argsort(w, kind="stable")
        if not np.array_equal(order, np.arange(w.size)):
            count(skipped, "spectrum with unsorted wavelengths (sorted)")
            w, f = w[order], f[order]
            e = None if e is None else e[order]
        rep = np.concatenate([[False], np.diff(w) <= 0])
        count(skipped, "spectrum pixel with repeated wavelength", int(rep.sum()))
        w, f = w[~rep], f[~rep]
        e = None if e is None else e[~rep]
    if e is not None and not (np.isfinite(e).all() and (e > 0).all()):
        count(skipped, "spectrum error column with non-positive values (errors dropped)")
        e = None
    if w.size < 2:
        count(skipped, "spectrum with fewer than 2 usable pixels")
        return None
    try:
        return Spectrum(
            w,
            f,
            e,
            mjd=mjd,
            instrument=instrument,
            flux_unit=flux_unit,
            meta=meta or {},
            object_id=object_id,
        )
    except ValidationError as exc:
        count(skipped, f"invalid spectrum ({exc.field})")
        return None


def build_lightcurve(
    time,
    band,
    flux,
    flux_err,
    detected=None,
    *,
    object_id: str,
    skipped: dict[str, int],
) -> LightCurve | None:
    """Clean and build a :class:`LightCurve`; ``None`` when no point survives.

    Points with a non-finite time, flux or error, or a non-positive error, are dropped and
    counted; everything else is left to :class:`LightCurve` validation.
    """
    t = np.asarray(time, dtype=np.float64)
    f = np.asarray(flux, dtype=np.float64)
    e = np.asarray(flux_err, dtype=np.float64)
    b = np.asarray(band, dtype=object)
    d = np.ones(t.size, dtype=bool) if detected is None else np.asarray(detected, dtype=bool)
    if not (t.size == f.size == e.size == b.size == d.size):
        raise FormatError(f"{object_id}: photometry columns differ in length")
    ok = np.isfinite(t) & np.isfinite(f)
    count(skipped, "photometric point with non-finite time or flux", int((~ok).sum()))
    good_err = np.isfinite(e) & (e > 0)
    count(skipped, "photometric point without a positive uncertainty", int((ok & ~good_err).sum()))
    ok &= good_err
    if not ok.any():
        return None
    return LightCurve(t[ok], b[ok], f[ok], e[ok], d[ok], object_id=object_id)
