"""Reader for the container JSONs of ``shared/data/real`` (native texts wrapped with metadata).

Two layouts (formats ``pplus_wiserep`` and ``wiserep``), told apart by their keys:

* ``pplus_wiserep/withspec/NAME.json.gz``: ``{"name", "type", "redshift_helio", "ra", "dec",
  "mwebv", "t_peak_mjd", "photometry_snana": {path: SNANA text}, "spectra": [{"filename",
  "mjd", "ncols", "meta", "text"}], ...}``. Every SNANA text goes through
  :func:`maven.io.snana.parse_snana_table` with the survey taken from the Pantheon+ folder in
  its path; the light curves of all surveys are merged into one.
* ``wiserep/spectra/NAME.json.gz``: ``{"name", "type_raw", "type_coarse", "redshift", "ra",
  "dec", "coords_osc", "aliases", "spectra": [{"filename", "mjd", "instrument", "telescope",
  "text", "err_col", "err_kind_guess", ...}]}``: spectra only. ``ra``/``dec`` are null there;
  the Open Supernova Catalog position (``coords_osc``, sexagesimal) is used when present.

Spectrum texts go through :func:`maven.io.ascii_spectrum.parse_ascii_spectrum`, with the
container's ``err_col``/``err_kind_guess`` as hints (checked by the parser against the flux).
WISeREP flux units vary (F_lambda, scaled F_lambda, counts, normalised): a spectrum is
``"erg/s/cm2/A"`` only when its median |flux| lies in 1e-20..1e-10, else ``"uncalibrated"``
(:data:`maven.io.ascii_spectrum.CALIBRATED_RANGE`). Unreadable texts are counted in
``Supernova.skipped``, not fatal.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from maven.data.records import LightCurve, Spectrum, Supernova
from maven.errors import FormatError, ValidationError
from maven.io.ascii_spectrum import parse_ascii_spectrum
from maven.io.common import (
    Reader,
    angle_degrees,
    build_lightcurve,
    count,
    optional_float,
    optional_text,
    parse_json,
    read_text,
)
from maven.io.snana import parse_snana_table

__all__ = [
    "FORMAT_PPLUS",
    "FORMAT_WISEREP",
    "READERS",
    "sniff",
    "sniff_pplus",
    "sniff_wiserep",
    "read",
]

FORMAT_PPLUS = "pplus_wiserep"
FORMAT_WISEREP = "wiserep"


def sniff_pplus(path: Path, head: str) -> bool:
    """True for a Pantheon+ x WISeREP container (a JSON object with ``photometry_snana``)."""
    return head.lstrip().startswith("{") and '"photometry_snana"' in head


def sniff_wiserep(path: Path, head: str) -> bool:
    """True for a WISeREP spectra container (``type_coarse`` with WISeREP/OSC keys)."""
    return (
        head.lstrip().startswith("{")
        and '"type_coarse"' in head
        and any(f'"{k}"' in head for k in ("wiserep_folders", "n_spectra_usable", "coords_osc"))
    )


def sniff(path: Path, head: str) -> bool:
    """True for either container layout."""
    return sniff_pplus(path, head) or sniff_wiserep(path, head)


def read(path: str | Path) -> list[Supernova]:
    """Read one container (``.json`` or ``.json.gz``) into one :class:`Supernova`.

    Raises:
        FormatError: malformed JSON, unknown layout, or no usable light curve or spectrum.
    """
    path = Path(path)
    data = parse_json(read_text(path), path)
    if not isinstance(data, dict) or optional_text(data.get("name")) is None:
        raise FormatError(f"{path}: not a container (a JSON object with a 'name')")
    try:
        if "photometry_snana" in data:
            return [_read_pplus(data, path)]
        if "type_coarse" in data and isinstance(data.get("spectra"), list):
            return [_read_wiserep(data, path)]
    except ValidationError as exc:
        raise FormatError(f"{path}: {exc}") from None
    raise FormatError(f"{path}: unknown container layout (keys {sorted(data)[:8]})")


def _spectra(entries: Any, object_id: str, skipped: dict[str, int], source: str) -> list:
    out: list[Spectrum] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
            count(skipped, "spectrum entry without text")
            continue
        extra = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
        instrument = " - ".join(
            str(x) for x in (entry.get("telescope"), entry.get("instrument")) if x
        ) or optional_text(extra.get("Instrument"))
        meta = {"filename": entry.get("filename"), "source": source}
        for key in ("bibcode", "contributor"):
            if entry.get(key):
                meta[key] = entry[key]
        err_col = entry.get("err_col")
        try:
            spec = parse_ascii_spectrum(
                entry["text"],
                object_id=object_id,
                skipped=skipped,
                mjd=optional_float(entry.get("mjd")),
                instrument=instrument,
                meta=meta,
                err_kind=optional_text(entry.get("err_kind_guess")),
                err_col=err_col if isinstance(err_col, int) else None,
            )
        except FormatError:
            count(skipped, "unreadable spectrum text")
            continue
        if spec is not None:
            out.append(spec)
    return out


def _merge(parts: list, object_id: str, skipped: dict[str, int]) -> LightCurve | None:
    if not parts:
        return None
    cat = [
        np.concatenate([getattr(p, k) for p in parts])
        for k in ("time", "band", "flux", "flux_err", "detected")
    ]
    return build_lightcurve(*cat, object_id=object_id, skipped=skipped)


def _read_pplus(d: dict, path: Path) -> Supernova:
    name = d["name"]
    skipped: dict[str, int] = {}
    phot = d.get("photometry_snana") or {}
    parts, aliases, surveys = [], [], []
    unplaceable: dict[str, int] = {}
    for key, text in phot.items() if isinstance(phot, dict) else []:
        survey = PurePosixPath(str(key)).parent.name or None
        try:
            t = parse_snana_table(str(text), source=f"{path}:{key}", survey=survey)
        except FormatError:
            count(skipped, "unreadable SNANA light curve")
            continue
        for reason, n in t.skipped.items():
            count(skipped, reason, n)
        parts.append(t)
        surveys.append(survey)
        for band, n in t.meta.get("unplaceable_bands", {}).items():
            unplaceable[band] = unplaceable.get(band, 0) + n
        aliases += [t.header.get(k, "").strip() for k in ("SNID", "IAUC")]
    meta: dict[str, Any] = {
        "surveys": surveys,
        "t_peak_mjd": optional_float(d.get("t_peak_mjd")),
        "type_note": d.get("type_note"),
    }
    if unplaceable:
        meta["unplaceable_bands"] = dict(sorted(unplaceable.items()))
    source = f"{FORMAT_PPLUS}:{path}"
    lc = _merge(parts, name, skipped)
    spectra = _spectra(d.get("spectra"), name, skipped, "wiserep")
    if lc is None and not spectra:
        raise FormatError(f"{path}: no usable photometry or spectrum ({skipped})")
    aliases = [a for a in aliases if a and a.upper() not in ("UNKNOWN", "NULL", "NONE")]
    return Supernova(
        id=name,
        lightcurve=lc,
        spectra=spectra,
        aliases=aliases,
        type_raw=optional_text(d.get("type")),
        redshift=optional_float(d.get("redshift_helio")),
        ra=optional_float(d.get("ra")),
        dec=optional_float(d.get("dec")),
        mwebv=optional_float(d.get("mwebv")),
        source=source,
        meta=meta,
        skipped=skipped,
    )


def _read_wiserep(d: dict, path: Path) -> Supernova:
    name = d["name"]
    skipped: dict[str, int] = {}
    ra, dec = optional_float(d.get("ra")), optional_float(d.get("dec"))
    meta: dict[str, Any] = {"type_coarse": d.get("type_coarse")}
    osc = d.get("coords_osc")
    if (ra is None or dec is None) and isinstance(osc, dict):
        ra, dec = angle_degrees(osc.get("ra"), True), angle_degrees(osc.get("dec"), False)
        meta["coords_source"] = osc.get("source")
    spectra = _spectra(d.get("spectra"), name, skipped, "wiserep")
    if not spectra:
        raise FormatError(f"{path}: no usable spectrum ({skipped})")
    aliases = d.get("aliases") if isinstance(d.get("aliases"), list) else []
    return Supernova(
        id=name,
        spectra=spectra,
        aliases=aliases,
        type_raw=optional_text(d.get("type_raw")),
        redshift=optional_float(d.get("redshift")),
        ra=ra,
        dec=dec,
        source=f"{FORMAT_WISEREP}:{path}",
        meta=meta,
        skipped=skipped,
    )


READERS = [
    Reader(FORMAT_PPLUS, sniff_pplus, read, "Pantheon+ SNANA x WISeREP container JSON"),
    Reader(FORMAT_WISEREP, sniff_wiserep, read, "WISeREP spectra container JSON"),
]
