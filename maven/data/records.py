"""Supernova records: :class:`LightCurve`, :class:`Spectrum` and :class:`Supernova`.

Units, fixed at the boundary (readers convert into them):

* time: Modified Julian Date (days), float64.
* flux: micro-Jansky (uJy), i.e. AB magnitude ``m = 23.9 - 2.5 log10(flux)``
  (:data:`maven.data.photometry.AB_ZEROPOINT`). Non-detections keep their measured flux
  (forced photometry) or 0 when only a limiting magnitude is known, with ``detected=False``
  and ``flux_err = flux_limit / n_sigma`` (see :func:`maven.data.photometry.upper_limit_to_flux`).
* band: canonical band names of :mod:`maven.data.bands` (e.g. ``"ztf::r"``).
* spectrum wavelength: observer-frame Angstrom, strictly increasing.

Construction validates: a bad value raises :class:`maven.ValidationError` naming the object
and the field. Unsorted times and exact duplicate points are fixed (sorted, dropped and
counted), not fatal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from maven.errors import ValidationError

__all__ = ["LightCurve", "Spectrum", "Supernova", "LIMITS"]

#: Sanity limits; anything outside is rejected as absurd rather than silently kept.
LIMITS = {
    "max_points": 1_000_000,  # photometric points per light curve
    "max_spectrum_pixels": 2_000_000,
    "mjd_min": -100_000.0,  # historic supernovae (SN 1006 is MJD -310_000: use a note)
    "mjd_max": 100_000.0,  # year 2132
    "max_abs_flux_ujy": 1e15,  # brighter than magnitude -13.6: certainly a unit error
    "wavelength_min": 10.0,  # Angstrom (X-ray edge)
    "wavelength_max": 1e7,  # Angstrom (1 mm)
    "max_spectra": 1000,
}


def _as_1d(values, dtype, name: str, object_id: str | None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"cannot be read as {np.dtype(dtype).name}: {exc}", object_id=object_id, field=name
        ) from None
    if arr.ndim != 1:
        raise ValidationError(
            f"must be one-dimensional, got shape {arr.shape}", object_id=object_id, field=name
        )
    return arr


def _check_finite(arr: np.ndarray, name: str, object_id: str | None) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"{int(bad.sum())} non-finite value(s) (first at index {i}: {float(arr[i])!r})",
            object_id=object_id,
            field=name,
        )


@dataclass(eq=False)
class LightCurve:
    """Multi-band photometry of one object.

    Args:
        time: observation times, MJD. Shape ``(n,)``.
        band: canonical band name per point. Shape ``(n,)``.
        flux: flux in uJy (AB zero point 23.9). Shape ``(n,)``.
        flux_err: 1-sigma flux uncertainty in uJy, strictly positive. Shape ``(n,)``.
        detected: ``False`` for non-detections / upper limits. Shape ``(n,)``; all ``True``
            when omitted.
        object_id: used in error messages only.

    Raises:
        ValidationError: empty, mismatched lengths, non-finite values, non-positive errors,
            times out of range or absurd sizes.
    """

    time: np.ndarray
    band: np.ndarray
    flux: np.ndarray
    flux_err: np.ndarray
    detected: np.ndarray | None = None
    object_id: str | None = field(default=None, repr=False)
    #: number of exact duplicate points dropped at construction
    n_duplicates_dropped: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        oid = self.object_id
        self.time = _as_1d(self.time, np.float64, "lightcurve.time", oid)
        self.flux = _as_1d(self.flux, np.float64, "lightcurve.flux", oid)
        self.flux_err = _as_1d(self.flux_err, np.float64, "lightcurve.flux_err", oid)
        band = _as_1d(self.band, object, "lightcurve.band", oid)
        n = self.time.size
        if self.detected is None:
            self.detected = np.ones(n, dtype=bool)
        detected = _as_1d(self.detected, object, "lightcurve.detected", oid)
        if n == 0:
            raise ValidationError(
                "empty light curve (no points)", object_id=oid, field="lightcurve"
            )
        if n > LIMITS["max_points"]:
            raise ValidationError(
                f"{n} points exceeds the limit of {LIMITS['max_points']}",
                object_id=oid,
                field="lightcurve",
            )
        for name, arr in (
            ("band", band),
            ("flux", self.flux),
            ("flux_err", self.flux_err),
            ("detected", detected),
        ):
            if arr.size != n:
                raise ValidationError(
                    f"has {arr.size} entries but time has {n}",
                    object_id=oid,
                    field=f"lightcurve.{name}",
                )
        if not all(isinstance(b, str) and b for b in band):
            raise ValidationError(
                "every band must be a non-empty string", object_id=oid, field="lightcurve.band"
            )
        if not all(isinstance(d, (bool, np.bool_)) for d in detected):
            raise ValidationError("must hold booleans", object_id=oid, field="lightcurve.detected")
        self.band = band.astype(str)
        self.detected = detected.astype(bool)
        _check_finite(self.time, "lightcurve.time", oid)
        _check_finite(self.flux, "lightcurve.flux", oid)
        _check_finite(self.flux_err, "lightcurve.flux_err", oid)
        if (self.flux_err <= 0).any():
            i = int(np.flatnonzero(self.flux_err <= 0)[0])
            raise ValidationError(
                f"uncertainties must be > 0 (index {i}: {float(self.flux_err[i])!r})",
                object_id=oid,
                field="lightcurve.flux_err",
            )
        if self.time.min() < LIMITS["mjd_min"] or self.time.max() > LIMITS["mjd_max"]:
            raise ValidationError(
                f"MJD range [{self.time.min()}, {self.time.max()}] is outside "
                f"[{LIMITS['mjd_min']}, {LIMITS['mjd_max']}] (JD given as MJD?)",
                object_id=oid,
                field="lightcurve.time",
            )
        big = np.abs(self.flux) > LIMITS["max_abs_flux_ujy"]
        if big.any() or (self.flux_err > LIMITS["max_abs_flux_ujy"]).any():
            raise ValidationError(
                f"flux or error above {LIMITS['max_abs_flux_ujy']:g} uJy (unit error?)",
                object_id=oid,
                field="lightcurve.flux",
            )
        self._sort_and_deduplicate()

    def _sort_and_deduplicate(self) -> None:
        order = np.lexsort((self.flux, self.band, self.time))
        cols = [self.time, self.band, self.flux, self.flux_err, self.detected]
        cols = [c[order] for c in cols]
        t, b, f, e, d = cols
        dup = np.zeros(t.size, dtype=bool)
        dup[1:] = (t[1:] == t[:-1]) & (b[1:] == b[:-1]) & (f[1:] == f[:-1]) & (e[1:] == e[:-1])
        dup[1:] &= d[1:] == d[:-1]
        keep = ~dup
        self.time, self.band, self.flux, self.flux_err, self.detected = (c[keep] for c in cols)
        self.n_duplicates_dropped = int(dup.sum())

    def __len__(self) -> int:
        return int(self.time.size)

    @property
    def bands(self) -> list[str]:
        """Distinct bands, sorted by name."""
        return sorted(set(self.band.tolist()))

    def select(self, mask: np.ndarray) -> LightCurve:
        """A new light curve with the points where ``mask`` is true."""
        mask = np.asarray(mask, dtype=bool)
        return LightCurve(
            self.time[mask],
            self.band[mask],
            self.flux[mask],
            self.flux_err[mask],
            self.detected[mask],
            object_id=self.object_id,
        )

    def to_table(self):
        """An astropy Table in sncosmo's photometric layout (zp 23.9, zpsys 'ab')."""
        from astropy.table import Table

        from maven.data.photometry import AB_ZEROPOINT

        return Table(
            {
                "time": self.time,
                "band": self.band,
                "flux": self.flux,
                "fluxerr": self.flux_err,
                "zp": np.full(len(self), AB_ZEROPOINT),
                "zpsys": np.full(len(self), "ab"),
                "detected": self.detected,
            }
        )

    def equals(self, other: LightCurve) -> bool:
        """Exact equality of every column."""
        return all(
            np.array_equal(getattr(self, k), getattr(other, k))
            for k in ("time", "band", "flux", "flux_err", "detected")
        )


