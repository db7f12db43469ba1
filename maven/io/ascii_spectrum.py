"""Reader for plain ASCII spectra: columns of numbers, wavelength first.

Accepted: whitespace-, comma- or semicolon-separated columns (2, 3 or more), optional header
lines (FITS-like ``KEY = value``, ``KEY: value``, column names), comment lines starting with
``#``, ``%``, ``@``, ``!`` or ``;``, Fortran ``D`` exponents and NaNs. Lines with a different
number of columns than most data lines, and non-numeric lines inside the data, are dropped and
counted.

Columns: wavelength, flux and an optional uncertainty. A header line naming the columns picks
them (``wave``/``lambda``/``wl``, ``flux``/``fl``, ``err``/``sigma``/``unc``, ``var``, ``ivar``);
without one they are 0, 1 and (when present) 2, or ``err_col``. The uncertainty column kind
(sigma, variance or inverse variance) comes from ``err_kind``, else the column name, else sigma,
and is then checked against the flux: a kind whose implied median sigma is not within
``1e-3 .. 10 x`` the median |flux| (S/N 0.1 to 1000) is replaced by the one kind that is
(``meta["err_kind"]`` records the outcome). An error column equal to the flux, implausible in
every reading, or of fewer than 10 distinct values (a flag or weight) is dropped and counted.

Wavelength unit: a unit named in the header (``nm``, ``micron``, ``Angstrom``) or the
``wavelength_unit`` argument wins; otherwise values with median < 2000 and range within
200-2600 (starting below 1000) are nm (x10), median < 30 microns (x1e4).
``meta["wavelength_unit"]`` records the original unit.

Flux unit rule (``flux_unit=None``): ``"erg/s/cm2/A"`` when the median |flux| lies in
``1e-20 .. 1e-10`` (calibrated F_lambda of a supernova) and no header names another unit,
after applying a scale stated in the header (``flux(1e-17 erg/s/cm^2/A)``); else
``"uncalibrated"``.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from maven.data.records import Spectrum, Supernova
from maven.errors import FormatError, ValidationError
from maven.io.common import build_spectrum, count, read_head, read_text

__all__ = ["FORMAT", "sniff", "read", "parse_ascii_spectrum"]

FORMAT = "ascii_spectrum"
COMMENT_CHARS = "#%@!;"
CALIBRATED_RANGE = (1e-20, 1e-10)  # median |F_lambda| of a calibrated spectrum, erg/s/cm2/A
_PLAUSIBLE_ERR = (1e-3, 10.0)  # median sigma / median |flux|: S/N between 0.1 and 1000
_MIN_DISTINCT_ERR = 10  # fewer distinct values: a flag or weight column, not an uncertainty
_SUFFIXES = (".txt", ".dat", ".ascii", ".asci", ".asc", ".flm", ".spec", ".csv", ".spc")
_SPLIT = re.compile(r"[,;\s]+")
_WAVE = re.compile(
    r"^(wave|wavelength|wavelen|wav|wl|lambda|lam|angstrom|obs_?wave|wave_air|"
    r"wave_vac|w)\b|^(wave|lambda)",
    re.I,
)
_IVAR = re.compile(r"^(ivar|invvar|inv_?var|inverse_?var)", re.I)
_VAR = re.compile(r"^(var|variance|flux_?var|fvar)", re.I)
_ERR = re.compile(r"(err|sig|unc|noise|std|^e_?f|^df|^dflux)", re.I)
_FLUX = re.compile(
    r"^(flux|fl|flam|f_?lambda|fnu|f_?nu|f|counts|spec|spectrum|data|"
    r"fluxcal|flux_?density)(\b|_|$)",
    re.I,
)
_NOT_FLUX = re.compile(r"sky|back|bkg|resp|pix|err|unc|sig|var|cont|model|mask|flag", re.I)
_HEADER_HINT = re.compile(r"wave|lambda|wl|flux|fl\b|err|sig|ang|nm", re.I)
_SCALE = re.compile(r"(?:1(?:\.0*)?\s*[x*]?\s*)?10\^?\s*\(?\s*(-?\d+)\s*\)?|1e(-?\d+)", re.I)
_UNCALIBRATED_UNITS = re.compile(r"count|adu|normali|arbitrary|relative|mjy|jy|f_?nu|fnu", re.I)


def sniff(path: Path, head: str) -> bool:
    """True for a text file of >= 5 lines of 2+ numbers whose column names are not a light
    curve's (time, mag, band). A long header (FITS cards) is looked past, up to 256 kB."""
    name = path.name.lower().removesuffix(".gz")
    if not name.endswith(_SUFFIXES) or head.lstrip().startswith(("{", "[", "<")):
        return False
    if re.search(r"^\s*(SNID|SURVEY|VARLIST|OBS)\s*:", head, re.M):
        return False
    lines = head.splitlines()[:-1]  # the last line may be cut
    data = [i for i, line in enumerate(lines) if len(_numbers(line.split("#", 1)[0]) or ()) >= 2]
    if len(data) < 5:
        if len(head) < 4000:
            return False
        longer = read_head(path, 256_000)
        return len(longer) > len(head) and sniff(path, longer)
    before = [x.strip(COMMENT_CHARS + " \t") for x in lines[: data[0]] if x.strip()]
    names = before[-1] if before and "=" not in before[-1] and ":" not in before[-1] else ""
    return not re.search(r"\b(mjd|jd|time|date|mag|band|filter|flt)\b", names, re.I)


