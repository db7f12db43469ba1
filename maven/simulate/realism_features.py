"""Per-object features of the realism report (:mod:`maven.simulate.report`), computed the same
way for simulated and real supernovae.

Feature definitions (identical for both sets; :func:`lightcurve_features`,
:func:`spectrum_features`). Only photometry in the survey's bands is used (ZTF: ``ztf::g``,
``ztf::r``, ``ztf::i``); ``survey="followup"`` uses every band, with per object the optical band
with the most detections at 5400-7200 A as the reference (``r``) band and at 4000-5400 A as the
blue (``g``) one, for follow-up photometry from many telescopes; a *detection* is a point
with ``detected`` true **and** ``flux / flux_err >= 5`` (the simulator's trigger threshold), so
that alert photometry, forced photometry and simulations are cut the same way.

* ``peak_mag``: AB magnitude of the brightest detection in the reference band (``r``); no
  smooth fit, so it is biased bright by noise in the same way for both sets.
* ``rise_time``: observer-frame days from the first detection (any survey band) to the
  reference-band peak (the time of the brightest reference-band detection).
* ``decline_time``: observer-frame days from that peak until the reference-band flux first
  falls to half the peak flux, linearly interpolated between the last detection above and the
  first detection at or below half; NaN when no later detection reaches half (not covered).
* ``colour``: ``g - r`` from the ``g`` detection nearest the peak time (within +-3 days) and the
  peak ``r`` detection.
* ``n_points`` (all survey-band points, non-detections included), ``n_detections``,
  ``duration`` (days from first to last detection), ``median_snr`` (median flux/error over
  detections), ``redshift``.
* Spectra (the spectrum nearest the light-curve peak, else the first one): ``line_rest``, the
  rest-frame wavelength of the deepest absorption minimum of the class-typical line
  (:data:`LINES`: Si II 6355 for Ia in 5900-6300 A, H-alpha for II/IIn in 6200-6600 A,
  He I 5876 for Ibc in 5500-5900 A, O II 4651 for SLSN-I in 4300-4700 A) after smoothing and
  division by a straight pseudo-continuum through the window edges; ``line_velocity`` (km/s,
  relativistic Doppler, positive = blueshift); ``line_depth`` (1 - min / continuum);
  ``spec_snr`` (median flux / error, NaN without errors); ``wave_min``/``wave_max``
  (observer-frame coverage); ``spec_phase`` (rest-frame days from the light-curve peak).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from maven.data.photometry import AB_ZEROPOINT as AB_ZP
from maven.data.records import Supernova
from maven.errors import ConfigError

__all__ = [
    "LC_FEATURES",
    "LINES",
    "SNR_DETECT",
    "SPEC_FEATURES",
    "feature_table",
    "lightcurve_features",
    "spectrum_features",
    "survey_bands",
]

C_KMS = 299_792.458
SNR_DETECT = 5.0
COLOUR_WINDOW_DAYS = 3.0

LC_FEATURES = (
    "peak_mag",
    "rise_time",
    "decline_time",
    "colour",
    "n_points",
    "n_detections",
    "duration",
    "median_snr",
    "redshift",
)
SPEC_FEATURES = (
    "line_rest",
    "line_velocity",
    "line_depth",
    "spec_snr",
    "wave_min",
    "wave_max",
    "spec_phase",
)
#: class -> (line name, rest wavelength A, rest window A)
LINES: dict[str, tuple[str, float, tuple[float, float]]] = {
    "Ia": ("Si II 6355", 6355.0, (5900.0, 6300.0)),
    "II": ("H-alpha 6563", 6563.0, (6200.0, 6600.0)),
    "IIn": ("H-alpha 6563", 6563.0, (6200.0, 6600.0)),
    "Ibc": ("He I 5876", 5876.0, (5500.0, 5900.0)),
    "SLSN-I": ("O II 4651", 4651.0, (4300.0, 4700.0)),
}


#: ``survey="followup"``: every band; reference and blue bands per object by wavelength (A)
FOLLOWUP_REF_WAVE = (5400.0, 7200.0)
FOLLOWUP_BLUE_WAVE = (4000.0, 5400.0)


def survey_bands(survey: str) -> tuple[str, ...] | None:
    """The survey's bands, or ``None`` for ``"followup"`` (every band)."""
    from maven.simulate.followup import FOLLOWUP
    from maven.simulate.survey import SURVEYS

    if survey == FOLLOWUP:
        return None
    if survey not in SURVEYS:
        raise ConfigError(f"unknown survey {survey!r}; known: {sorted([*SURVEYS, FOLLOWUP])}")
    return tuple(SURVEYS[survey].bands)


def _busiest_band(b: np.ndarray, det: np.ndarray, wave: tuple[float, float]) -> str | None:
    """The band with the most detections among those with effective wavelength in ``wave``."""
    from maven.simulate.followup import _wave_eff

    names, counts = np.unique(b[det], return_counts=True)
    best, most = None, 0
    for n, c in zip(names.tolist(), counts.tolist(), strict=True):
        if wave[0] <= _wave_eff(n) < wave[1] and c > most:
            best, most = n, c
    return best


def _nan_lc() -> dict[str, float]:
    return {k: math.nan for k in LC_FEATURES}


