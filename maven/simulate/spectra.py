"""Simulated spectra: resolution, wavelength range, noise and telluric masking.

A spectrum is the model's observer-frame F_lambda at one epoch, convolved with a Gaussian line
spread function of constant resolving power R (Gaussian smoothing in ln lambda), sampled at
2 pixels per FWHM, cut to the instrument's range, with pixels in strong telluric bands dropped
and Gaussian noise of a per-spectrum signal-to-noise ratio added (``flux_err`` given).

Optional host-galaxy light (``host_flux``, :mod:`maven.simulate.host`) is added to the model
before the smoothing and the noise (so the noise model includes it), scaled so that host / SN
mean F_lambda in the observer window :data:`~maven.simulate.host.HOST_WINDOW` (5500-7000 A) is
``host_fraction``. An optional chip gap (``chip_gap``, observer A) drops its pixels after the
noise is drawn, so the random stream does not depend on it.

Instruments (drawn uniformly): ``sim-sedm`` (R ~ 100, 3800-9150 A, like the P60 SEDM used by
ZTF's Bright Transient Survey; an IFU, no chip gap) and ``sim-lowres`` (R ~ 300-1000, like
the long-slit classification spectrographs of the observed set, with its wavelength range
drawn per spectrum from the ranges of the real spectra, :data:`OBSERVED_RANGE_QUANTILES`, and
a 30-60 A gap between CCDs or at a dichroic, centred at 5000-6500 A, drawn per spectrum:
:attr:`SpectrumSpec.chip_gap`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from maven.data.records import Spectrum
from maven.simulate.host import add_host

__all__ = [
    "INSTRUMENTS",
    "OBSERVED_RANGE_QUANTILES",
    "TELLURIC_BANDS",
    "SpectrumSpec",
    "observe_spectrum",
]

#: Observer-frame telluric absorption bands (Angstrom) whose pixels are dropped:
#: O2 B band, O2 A band, H2O around 9300 A.
TELLURIC_BANDS: tuple[tuple[float, float], ...] = (
    (6860.0, 6890.0),
    (7590.0, 7700.0),
    (9300.0, 9650.0),
)


@dataclass(frozen=True)
class SpectrumSpec:
    """An instrument: name, resolving-power range (log-uniform), wavelength range, an
    optional chip gap ``(centre_min, centre_max, width_min, width_max)`` in A (centre and width
    uniform, drawn per spectrum by :meth:`draw_chip_gap`) and whether the wavelength range is
    drawn per spectrum (:meth:`draw_range`) instead of fixed."""

    name: str
    r_min: float
    r_max: float
    wave_min: float
    wave_max: float
    chip_gap: tuple[float, float, float, float] | None = None
    varied_range: bool = False

    def draw_range(self, rng: np.random.Generator) -> tuple[float, float]:
        """This spectrum's wavelength range (A): fixed, or for ``varied_range`` instruments
        blue and red ends drawn from :data:`OBSERVED_RANGE_QUANTILES` (at least 2000 A apart).
        Draws nothing from ``rng`` for fixed ranges."""
        if not self.varied_range:
            return self.wave_min, self.wave_max
        p, lo_q, hi_q = OBSERVED_RANGE_QUANTILES
        lo = float(np.interp(rng.uniform(), p, lo_q))
        hi = float(np.interp(rng.uniform(), p, hi_q))
        return round(lo, 1), round(max(hi, lo + 2000.0), 1)

    def draw_chip_gap(self, rng: np.random.Generator) -> tuple[float, float] | None:
        """``(start, end)`` of this spectrum's chip gap (A, rounded to 0.1), or ``None``."""
        if self.chip_gap is None:
            return None
        c0, c1, w0, w1 = self.chip_gap
        centre, width = rng.uniform(c0, c1), rng.uniform(w0, w1)
        return round(float(centre - width / 2), 1), round(float(centre + width / 2), 1)


#: Quantiles (probability, blue end, red end; A) of the wavelength ranges of the 3779 observed
#: classification spectra in ``../shared/data/real`` (WISeREP/OSC; measured 2026-11), which
#: ``sim-lowres`` spectra draw from: medians 3640 and 9235 A, 16-84 % 3350-3860 and 7540-9950 A.
OBSERVED_RANGE_QUANTILES: tuple[tuple[float, ...], ...] = (
    (0.0, 0.05, 0.16, 0.30, 0.50, 0.70, 0.84, 0.95, 1.0),
    (3000.0, 3150.0, 3350.0, 3490.0, 3640.0, 3700.0, 3860.0, 4950.0, 5500.0),
    (5500.0, 6250.0, 7540.0, 8250.0, 9235.0, 9316.0, 9950.0, 10400.0, 11000.0),
)

INSTRUMENTS: tuple[SpectrumSpec, ...] = (
    SpectrumSpec("sim-sedm", 80.0, 120.0, 3800.0, 9150.0),
    SpectrumSpec("sim-lowres", 300.0, 1000.0, 3000.0, 11000.0, (5000.0, 6500.0, 30.0, 60.0), True),
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
    host_flux: np.ndarray | None = None,
    host_fraction: float = 0.0,
    chip_gap: tuple[float, float] | None = None,
) -> Spectrum | None:
    """One observed spectrum from a model F_lambda on ``wave_obs`` (observer frame, A).

    ``snr`` is the per-pixel signal-to-noise at the median flux; the error has a sky part
    (constant) and a source part (sqrt of flux). ``host_flux`` (host-galaxy F_lambda on
    ``wave_obs``, any scale, e.g. :meth:`~maven.simulate.host.HostDraw.observed`) is added
    with host / SN = ``host_fraction`` in :data:`~maven.simulate.host.HOST_WINDOW`, before
    smoothing and noise. Pixels inside ``chip_gap`` (observer A) are dropped. Returns ``None``
    when fewer than 50 pixels of the instrument range are covered by the model.
    """
    if host_flux is not None and host_fraction > 0:
        flux_obs = add_host(wave_obs, flux_obs, host_flux, host_fraction)
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
    if chip_gap is not None:  # after the noise draw: the random stream does not depend on it
        keep = ~((wave >= chip_gap[0]) & (wave <= chip_gap[1]))
        wave, flux, err = wave[keep], flux[keep], err[keep]
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