@dataclass(eq=False)
class Spectrum:
    """One spectrum.

    Args:
        wavelength: observer-frame wavelength in Angstrom, strictly increasing. Shape ``(n,)``.
        flux: flux density; erg/s/cm^2/A when ``flux_unit`` says so, else arbitrary. Shape ``(n,)``.
        flux_err: optional 1-sigma uncertainty, > 0, same unit as ``flux``. Shape ``(n,)``.
        mjd: time of observation (MJD) or ``None`` when unknown.
        instrument: telescope/instrument as given by the source.
        flux_unit: ``"erg/s/cm2/A"`` (calibrated F_lambda) or ``"uncalibrated"``.
        meta: JSON-serialisable extras (source file, original units, ...).
        object_id: used in error messages only.
    """

    wavelength: np.ndarray
    flux: np.ndarray
    flux_err: np.ndarray | None = None
    mjd: float | None = None
    instrument: str | None = None
    flux_unit: str = "erg/s/cm2/A"
    meta: dict = field(default_factory=dict)
    object_id: str | None = field(default=None, repr=False)

    FLUX_UNITS = ("erg/s/cm2/A", "uncalibrated")

    def __post_init__(self) -> None:
        oid = self.object_id
        self.wavelength = _as_1d(self.wavelength, np.float64, "spectrum.wavelength", oid)
        self.flux = _as_1d(self.flux, np.float64, "spectrum.flux", oid)
        n = self.wavelength.size
        if n < 2:
            raise ValidationError(
                f"needs at least 2 pixels, got {n}", object_id=oid, field="spectrum.wavelength"
            )
        if n > LIMITS["max_spectrum_pixels"]:
            raise ValidationError(
                f"{n} pixels exceeds the limit of {LIMITS['max_spectrum_pixels']}",
                object_id=oid,
                field="spectrum.wavelength",
            )
        if self.flux.size != n:
            raise ValidationError(
                f"has {self.flux.size} entries but wavelength has {n}",
                object_id=oid,
                field="spectrum.flux",
            )
        _check_finite(self.wavelength, "spectrum.wavelength", oid)
        _check_finite(self.flux, "spectrum.flux", oid)
        steps = np.diff(self.wavelength)
        if (steps <= 0).any():
            i = int(np.flatnonzero(steps <= 0)[0])
            w0, w1 = float(self.wavelength[i]), float(self.wavelength[i + 1])
            raise ValidationError(
                f"must be strictly increasing (index {i + 1}: {w1!r} after {w0!r})",
                object_id=oid,
                field="spectrum.wavelength",
            )
        if (
            self.wavelength[0] < LIMITS["wavelength_min"]
            or self.wavelength[-1] > LIMITS["wavelength_max"]
        ):
            raise ValidationError(
                f"range [{self.wavelength[0]:g}, {self.wavelength[-1]:g}] A is outside "
                f"[{LIMITS['wavelength_min']:g}, {LIMITS['wavelength_max']:g}] (unit error?)",
                object_id=oid,
                field="spectrum.wavelength",
            )
        if self.flux_err is not None:
            self.flux_err = _as_1d(self.flux_err, np.float64, "spectrum.flux_err", oid)
            if self.flux_err.size != n:
                raise ValidationError(
                    f"has {self.flux_err.size} entries but wavelength has {n}",
                    object_id=oid,
                    field="spectrum.flux_err",
                )
            _check_finite(self.flux_err, "spectrum.flux_err", oid)
            if (self.flux_err <= 0).any():
                raise ValidationError(
                    "uncertainties must be > 0", object_id=oid, field="spectrum.flux_err"
                )
        if self.mjd is not None:
            mjd = float(self.mjd)
            if not math.isfinite(mjd) or not LIMITS["mjd_min"] <= mjd <= LIMITS["mjd_max"]:
                raise ValidationError(
                    f"{self.mjd!r} is not a plausible MJD", object_id=oid, field="spectrum.mjd"
                )
            self.mjd = mjd
        if self.flux_unit not in self.FLUX_UNITS:
            raise ValidationError(
                f"{self.flux_unit!r} is not one of {self.FLUX_UNITS}",
                object_id=oid,
                field="spectrum.flux_unit",
            )

    def __len__(self) -> int:
        return int(self.wavelength.size)

    def equals(self, other: Spectrum) -> bool:
        """Exact equality of arrays and metadata."""
        same_err = (self.flux_err is None and other.flux_err is None) or (
            self.flux_err is not None
            and other.flux_err is not None
            and np.array_equal(self.flux_err, other.flux_err)
        )
        return (
            np.array_equal(self.wavelength, other.wavelength)
            and np.array_equal(self.flux, other.flux)
            and same_err
            and self.mjd == other.mjd
            and self.instrument == other.instrument
            and self.flux_unit == other.flux_unit
            and self.meta == other.meta
        )