def read(path: str | Path) -> list[Supernova]:
    """One bare spectrum file -> one :class:`Supernova` (id = file stem, no type).

    Raises:
        FormatError: no table of numbers, or no usable pixel.
    """
    path = Path(path)
    stem = path.name.removesuffix(".gz").rsplit(".", 1)[0] or path.name
    skipped: dict[str, int] = {}
    spec = parse_ascii_spectrum(
        read_text(path), object_id=stem, skipped=skipped, meta={"filename": path.name}
    )
    if spec is None:
        raise FormatError(f"{path}: no usable spectrum ({skipped})")
    try:
        return [Supernova(id=stem, spectra=[spec], source=f"{FORMAT}:{path}", skipped=skipped)]
    except ValidationError as exc:
        raise FormatError(f"{path}: {exc}") from None


def _number(tok: str) -> float | None:
    try:
        return float(tok)
    except ValueError:
        pass
    try:
        return float(tok.replace("D", "E").replace("d", "e"))
    except ValueError:
        return None


def _numbers(line: str) -> list[float] | None:
    """The numbers of a data line, or ``None`` if any token is not a number."""
    toks = [t for t in _SPLIT.split(line.strip()) if t]
    out = [_number(t) for t in toks]
    return None if not out or any(v is None for v in out) else out


def _header_names(lines: list[str], ncols: int) -> tuple[list[str], list[str]] | None:
    """(column names, units) from the last header line that names a wavelength and a flux."""
    for i in range(len(lines) - 1, -1, -1):
        toks = [t for t in re.split(r"[,;\s|]+", lines[i].strip(COMMENT_CHARS + " \t")) if t]
        if "=" in lines[i] or len(toks) < 2 or len(toks) > max(ncols, 2) + 1:
            continue
        names = [re.sub(r"[\[(].*$", "", t).strip().lower() for t in toks]
        if not (
            names[0]
            and _WAVE.search(names[0])
            and any(_FLUX.search(n) and not _NOT_FLUX.search(n) for n in names[1:])
        ):
            continue
        units = [re.findall(r"[\[(](.*?)[\])]", t) for t in toks]
        units = [u[0] if u else "" for u in units]
        nxt = lines[i + 1].strip(COMMENT_CHARS + " \t") if i + 1 < len(lines) else ""
        if nxt.startswith("[") and not _numbers(nxt):
            units = [u.strip("[]") for u in nxt.split()] + [""] * len(names)
        return names, units[: len(names)]
    return None


