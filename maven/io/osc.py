"""Reader for Open Supernova Catalog (OSC) native JSON: ``{"NAME": {"name": ..., ...}}``.

OSC stores every number as a string and every scalar property (type, redshift, ra, ...) as a
list of ``{"value", "source", ...}`` entries from several sources. This reader takes the first
entry (the catalogue's preferred one) and keeps the full lists in ``Supernova.meta``.

Photometry: magnitudes become uJy through the band registry (:mod:`maven.data.bands`);
upper limits become non-detections (forced flux when OSC gives a count rate, else ``0 +-
f_lim / n_sigma``). Radio/X-ray points, synthetic points, model realisations, points without
a placeable band or without an uncertainty are dropped with a counted reason
(``Supernova.skipped``). Spectra are converted to observer-frame Angstrom.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from maven.data.bands import ab_offset, resolve_band
from maven.data.photometry import mag_to_flux, rescale_flux, upper_limit_to_flux
from maven.data.records import Spectrum, Supernova
from maven.errors import ConfigError, FormatError, UnknownBandError, ValidationError
from maven.io.common import (
    build_lightcurve,
    build_spectrum,
    count,
    count_unplaceable,
    optional_text,
    parse_json,
    read_text,
)

__all__ = ["FORMAT", "sniff", "read"]

FORMAT = "osc"

#: top-level keys turned into record fields; every other key is kept verbatim in ``meta``
_CONSUMED = {
    "name",
    "alias",
    "claimedtype",
    "redshift",
    "ra",
    "dec",
    "ebv",
    "photometry",
    "spectra",
}
#: claimed types that are not a classification
_NOT_A_TYPE = {"candidate", "unknown", "other", "?"}
_OSC_KEYS = ("photometry", "spectra", "claimedtype", "alias", "sources")
#: keys of a photometric point that place its band (resolve_band's context)
_CONTEXT = ("telescope", "instrument", "system", "survey")


def sniff(path: Path, head: str) -> bool:
    """True if ``head`` (start of the text) looks like OSC JSON: ``{"NAME": {"name": ...``."""
    if not re.match(r'\s*\{\s*"[^"]+"\s*:\s*\{', head):
        return False
    return '"name"' in head and any(f'"{k}"' in head for k in _OSC_KEYS)


def read(path: Path, *, assumed_mag_err: float | None = None) -> list[Supernova]:
    """Read one OSC file (``.json`` or ``.json.gz``) into one :class:`Supernova` per event.

    Args:
        assumed_mag_err: magnitude uncertainty to assume for detections published without one
            (or with 0, as Gaia alerts are); ``None`` (default) drops such points, counted.
            Assumed points are counted in ``meta["assumed_uncertainty_points"]``.

    Raises:
        FormatError: malformed JSON, not an OSC event mapping, missing name, no usable
            photometry or spectra, or values out of range (all naming ``path``).
    """
    path = Path(path)
    if assumed_mag_err is not None and not 0 < assumed_mag_err < 5:
        raise ConfigError(f"assumed_mag_err must be in (0, 5) mag, got {assumed_mag_err!r}")
    data = parse_json(read_text(path), path)
    if not isinstance(data, dict) or not data:
        raise FormatError(
            f"{path}: expected a JSON object {{name: event}}, got "
            f"{type(data).__name__ if data else 'an empty object'}"
        )
    out = []
    for key, event in data.items():
        if not isinstance(event, dict):
            raise FormatError(f"{path}: entry {key!r} is not an object")
        try:
            out.append(_read_event(event, path, assumed_mag_err))
        except ValidationError as exc:
            raise FormatError(f"{path}: {exc}") from None
    return out


def _read_event(o: dict, path: Path, assumed_mag_err: float | None = None) -> Supernova:
    name = o.get("name")
    if not isinstance(name, str) or not name.strip():
        raise FormatError(f"{path}: event without a 'name'")
    skipped: dict[str, int] = {}
    meta: dict[str, Any] = {k: v for k, v in o.items() if k not in _CONSUMED}
    meta["file"] = path.name
    types = _entries(o, "claimedtype", path)
    redshifts = _entries(o, "redshift", path)
    meta["claimedtype_all"] = types
    meta["redshift_all"] = redshifts
    type_raw = next(
        (
            str(t["value"])
            for t in types
            if t.get("value")
            and "probability" not in t
            and t.get("kind") != "photometric"
            and str(t["value"]).strip().lower() not in _NOT_A_TYPE
        ),
        None,
    )
    redshift = _first_float(redshifts, "redshift", skipped)
    ra, dec = _coords(o, path, skipped)
    for key in ("photometry", "spectra"):
        if not isinstance(o.get(key) or [], list):
            raise FormatError(f"{path}: {key!r} must be a list, got {type(o[key]).__name__}")
    lightcurve = _photometry(o.get("photometry") or [], name, meta, skipped, assumed_mag_err)
    spectra = [
        s
        for s in (_spectrum(e, name, redshift, skipped) for e in (o.get("spectra") or []))
        if s is not None
    ]
    if lightcurve is None and not spectra:
        why = ", ".join(f"{r}: {n}" for r, n in skipped.items()) or "no photometry or spectra"
        raise FormatError(f"{path}: nothing usable left ({why})")
    realdata = o.get("_realdata") if isinstance(o.get("_realdata"), dict) else {}
    aliases = [re.sub(r"<[^>]+>", "", str(a.get("value", ""))) for a in _entries(o, "alias", path)]
    return Supernova(
        id=name,
        lightcurve=lightcurve,
        spectra=spectra,
        aliases=aliases,
        type_raw=type_raw,
        redshift=redshift,
        ra=ra,
        dec=dec,
        mwebv=_first_float(_entries(o, "ebv", path), "ebv", skipped),
        source="osc:" + str(realdata.get("source_repo") or path.name),
        meta=meta,
        skipped=skipped,
    )


def _entries(o: dict, key: str, path: Path) -> list[dict]:
    """The list of ``{"value": ...}`` entries under ``key`` ([] when absent)."""
    value = o.get(key) or []
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise FormatError(f"{path}: {key!r} must be a list of objects")
    return value


def _float(value) -> float:
    """OSC number (a string) -> float; NaN when missing or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _first_float(entries: list[dict], what: str, skipped: dict[str, int]) -> float | None:
    """The first entry's value as a float; ``None`` (counted if present) when not a number."""
    if not entries:
        return None
    v = _float(entries[0].get("value"))
    if math.isnan(v):
        count(skipped, f"unreadable {what}")
        return None
    return v


def _coords(o: dict, path: Path, skipped: dict[str, int]) -> tuple[float | None, float | None]:
    """First ra/dec entries -> decimal degrees (ra in hours when sexagesimal or so stated)."""
    from astropy import units as u
    from astropy.coordinates import Angle

    out: list[float | None] = []
    for key in ("ra", "dec"):
        entries = _entries(o, key, path)
        if not entries:
            out.append(None)
            continue
        value, unit = str(entries[0].get("value", "")).strip(), entries[0].get("u_value")
        hours = unit == "hours" or (key == "ra" and unit is None and ":" in value)
        try:
            angle = Angle(value, unit=u.hourangle if hours else u.deg)
            deg = float(angle.wrap_at(360 * u.deg).deg if key == "ra" else angle.deg)
        except (ValueError, TypeError, u.UnitsError):
            deg = math.nan
        if not (key == "ra" or -90.0 <= deg <= 90.0) or math.isnan(deg):
            count(skipped, f"unreadable {key}")
            deg = None
        out.append(deg)
    return out[0], out[1]


def _photometry(points: list, name: str, meta: dict, skipped: dict[str, int], assumed_mag_err=None):
    """OSC photometry entries -> :class:`LightCurve` (or ``None``), dropping with reasons."""
    rows: list[tuple[float, str, float, float, bool]] = []
    # band context -> (canonical name, AB offset) or the reason it cannot be used; resolved once
    bands: dict[tuple, tuple[str, float] | str] = {}
    for p in points:
        if not isinstance(p, dict):
            count(skipped, "photometric entry that is not an object")
            continue
        if (
            "frequency" in p
            or "energy" in p
            or ("magnitude" not in p and ("flux" in p or "fluxdensity" in p))
        ):
            count(skipped, "radio/X-ray point")
            continue
        if p.get("synthetic"):
            count(skipped, "synthetic point")
            continue
        if "model" in p or "realization" in p:
            count(skipped, "model realization point")
            continue
        if p.get("u_time") != "MJD":
            count(skipped, "photometric point with time not in MJD")
            continue
        if isinstance(p.get("time"), list):
            count(skipped, "photometric point with a time range")
            continue
        if "magnitude" not in p:
            count(skipped, "photometric point without a magnitude")
            continue
        band = optional_text(p.get("band"))
        if not band:
            count(skipped, "photometric point without a band")
            continue
        context = (band, *(optional_text(p.get(k)) for k in _CONTEXT))
        if context not in bands:
            try:
                b = resolve_band(
                    band,
                    telescope=context[1],
                    instrument=context[2],
                    system=context[3],
                    survey=context[4],
                )
            except UnknownBandError:
                bands[context] = "unplaceable band"
            else:
                try:
                    bands[context] = (b.name, ab_offset(b, context[3]))
                except UnknownBandError:
                    bands[context] = "unknown magnitude system"
        if bands[context] == "unplaceable band":
            count_unplaceable(skipped, meta, f"{band}@{context[1]}")
            continue
        if isinstance(bands[context], str):
            count(skipped, bands[context])
            continue
        band_name, offset = bands[context]
        time, mag = _float(p.get("time")), _float(p["magnitude"])
        if p.get("upperlimit"):
            if all(k in p for k in ("countrate", "e_countrate", "zeropoint")):
                # forced photometry: flux on the stated system's zero point, made AB by offset
                f, e = rescale_flux(
                    _float(p["countrate"]), _float(p["e_countrate"]), _float(p["zeropoint"])
                )
                scale = 10.0 ** (-0.4 * offset)
                f, e = f * scale, e * scale
            else:
                n_sigma = _float(p.get("upperlimitsigma", 3.0))
                f, e = upper_limit_to_flux(
                    mag, n_sigma=n_sigma if n_sigma > 0 else 3.0, vega_to_ab=offset
                )
            rows.append((time, band_name, float(f), float(e), False))
            continue
        # Detections use the published magnitude even when a count rate is given: the two
        # agree (m = zp - 2.5 log10 rate), and the magnitude path is common to all points.
        if "e_magnitude" in p:
            e_mag = _float(p["e_magnitude"])
        elif "e_lower_magnitude" in p and "e_upper_magnitude" in p:
            e_mag = 0.5 * (_float(p["e_lower_magnitude"]) + _float(p["e_upper_magnitude"]))
        else:
            e_mag = math.nan  # no uncertainty: dropped (and counted) by build_lightcurve
        if assumed_mag_err is not None and not e_mag > 0:
            e_mag = assumed_mag_err
            meta["assumed_uncertainty_points"] = meta.get("assumed_uncertainty_points", 0) + 1
        f, e = mag_to_flux(mag, e_mag, vega_to_ab=offset)
        rows.append((time, band_name, float(f), float(e), True))
    if not rows:
        return None
    t, b, f, e, d = zip(*rows, strict=True)
    return build_lightcurve(t, b, f, e, d, object_id=name, skipped=skipped)


def _flux_unit(unit) -> str | None:
    """OSC ``u_fluxes`` -> maven flux unit, ``None`` when not understood."""
    s = re.sub(r"[\s^]", "", str(unit)).lower().replace("ergs", "erg")
    if s == "uncalibrated":
        return "uncalibrated"
    if s in {
        "erg/s/cm2/angstrom",
        "erg/s/cm2/a",
        "erg/cm2/s/angstrom",
        "erg/cm2/s/a",
        "ergs-1cm-2angstrom-1",
        "ergs-1cm-2a-1",
    }:
        return "erg/s/cm2/A"
    return None


def _spectrum(
    s: dict, name: str, z_object: float | None, skipped: dict[str, int]
) -> Spectrum | None:
    """One OSC spectrum entry -> :class:`Spectrum` (or ``None``, counted)."""
    if not isinstance(s, dict) or not isinstance(s.get("data"), list) or not s["data"]:
        count(skipped, "spectrum without data")
        return None
    scale = {"Angstrom": 1.0, "nm": 10.0}.get(str(s.get("u_wavelengths", "Angstrom")))
    if scale is None:
        count(skipped, "spectrum with unsupported wavelength unit")
        return None
    flux_unit = _flux_unit(str(s.get("u_fluxes", "Uncalibrated")))
    if flux_unit is None:
        count(skipped, "spectrum with unsupported flux unit")
        return None
    try:
        table = np.array(s["data"], dtype=np.float64)
        if table.ndim != 2 or table.shape[1] < 2:
            raise ValueError
    except (TypeError, ValueError, OverflowError):  # ragged, non-numeric: parse row by row
        table = np.array(
            [
                [_float(r[i]) if isinstance(r, list) and i < len(r) else math.nan for i in range(3)]
                for r in s["data"]
            ]
        )
    wave, flux = table[:, 0] * scale, table[:, 1]
    err = table[:, 2] if table.shape[1] > 2 and not np.isnan(table[:, 2]).all() else None
    if err is not None and _flux_unit(s.get("u_errors", s.get("u_fluxes"))) != flux_unit:
        count(skipped, "spectrum error column in another unit (errors dropped)")
        err = None
    meta = {
        k: s[k] for k in ("filename", "source", "u_fluxes", "u_errors", "snr", "redshift") if k in s
    }
    if s.get("deredshifted"):
        z = _float(s.get("redshift"))
        z = z_object if math.isnan(z) else z
        if z is None:
            count(skipped, "deredshifted spectrum without a redshift")
            return None
        wave = wave * (1.0 + z)
        meta["deredshifted_input"] = True
    mjd = None
    if "time" in s:
        mjd = _float(s["time"]) if s.get("u_time") == "MJD" else math.nan
        if math.isnan(mjd):
            count(skipped, "spectrum time not an MJD (time dropped)")
            mjd = None
    instrument = "/".join(str(s[k]) for k in ("instrument", "telescope") if s.get(k)) or None
    return build_spectrum(
        wave,
        flux,
        err,
        object_id=name,
        skipped=skipped,
        mjd=mjd,
        instrument=instrument,
        flux_unit=flux_unit,
        meta=meta,
    )
