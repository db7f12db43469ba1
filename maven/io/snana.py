"""Reader for SNANA text light curves (PLAsTiCC, Pantheon+ and SNANA simulations).

A file is ``KEY: value`` header lines (``SNID``, ``SURVEY``, ``RA``, ``DECL``/``DEC``,
``MWEBV``, ``REDSHIFT_HELIO: z +- err``, ``SEARCH_PEAKMJD``/``PEAKMJD``, ``FILTERS``,
``SNTYPE``, ...), a ``VARLIST:`` (or ``VARNAMES:``; the colon is sometimes missing) naming the
columns, ``OBS:`` rows, ``#`` comments and ``END:``. Column order varies (``FIELD`` may precede
``FLT``; the band column is ``FLT``, ``FILTER`` or ``BAND``).

Flux: ``FLUXCAL`` has zero point 27.5 in the band's *natural* magnitude system. It becomes uJy
with :func:`~maven.data.photometry.rescale_flux`; for bands whose ``magsys`` is ``"Vega"`` the
flux is then multiplied by ``10**(-0.4 * band.vega_to_ab)`` (``m_AB = m_Vega + vega_to_ab``), so
every flux is on the AB scale. Files with only ``MAG``/``MAGERR`` go through
:func:`~maven.data.photometry.mag_to_flux` (sentinel magnitudes such as 99 are dropped).
``PHOTFLAG`` bit 4096 marks a detection (PLAsTiCC); without ``PHOTFLAG`` every point counts as
detected.

Filter letters are survey-specific codes. :data:`SURVEY_BANDS` places them for the Pantheon+
surveys and PLAsTiCC/LSST; a ``FILTERS: ... # UBVri -> klmno`` header comment is parsed and
used too. The survey is the Pantheon+ folder name (``survey=``) or else the ``SURVEY:`` header.
For other surveys a letter is placed by :func:`maven.data.bands.resolve_band` only when the
survey context decides it (the result differs from the context-free reading), since a bare
``B`` in an unknown survey may be any filter. Letters that cannot be placed are never guessed:
their points are dropped and counted as ``"unplaceable band"``, and per letter (with the
survey) in ``meta["unplaceable_bands"]``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from maven.data.bands import get_band, resolve_band
from maven.data.photometry import mag_to_flux, rescale_flux
from maven.data.records import Supernova
from maven.errors import FormatError, UnknownBandError, ValidationError
from maven.io.common import build_lightcurve, count, read_text

__all__ = [
    "FORMAT",
    "SURVEY_BANDS",
    "SnanaTable",
    "sniff",
    "read",
    "parse_snana",
    "parse_snana_table",
    "survey_key",
]

FORMAT = "snana"
FLUXCAL_ZP = 27.5
PHOTFLAG_DETECTION = 4096


def _letters(codes: str, bands: str, system: str) -> dict[str, str]:
    """``_letters("ABCD", "BVRI", "kait")`` -> ``{"A": "kait::B", ...}``."""
    return {c: f"{system}::{b}" for c, b in zip(codes, bands, strict=True)}


# (survey, letter) -> canonical band. How each mapping was established (see the module tests
# and the session report): peak and +30 d magnitudes of the SNe Ia in ../shared/data/real,
# MJD ranges of each letter, and the SNANA/Pantheon+ conversion scripts.
_KAIT = {
    # Ganeshalingam+10 / Stahl+19 (LOSS): 4 KAIT filter sets then Nickel, each B V R I.
    # Verified for A-D, E-H, I-L, M-P and e-h: in every group the first letter declines
    # fastest and is faintest at +30 d, the last is brightest at +30 d (I-band secondary
    # maximum). a-d (no data here) follow the same documented pattern.
    **_letters("ABCD", "BVRI", "kait"),
    **_letters("EFGH", "BVRI", "kait"),
    **_letters("IJKL", "BVRI", "kait"),
    **_letters("MNOP", "BVRI", "kait"),
    **_letters("abcd", "BVRI", "kait"),
    **_letters("efgh", "BVRI", "kait"),
}
_PS1_LOWZ_COMBINED = {
    # Letters of the PS1_LOWZ_COMBINED system, as stated by the files' own header comments
    # (FILTERS: ... # UBVRI -> abcde (CFA3S), UBVri -> fghij (CFA3K), UBVri -> klmno (CFA4p1),
    # BVri -> pqrs (CFA4p2), UBVRI -> GHIJK (CFA2)); B/V/R/I order confirmed by +30 d
    # magnitudes. CfA2 (Jha+06) is published in the standard system -> Bessell curves.
    **_letters("abcde", "UBVRI", "4shooter"),
    **_letters("fghij", "UBVri", "keplercam"),
    **_letters("klmno", "UBVri", "cfa4p1"),
    **_letters("pqrs", "BVri", "cfa4p2"),
    **_letters("GHIJK", "UBVRI", "bessell"),
}
SURVEY_BANDS: dict[str, dict[str, str]] = {
    # Foundation DR1 (and PS1MD) observed with Pan-STARRS1: FILTERS griz. Certain.
    "foundation": _letters("griz", "griz", "ps1"),
    "ps1md": _letters("griz", "griz", "ps1"),
    # CSP: R. Kessler's translate_CSPDR3.py (SNANA) writes u g r i B, V->n (LC-9844),
    # V0->m (LC-3014), V1->o (LC-3009), J, Jrc2->j, Y, Ydw->y (du Pont), H. Verified: m only
    # before MJD 53749 and n only after 53762, as the CSP V filter history says. Jrc2 (second
    # RetroCam J) is read with the RetroCam J curve. CSP_data2 holds the same CSP-II light
    # curves twice, once with 'V' and once with 'n' (both LC-9844): both are csp::V (the
    # registry's LC-9844 curve), so the copies are recognised as duplicates when merged.
    "csp": {
        **_letters("ugriB", "ugriB", "csp"),
        "V": "csp::V",
        "n": "csp::V",
        "m": "csp::V3014",
        "o": "csp::V3009",
        "Y": "csp::Y",
        "J": "csp::J",
        "j": "csp::J",
        "H": "csp::H",
        "y": "csp::Yd",
    },
    "kait": _KAIT,
    # Swift UVOT (SOUSA) BNUVWX. Established from the SNe Ia here: at peak and at +30 d the
    # order from bright to faint is U/V/B, then W, then X, then N (faintest, fewest points):
    # W = UVW1, X = UVW2, N = UVM2 (Ia are faintest in UVM2, UVW2 is brighter by its red leak).
    "swift": {
        "B": "swift::b",
        "V": "swift::v",
        "U": "swift::u",
        "W": "swift::uvw1",
        "X": "swift::uvw2",
        "N": "swift::uvm2",
    },
    # JRK07 low-z compilation (Jha, Riess & Kirshner 2007): standard UBVRI. Certain.
    "lowz": _letters("UBVRI", "UBVRI", "bessell"),
    "ps1_lowz_combined": _PS1_LOWZ_COMBINED,
    # Pantheon+ ASASSN folder: its filter_to_letter.json says lco-b a, lco-v b, lco-i c,
    # lco-r d, lco-g e, asas-v f, rp-b g, rp-i h, rp-r i, rp-v j, asas-g k (B V +30 d order
    # confirmed). No LCO/ASAS-SN curves are registered: Johnson B V -> Bessell, g r i -> SDSS
    # (approximation).
    "asassn": {
        "a": "bessell::B",
        "b": "bessell::V",
        "c": "sdss::i",
        "d": "sdss::r",
        "e": "sdss::g",
        "f": "bessell::V",
        "g": "bessell::B",
        "h": "sdss::i",
        "i": "sdss::r",
        "j": "bessell::V",
        "k": "sdss::g",
    },
    # PLAsTiCC / LSST simulations: u g r i z Y.
    "lsst": {**_letters("ugrizy", "ugrizy", "lsst"), "Y": "lsst::y"},
}
#: Pantheon+ photometry folder names and SURVEY header values -> key of SURVEY_BANDS.
_SURVEY_ALIASES = {
    "foundation_dj17": "foundation",
    "cspdr3_anthony": "csp",
    "csp_data2": "csp",
    "cspdr3": "csp",
    "kait_ds15": "kait",
    "loss": "kait",
    "kaitm": "kait",
    "swift": "swift",
    "sousa": "swift",
    "ps1s_lowz_jrk07_nocfa_ds15": "lowz",
    "jrk07": "lowz",
    "ps1_lowz_combined_text_ds17": "ps1_lowz_combined",
    "cfa3_dj20": "ps1_lowz_combined",
    "plasticc": "lsst",
    "lsst_wfd": "lsst",
    "lsst_ddf": "lsst",
}
#: sub-survey in ``SURVEY: PS1_LOWZ_COMBINED(CFA3K)`` -> band system of a header-comment map
_SUBSURVEY_SYSTEMS = {
    "cfa3s": "4shooter",
    "cfa3k": "keplercam",
    "cfa4p1": "cfa4p1",
    "cfa4p2": "cfa4p2",
    "cfa2": "bessell",
    "cfa1": "bessell",
}

_BAND_COLUMNS = ("FLT", "FILTER", "BAND", "PASSBAND")
_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9_()]*)\s*:(.*)$")
_VARLIST = re.compile(r"^(VARLIST|VARNAMES)\b\s*:?\s*(.*)$", re.I)
_COMMENT_MAP = re.compile(r"#\s*([A-Za-z]+)\s*->\s*([A-Za-z]+)")
_MISSING = {"", "UNKNOWN", "NULL", "NONE", "-9", "-99", "-999", "NAN"}


def survey_key(name: str | None) -> str | None:
    """Normalised survey name: ``"PS1_LOWZ_COMBINED(CFA3K)"`` -> ``"ps1_lowz_combined"``."""
    if not name:
        return None
    key = re.sub(r"\(.*?\)", "", str(name)).strip().lower()
    key = _SURVEY_ALIASES.get(key, key)
    return key or None


def sniff(path: Path, head: str) -> bool:
    """True if ``head`` has SNANA header keys and a ``VARLIST``/``OBS:`` section."""
    has_key = re.search(r"^\s*(SNID|SURVEY)\s*:", head, re.M) is not None
    return has_key and re.search(r"^\s*(VARLIST|VARNAMES|NVAR|OBS:)", head, re.M) is not None


def read(path: str | Path) -> list[Supernova]:
    """Read one SNANA text file; the survey is taken from its folder name, else ``SURVEY:``.

    Raises:
        FormatError: not SNANA text, no usable point, or invalid header values.
    """
    path = Path(path)
    return [parse_snana(read_text(path), source=str(path), survey=path.parent.name)]


@dataclass
class SnanaTable:
    """The photometry of one SNANA text, converted to uJy (AB) and canonical bands."""

    header: dict[str, str]
    time: np.ndarray
    band: np.ndarray
    flux: np.ndarray
    flux_err: np.ndarray
    detected: np.ndarray
    skipped: dict[str, int] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def first_float(self, *keys: str) -> float | None:
        """The first number of the first present header key (``"0.03 +- 0.001"`` -> 0.03)."""
        for k in keys:
            v = _first_float(self.header.get(k))
            if v is not None:
                return v
        return None


def _first_float(value: str | None) -> float | None:
    if value is None:
        return None
    tok = value.split()
    if not tok or tok[0].upper() in _MISSING:
        return None
    try:
        v = float(tok[0])
    except ValueError:
        return None
    return v if np.isfinite(v) else None


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _split_lines(text: str, source: str):
    """Header (last value wins, inline comments cut), inline comments, VARLIST, OBS rows."""
    header: dict[str, str] = {}
    comments: dict[str, str] = {}
    varlist: list[str] | None = None
    rows: list[list[str]] = []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.upper().startswith("OBS:"):
            rows.append(s[4:].split("#", 1)[0].split())
            continue
        m = _VARLIST.match(s)
        if m:
            varlist = [v.upper() for v in m.group(2).split("#", 1)[0].split()]
            continue
        m = _KEY.match(s)
        if m:
            key, value = m.group(1).upper(), m.group(2)
            header[key] = value.split("#", 1)[0].strip()
            if "#" in value:
                comments[key] = value.split("#", 1)[1].strip()
    if not rows:
        raise FormatError(f"{source}: no OBS: rows (not an SNANA light curve)")
    if not varlist:
        raise FormatError(f"{source}: OBS: rows without a VARLIST")
    return header, comments, varlist, rows


def _comment_letters(filters_comment: str | None, subsurvey: str | None) -> dict[str, str]:
    """``# UBVri -> klmno`` with sub-survey ``CFA4p1`` -> ``{"k": "cfa4p1::U", ...}``."""
    if not filters_comment or not subsurvey:
        return {}
    m = _COMMENT_MAP.search("#" + filters_comment)
    system = _SUBSURVEY_SYSTEMS.get(subsurvey.strip().lower())
    if not m or system is None or len(m.group(1)) != len(m.group(2)):
        return {}
    return {code: f"{system}::{band}" for band, code in zip(m.group(1), m.group(2), strict=True)}