def _optional_float(value, name: str, object_id: str, lo: float, hi: float) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValidationError(
            f"{value!r} is not a number", object_id=object_id, field=name
        ) from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ValidationError(f"{v!r} is outside [{lo}, {hi}]", object_id=object_id, field=name)
    return v


@dataclass(eq=False)
class Supernova:
    """One supernova: identity, photometry, spectra, type, redshift and provenance.

    Args:
        id: the primary name (e.g. ``"SN2011fe"`` or ``"ZTF19abcdefg"``).
        lightcurve: photometry, or ``None`` for spectrum-only objects.
        spectra: zero or more spectra.
        aliases: other names of the object.
        type_raw: the type string as the source wrote it (``"SN Ia-91T"``).
        type: the mapped class (:mod:`maven.data.types`), filled from ``type_raw`` when omitted.
        redshift, ra, dec (degrees), mwebv (Milky Way E(B-V), mag): optional floats.
        source: where the record came from (reader and file).
        meta: JSON-serialisable extras.
        skipped: what a reader dropped for this object and why: reason -> count.

    Raises:
        ValidationError: empty id, no data at all, or out-of-range scalars.
    """

    id: str
    lightcurve: LightCurve | None = None
    spectra: list[Spectrum] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    type_raw: str | None = None
    type: str | None = None
    redshift: float | None = None
    ra: float | None = None
    dec: float | None = None
    mwebv: float | None = None
    source: str | None = None
    meta: dict = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise ValidationError(f"must be a non-empty string, got {self.id!r}", field="id")
        self.id = self.id.strip()
        oid = self.id
        if self.lightcurve is not None and not isinstance(self.lightcurve, LightCurve):
            raise ValidationError(
                f"must be a LightCurve, got {type(self.lightcurve).__name__}",
                object_id=oid,
                field="lightcurve",
            )
        self.spectra = list(self.spectra)
        for i, s in enumerate(self.spectra):
            if not isinstance(s, Spectrum):
                raise ValidationError(
                    f"must be a Spectrum, got {type(s).__name__}",
                    object_id=oid,
                    field=f"spectra[{i}]",
                )
        if len(self.spectra) > LIMITS["max_spectra"]:
            raise ValidationError(
                f"{len(self.spectra)} spectra exceeds {LIMITS['max_spectra']}",
                object_id=oid,
                field="spectra",
            )
        if self.lightcurve is None and not self.spectra:
            raise ValidationError(
                "has neither a light curve nor a spectrum", object_id=oid, field="lightcurve"
            )
        for name in ("type_raw", "type", "source"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValidationError(
                    f"must be a string or None, got {type(value).__name__} {value!r}",
                    object_id=oid,
                    field=name,
                )
        if isinstance(self.aliases, str) or not isinstance(self.aliases, Iterable):
            raise ValidationError(
                f"must be a list of names, got {type(self.aliases).__name__}",
                object_id=oid,
                field="aliases",
            )
        if not isinstance(self.meta, Mapping):
            raise ValidationError(
                f"must be a mapping, got {type(self.meta).__name__}", object_id=oid, field="meta"
            )
        self.redshift = _optional_float(self.redshift, "redshift", oid, -0.01, 20.0)
        self.ra = _optional_float(self.ra, "ra", oid, 0.0, 360.0)
        self.dec = _optional_float(self.dec, "dec", oid, -90.0, 90.0)
        self.mwebv = _optional_float(self.mwebv, "mwebv", oid, 0.0, 30.0)
        self.aliases = [a for a in dict.fromkeys(str(a).strip() for a in self.aliases) if a]
        self.aliases = [a for a in self.aliases if a != self.id]
        if self.type is None and self.type_raw is not None:
            from maven.data.types import map_type

            self.type = map_type(self.type_raw)
        if self.lightcurve is not None and self.lightcurve.n_duplicates_dropped:
            self.add_skipped("duplicate photometric point", self.lightcurve.n_duplicates_dropped)
            self.lightcurve.n_duplicates_dropped = 0

    def add_skipped(self, reason: str, count: int = 1) -> None:
        """Count ``count`` dropped items under ``reason``."""
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + int(count)

    @property
    def modalities(self) -> tuple[str, ...]:
        """``("photometry",)``, ``("spectrum",)`` or both."""
        out = []
        if self.lightcurve is not None:
            out.append("photometry")
        if self.spectra:
            out.append("spectrum")
        return tuple(out)

    def equals(self, other: Supernova) -> bool:
        """Exact equality of all fields, arrays included."""
        if (self.lightcurve is None) != (other.lightcurve is None):
            return False
        if self.lightcurve is not None and not self.lightcurve.equals(other.lightcurve):
            return False
        if len(self.spectra) != len(other.spectra):
            return False
        if not all(a.equals(b) for a, b in zip(self.spectra, other.spectra, strict=True)):
            return False
        scalars = "id aliases type_raw type redshift ra dec mwebv source meta skipped".split()
        return all(getattr(self, k) == getattr(other, k) for k in scalars)


def merge_skipped(items: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Sum several ``reason -> count`` mappings."""
    out: dict[str, int] = {}
    for m in items:
        for k, v in m.items():
            out[k] = out.get(k, 0) + int(v)
    return out
