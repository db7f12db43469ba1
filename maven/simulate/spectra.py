"""Simulated spectra: resolution, wavelength range, noise and telluric masking.

A spectrum is the model's observer-frame F_lambda at one epoch, convolved with a Gaussian line
spread function of constant resolving power R (Gaussian smoothing in ln lambda), sampled at
2 pixels per FWHM, cut to the instrument's range, with pixels in strong telluric bands dropped
and Gaussian noise of a per-spectrum signal-to-noise ratio added (``flux_err`` given).

Instruments (drawn uniformly): ``sim-sedm`` (R ~ 100, 3800-9150 A, like the P60 SEDM used by
ZTF's Bright Transient Survey) and ``sim-lowres`` (R ~ 300-1000, 3500-9500 A, like long-slit
classification spectrographs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from maven.data.records import Spectrum

__all__ = ["TELLURIC_BANDS", "SpectrumSpec", "observe_spectrum", "INSTRUMENTS"]

#: Observer-frame telluric absorption bands (Angstrom) whose pixels are dropped:
#: O2 B band, O2 A band, H2O around 9300 A.
TELLURIC_BANDS: tuple[tuple[float, float], ...] = (
    (6860.0, 6890.0),
    (7590.0, 7700.0),
    (9300.0, 9650.0),
)


@dataclass(frozen=True)
class SpectrumSpec:
    """An instrument: name, resolving-power range (log-uniform) and wavelength range."""

    name: str
    r_min: float
    r_max: float
    wave_min: float
    wave_max: float


INSTRUMENTS: tuple[SpectrumSpec, ...] = (
    SpectrumSpec("sim-sedm", 80.0, 120.0, 3800.0, 9150.0),
    SpectrumSpec("sim-lowres", 300.0, 1000.0, 3500.0, 9500.0),
)


def observe_spectrum(
    wave_obs: np.ndarray,
    flux_obs: np.ndarray,
    *,
    rng: np.random.Generator,
    resolution: float,
    wave_range: tuple[float, float],
    snr: float,
    mjd: float,
    instrument: str,
    meta: dict,
    object_id: str,
    noiseless: bool = False,
) -> Spectrum | None:
    """One observed spectrum from a model F_lambda on ``wave_obs`` (observer frame, A).

    ``snr`` is the per-pixel signal-to-noise at the median flux; the error has a sky part
    (constant) and a source part (sqrt of flux). Returns ``None`` when fewer than 50 pixels of
    the instrument range are covered by the model.
    """
    lo = max(wave_range[0], wave_obs[0])
    hi = min(wave_range[1], wave_obs[-1])
    if hi <= lo * 1.05:
        return None
    # fine log grid (8 px per FWHM), smooth, then keep every 4th pixel (2 px per FWHM)
    dlog = 1.0 / (8.0 * resolution)
    lnw = np.arange(np.log(lo), np.log(hi), dlog)
    fine = np.interp(np.clip(np.exp(lnw), lo, hi), wave_obs, flux_obs)
    sigma_px = (1.0 / resolution) / 2.3548 / dlog
    smooth = gaussian_filter1d(fine, sigma_px, mode="nearest")[::4]
    wave = np.clip(np.exp(lnw[::4]), lo, hi)
    keep = np.ones(wave.size, dtype=bool)
    for a, b in TELLURIC_BANDS:
        keep &= ~((wave >= a) & (wave <= b))
    wave, smooth = wave[keep], smooth[keep]
    if wave.size < 50:
        return None
    fmed = float(np.median(np.abs(smooth)))
    if not np.isfinite(fmed) or fmed <= 0:
        return None
    err = fmed / snr * np.sqrt(0.5 + 0.5 * np.abs(smooth) / fmed)
    flux = smooth if noiseless else smooth + err * rng.standard_normal(smooth.size)
    return Spectrum(
        wave,
        flux,
        err,
        mjd=mjd,
        instrument=instrument,
        flux_unit="erg/s/cm2/A",
        meta=meta,
        object_id=object_id,
    )