def _letter_table(header, comments, survey) -> tuple[str | None, dict[str, str]]:
    """(survey name used, letter -> canonical band) for this file."""
    header_survey = header.get("SURVEY", "").strip() or None
    sub = re.search(r"\((.*?)\)", header_survey or "")
    table: dict[str, str] = {}
    used = None
    for name in (survey, header_survey):
        key = survey_key(name)
        if key in SURVEY_BANDS:
            table, used = dict(SURVEY_BANDS[key]), name
            break
    table.update(_comment_letters(comments.get("FILTERS"), sub.group(1) if sub else None))
    return used or header_survey or survey, table


def _place(letter: str, table: dict[str, str], survey: str | None) -> str | None:
    """Canonical band of ``letter``, or ``None`` when it cannot be placed with confidence."""
    if letter in table:
        return table[letter]
    if not survey:
        return None
    try:
        with_context = resolve_band(letter, survey=survey).name
    except UnknownBandError:
        return None
    try:
        bare = resolve_band(letter).name
    except UnknownBandError:
        bare = None
    return with_context if with_context != bare else None


def _floats(rows: list[list[str]], idx: int) -> np.ndarray:
    out = np.full(len(rows), np.nan)
    for i, r in enumerate(rows):
        try:
            out[i] = float(r[idx])
        except (ValueError, OverflowError):
            pass
    return out