def _columns(names: list[str] | None, ncols: int, err_col: int | None):
    """(wavelength, flux, error column or None, kind named by the header or None)."""
    if not names:
        err = err_col if err_col is not None and 1 < err_col < ncols else (2 if ncols > 2 else None)
        return 0, 1, err, None
    wl = next((i for i, n in enumerate(names) if _WAVE.search(n)), 0)
    flux = next(
        (i for i, n in enumerate(names) if i != wl and _FLUX.search(n) and not _NOT_FLUX.search(n)),
        1,
    )
    for pattern, kind in ((_IVAR, "ivar"), (_VAR, "variance"), (_ERR, "sigma")):
        err = next(
            (
                i
                for i, n in enumerate(names)
                if i not in (wl, flux) and pattern.search(n) and "sky" not in n
            ),
            None,
        )
        if err is not None and err < ncols:
            return wl, flux, err, kind
    return wl, flux, None, None


def _sigma(e: np.ndarray, f: np.ndarray, kind: str, meta: dict, skipped) -> np.ndarray | None:
    """The error column as 1-sigma, after checking ``kind`` against the flux scale."""
    if np.array_equal(e, f, equal_nan=True):
        count(skipped, "spectrum error column equal to the flux (dropped)")
        return None
    if np.unique(e[np.isfinite(e)]).size < _MIN_DISTINCT_ERR:
        count(skipped, "spectrum error column with few distinct values, a flag (dropped)")
        return None
    ok = np.isfinite(e) & (e > 0) & np.isfinite(f) & (f != 0)
    if not ok.any():
        return e  # all non-positive: build_spectrum drops it and counts
    scale, med = float(np.median(np.abs(f[ok]))), float(np.median(e[ok]))
    implied = {"sigma": med, "variance": np.sqrt(med), "ivar": 1 / np.sqrt(med)}
    lo, hi = _PLAUSIBLE_ERR
    fine = [k for k, v in implied.items() if lo <= v / scale <= hi]
    if kind not in fine:
        if len(fine) != 1:
            count(skipped, "spectrum error column implausible (dropped)")
            return None
        meta["err_kind_stated"], kind = kind, fine[0]
    meta["err_kind"] = kind
    if kind == "variance":
        return np.sqrt(e)
    if kind == "ivar":
        return 1.0 / np.sqrt(e)
    return e


def _wavelength_factor(w: np.ndarray, unit_text: str, hint: str | None) -> tuple[float, str]:
    text = f"{unit_text} {hint or ''}".lower()
    if re.search(r"\bnm\b|nanomet", text):
        return 10.0, "nm"
    if re.search(r"micron|\bum\b|\bmu\b|µm", text):
        return 1e4, "micron"
    if re.search(r"ang|\baa\b|å|\ba\b", text):
        return 1.0, "angstrom"
    w = w[np.isfinite(w)]
    if w.size:
        med, lo, hi = float(np.median(w)), float(w.min()), float(w.max())
        if med < 2000 and 200 <= lo < 1000 and hi <= 2600:
            return 10.0, "nm"
        if med < 30 and lo > 0.1:
            return 1e4, "micron"
    return 1.0, "angstrom"


def _table(text: str, skipped: dict[str, int]) -> tuple[np.ndarray, list[str]]:
    """The numeric rows (most common width) and the header/comment lines before them."""
    header: list[str] = []
    rows: list[list[float]] = []
    late = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line[0] in COMMENT_CHARS:
            if not rows:
                header.append(line)
            continue
        nums = _numbers(line.split("#", 1)[0])
        if nums is not None and len(nums) >= 2:
            rows.append(nums)
        elif rows:
            late += 1
        else:
            header.append(line)
    count(skipped, "unparseable spectrum line", late)
    if not rows:
        raise FormatError("no table of numbers (at least 2 numeric columns) found")
    ncols = Counter(len(r) for r in rows).most_common(1)[0][0]
    keep = [r for r in rows if len(r) == ncols]
    count(skipped, "spectrum line with a different number of columns", len(rows) - len(keep))
    return np.array(keep, dtype=np.float64), header