def lightcurve_features(sn: Supernova, survey: str = "ztf") -> dict[str, float] | None:
    """Light-curve features of one object (module docstring), or ``None`` when it has no
    photometry in the survey's bands. Features that cannot be measured are NaN."""
    bands = survey_bands(survey)
    lc = sn.lightcurve
    if lc is None or lc.time.size == 0:
        return None
    keep = np.isin(lc.band, bands) if bands is not None else np.ones(lc.time.size, dtype=bool)
    if not keep.any():
        return None
    t, b, f, e = lc.time[keep], lc.band[keep], lc.flux[keep], lc.flux_err[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = f / e
    det = lc.detected[keep] & (snr >= SNR_DETECT)
    if bands is None:  # follow-up photometry: the busiest red and blue optical bands
        ref = _busiest_band(b, det, FOLLOWUP_REF_WAVE)
        blue = _busiest_band(b, det, FOLLOWUP_BLUE_WAVE)
    else:
        ref, blue = f"{survey}::r", f"{survey}::g"
    out = _nan_lc()
    out["n_points"] = float(t.size)
    out["n_detections"] = float(det.sum())
    out["redshift"] = math.nan if sn.redshift is None else float(sn.redshift)
    if not det.any():
        return out
    out["duration"] = float(t[det].max() - t[det].min())
    out["median_snr"] = float(np.median(snr[det]))
    rd = det & (b == ref)
    if not rd.any():
        return out
    tr, fr = t[rd], f[rd]
    ip = int(np.argmax(fr))
    t_peak, f_peak = float(tr[ip]), float(fr[ip])
    out["peak_mag"] = AB_ZP - 2.5 * math.log10(f_peak)
    out["rise_time"] = t_peak - float(t[det].min())
    after_t, after_f = tr[ip:], fr[ip:]
    below = np.flatnonzero(after_f <= 0.5 * f_peak)
    if below.size:
        j = int(below[0])
        t0, t1, f0, f1 = after_t[j - 1], after_t[j], after_f[j - 1], after_f[j]
        frac = (f0 - 0.5 * f_peak) / (f0 - f1) if f0 > f1 else 1.0
        out["decline_time"] = float(t0 + frac * (t1 - t0) - t_peak)
    gd = det & (b == blue)
    if gd.any():
        dt = np.abs(t[gd] - t_peak)
        k = int(np.argmin(dt))
        if dt[k] <= COLOUR_WINDOW_DAYS:
            out["colour"] = float(-2.5 * math.log10(f[gd][k] / f_peak))
    out["_t_peak"] = t_peak
    return out


def _smooth(y: np.ndarray, n: int) -> np.ndarray:
    if n <= 1 or y.size < n:
        return y
    k = np.ones(n) / n
    pad = np.pad(y, (n // 2, n - 1 - n // 2), mode="edge")
    return np.convolve(pad, k, mode="valid")


def spectrum_features(
    spectrum, redshift: float | None, cls: str | None, t_peak: float | None = None
) -> dict[str, float]:
    """Spectral features of one spectrum (module docstring); NaN where not measurable."""
    out = {k: math.nan for k in SPEC_FEATURES}
    w, f = spectrum.wavelength, spectrum.flux
    out["wave_min"], out["wave_max"] = float(w[0]), float(w[-1])
    if spectrum.flux_err is not None:
        out["spec_snr"] = float(np.median(np.abs(f) / spectrum.flux_err))
    z = redshift
    if z is not None and t_peak is not None and spectrum.mjd is not None:
        out["spec_phase"] = (float(spectrum.mjd) - t_peak) / (1.0 + z)
    if z is None or cls not in LINES or not (z > -0.01):
        return out
    _, lam0, (lo, hi) = LINES[cls]
    wr = w / (1.0 + z)
    m = (wr >= lo) & (wr <= hi)
    if m.sum() < 10 or wr[m][0] > lo + 20 or wr[m][-1] < hi - 20:
        return out
    x, y = wr[m], f[m]
    step = float(np.median(np.diff(x)))
    y = _smooth(y, max(1, int(round(20.0 / max(step, 1e-6)))))  # ~20 A boxcar
    edge = max(2, x.size // 10)
    xl, yl = float(np.mean(x[:edge])), float(np.max(y[:edge]))
    xh, yh = float(np.mean(x[-edge:])), float(np.max(y[-edge:]))
    cont = yl + (yh - yl) * (x - xl) / (xh - xl) if xh > xl else np.full_like(x, yl)
    if not np.all(cont > 0):
        return out
    r = y / cont
    i = int(np.argmin(r[edge:-edge])) + edge if x.size > 2 * edge else int(np.argmin(r))
    lam = float(x[i])
    out["line_rest"] = lam
    q = (lam0 / lam) ** 2
    out["line_velocity"] = C_KMS * (q - 1.0) / (q + 1.0)
    out["line_depth"] = float(1.0 - r[i])
    return out


def _object_row(sn: Supernova, survey: str) -> dict:
    lcf = lightcurve_features(sn, survey)
    row: dict = {"id": sn.id, "class": sn.type, "has_lc": lcf is not None}
    t_peak = None
    if lcf is None:
        lcf = _nan_lc()
        lcf["redshift"] = math.nan if sn.redshift is None else float(sn.redshift)
    t_peak = lcf.pop("_t_peak", None)
    row.update(lcf)
    spec = None
    if sn.spectra:
        dated = [s for s in sn.spectra if s.mjd is not None]
        if t_peak is not None and dated:
            spec = min(dated, key=lambda s: abs(s.mjd - t_peak))
        else:
            spec = sn.spectra[0]
    row["has_spec"] = spec is not None
    if spec is not None:
        row.update(spectrum_features(spec, sn.redshift, sn.type, t_peak))
    else:
        row.update({k: math.nan for k in SPEC_FEATURES})
    return row


def feature_table(sne: Sequence[Supernova], survey: str = "ztf") -> list[dict]:
    """One feature row per object (``id``, ``class``, ``has_lc``, ``has_spec`` + features)."""
    survey_bands(survey)
    return [_object_row(sn, survey) for sn in sne]