def parse_snana_table(text: str, *, source: str, survey: str | None = None) -> SnanaTable:
    """Parse one SNANA text into converted arrays (no :class:`Supernova` yet).

    Args:
        text: the file's text.
        source: file name for messages.
        survey: the survey the file belongs to (Pantheon+ folder name); the ``SURVEY:`` header
            is used when this is ``None`` or unknown.

    Raises:
        FormatError: no ``OBS:`` rows, no ``VARLIST``, or no time/band/flux columns.
    """
    header, comments, varlist, rows = _split_lines(text, source)
    skipped: dict[str, int] = {}
    col = {name: i for i, name in enumerate(varlist)}
    band_col = next((c for c in _BAND_COLUMNS if c in col), None)
    if "MJD" not in col or band_col is None:
        raise FormatError(f"{source}: VARLIST {varlist} lacks MJD or a band column (FLT/BAND)")
    use_fluxcal = "FLUXCAL" in col and "FLUXCALERR" in col
    if not use_fluxcal and not ("MAG" in col and "MAGERR" in col):
        raise FormatError(f"{source}: VARLIST {varlist} has neither FLUXCAL(ERR) nor MAG(ERR)")
    good = [r for r in rows if len(r) == len(varlist)]
    count(skipped, "malformed OBS row", len(rows) - len(good))
    if not good:
        raise FormatError(f"{source}: no OBS row matches the VARLIST ({len(varlist)} columns)")
    letters = np.array([r[col[band_col]] for r in good], dtype=object)
    time = _floats(good, col["MJD"])
    used_survey, table = _letter_table(header, comments, survey)
    placed: dict[str, str | None] = {b: _place(b, table, used_survey) for b in set(letters)}
    unknown: set[str] = set()
    offsets: dict[str, float] = {}
    for canonical in {c for c in placed.values() if c}:
        try:
            b = get_band(canonical)
        except UnknownBandError:
            unknown.add(canonical)
            continue
        offsets[canonical] = b.vega_to_ab if b.magsys == "Vega" else 0.0
    band = np.array([placed[b] for b in letters], dtype=object)
    ok = np.array([b is not None for b in band])
    count(skipped, "unplaceable band", int((~ok).sum()))
    in_registry = np.array([b in offsets for b in band])
    count(skipped, "band unknown to the registry", int((ok & ~in_registry).sum()))
    ok &= in_registry
    off = np.array([offsets.get(b, 0.0) for b in band])
    with np.errstate(over="ignore", invalid="ignore"):
        if use_fluxcal:
            flux, err = rescale_flux(
                _floats(good, col["FLUXCAL"]), _floats(good, col["FLUXCALERR"]), FLUXCAL_ZP
            )
            scale = 10.0 ** (-0.4 * off)
            flux, err = flux * scale, err * scale
        else:
            mag, magerr = _floats(good, col["MAG"]), _floats(good, col["MAGERR"])
            sentinel = ~((mag > -5) & (mag < 50))  # SNANA writes -9, 99, 128 for none
            count(skipped, "photometric point with sentinel magnitude", int((ok & sentinel).sum()))
            ok &= ~sentinel
            flux, err = mag_to_flux(np.where(sentinel, 0.0, mag), magerr, vega_to_ab=off)
    if "PHOTFLAG" in col:
        flags = _floats(good, col["PHOTFLAG"])
        flags = np.where(np.isfinite(flags) & (np.abs(flags) < 2**62), flags, 0).astype(np.int64)
        detected = (flags & PHOTFLAG_DETECTION) != 0
    else:
        detected = np.ones(len(good), dtype=bool)
    meta = {"survey": used_survey, "filters": header.get("FILTERS")}
    bad = Counter(b for b in letters if placed[b] is None)
    if bad:  # as the other readers: band as written -> points dropped
        meta["unplaceable_bands"] = {f"{b}@{used_survey}": n for b, n in sorted(bad.items())}
    if unknown:
        meta["unknown_bands"] = sorted(unknown)
    return SnanaTable(
        header, time[ok], band[ok].astype(str), flux[ok], err[ok], detected[ok], skipped, meta
    )