def parse_ascii_spectrum(
    text: str,
    *,
    object_id: str,
    skipped: dict[str, int],
    mjd: float | None = None,
    instrument: str | None = None,
    flux_unit: str | None = None,
    meta: dict | None = None,
    err_kind: str | None = None,
    err_col: int | None = None,
    wavelength_unit: str | None = None,
) -> Spectrum | None:
    """Parse the text of one ASCII spectrum (see the module docstring for the rules).

    Args:
        text: the file's text.
        object_id, skipped: for messages and dropped-item counts (``skipped`` is updated).
        mjd, instrument, meta: passed to the :class:`Spectrum`.
        flux_unit: ``"erg/s/cm2/A"``, ``"uncalibrated"``, or ``None`` for the module's rule.
        err_kind: ``"sigma"``, ``"variance"``, ``"ivar"`` or ``"none"`` (ignore the error
            column); ``None``: from the header, else sigma (always checked against the flux).
        err_col: index of the error column when no header names the columns.
        wavelength_unit: ``"angstrom"``, ``"nm"`` or ``"micron"`` when known.

    Returns:
        the spectrum, or ``None`` (counted in ``skipped``) when fewer than 2 pixels survive.

    Raises:
        FormatError: the text holds no table of numbers.
    """
    try:
        data, header = _table(text, skipped)
    except FormatError as exc:
        raise FormatError(f"{object_id}: {exc}") from None
    out_meta = dict(meta or {})
    with np.errstate(all="ignore"):  # absurd numbers must end in counted drops, not warnings
        wave, flux, err, flux_text = _arrays(
            data, header, out_meta, skipped, err_kind, err_col, wavelength_unit
        )
        if flux_unit is None:
            finite = np.abs(flux[np.isfinite(flux) & (flux != 0)])
            med = float(np.median(finite)) if finite.size else 0.0
            calibrated = CALIBRATED_RANGE[0] <= med <= CALIBRATED_RANGE[1]
            flux_unit = (
                "erg/s/cm2/A"
                if calibrated and not _UNCALIBRATED_UNITS.search(flux_text)
                else "uncalibrated"
            )
    return build_spectrum(
        wave,
        flux,
        err,
        object_id=object_id,
        skipped=skipped,
        mjd=mjd,
        instrument=instrument,
        flux_unit=flux_unit,
        meta=out_meta,
    )


def _arrays(
    data: np.ndarray,
    header: list[str],
    meta: dict,
    skipped: dict[str, int],
    err_kind: str | None,
    err_col: int | None,
    wavelength_unit: str | None,
):
    """(wavelength in Angstrom, flux, sigma or None, flux column text) of a numeric table."""
    ncols = data.shape[1]
    found = _header_names(header, ncols)
    names, units = found if found else (None, [])
    wl_i, fl_i, err_i, named_kind = _columns(names, ncols, err_col)
    if names:
        meta["columns"] = names

    def text_of(i: int) -> str:
        return " ".join(
            x for x in ((names or [""] * ncols)[i], units[i] if i < len(units) else "") if x
        )

    factor, meta["wavelength_unit"] = _wavelength_factor(
        data[:, wl_i], text_of(wl_i), wavelength_unit
    )
    flux_text = text_of(fl_i)
    scale = _SCALE.search(flux_text) if "erg" in flux_text.lower() else None
    if scale and -40 < int(scale.group(1) or scale.group(2)) < 40:
        meta["flux_scale"] = 10.0 ** int(scale.group(1) or scale.group(2))
    mult = meta.get("flux_scale", 1.0)
    err = None
    if err_i is not None and (err_kind or "").lower() != "none":
        kind = (err_kind or named_kind or "sigma").lower()
        kind = kind if kind in ("sigma", "variance", "ivar") else "sigma"
        err = _sigma(data[:, err_i], data[:, fl_i], kind, meta, skipped)
    flux = data[:, fl_i] * mult
    return data[:, wl_i] * factor, flux, None if err is None else err * mult, flux_text