def _clean_scalar(
    table: SnanaTable, keys: tuple[str, ...], lo: float, hi: float, skipped: dict[str, int]
) -> float | None:
    v = table.first_float(*keys)
    if v is not None and not lo <= v <= hi:
        count(skipped, f"header {keys[0]} out of range (ignored)")
        return None
    return v


def parse_snana(text: str, *, source: str, survey: str | None = None) -> Supernova:
    """Parse one SNANA text into a :class:`Supernova` (id from ``SNID``).

    ``type_raw`` is ``SNTYPE`` only when it is a type string (numeric SNANA type codes are
    survey-specific and left ``None``). Extras land in ``meta``: ``survey``, ``peak_mjd``,
    ``filters``, ``unplaceable_bands``, ``redshift_kind``.

    Raises:
        FormatError: malformed text or no usable photometric point.
    """
    t = parse_snana_table(text, source=source, survey=survey)
    skipped = dict(t.skipped)
    h = t.header
    names = [h.get(k, "").strip() for k in ("SNID", "IAUC")]
    names = [n for n in names if n and n.upper() not in _MISSING]
    sn_id = names[0] if names else Path(source).stem
    lc = build_lightcurve(
        t.time, t.band, t.flux, t.flux_err, t.detected, object_id=sn_id, skipped=skipped
    )
    if lc is None:
        raise FormatError(f"{source}: no usable photometric point ({skipped})")
    meta = dict(t.meta)
    peak = t.first_float("SEARCH_PEAKMJD", "PEAKMJD")
    if peak is not None:
        meta["peak_mjd"] = peak
    redshift = _clean_scalar(t, ("REDSHIFT_HELIO",), -0.01, 20.0, skipped)
    meta["redshift_kind"] = "helio" if redshift is not None else None
    if redshift is None:
        redshift = _clean_scalar(t, ("REDSHIFT_FINAL",), -0.01, 20.0, skipped)
        meta["redshift_kind"] = "final" if redshift is not None else None
    sntype = h.get("SNTYPE", "").strip()
    type_raw = sntype if sntype and not _is_number(sntype.split()[0]) else None
    try:
        return Supernova(
            id=sn_id,
            lightcurve=lc,
            aliases=names[1:],
            type_raw=type_raw,
            redshift=redshift,
            ra=_clean_scalar(t, ("RA",), 0.0, 360.0, skipped),
            dec=_clean_scalar(t, ("DECL", "DEC"), -90.0, 90.0, skipped),
            mwebv=_clean_scalar(t, ("MWEBV",), 0.0, 30.0, skipped),
            source=f"{FORMAT}:{source}",
            meta=meta,
            skipped=skipped,
        )
    except ValidationError as exc:
        raise FormatError(f"{source}: {exc}") from None
