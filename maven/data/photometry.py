"""Magnitude <-> flux conversion in maven's one flux unit: micro-Jansky (AB zero point 23.9).

``m_AB = 23.9 - 2.5 log10(f / uJy)``, exactly, since 1 uJy = 10^-29 erg/s/cm^2/Hz and the AB
system's zero point is 3631 Jy (-2.5 log10(3631e6) = -23.9000 to 4 decimals; we use 23.9 as
the definition, as ZTF, ALeRCE and Lasair do). A Vega-system magnitude becomes AB through the
band's offset ``m_AB = m_Vega + band.vega_to_ab``.

Errors propagate to first order: ``sigma_f = f * ln(10)/2.5 * sigma_m``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "AB_ZEROPOINT",
    "mag_to_flux",
    "flux_to_mag",
    "rescale_flux",
    "upper_limit_to_flux",
]

#: AB magnitude of 1 uJy: maven's flux zero point.
AB_ZEROPOINT = 23.9
_K = np.log(10.0) / 2.5


def mag_to_flux(mag, mag_err=None, *, vega_to_ab: float = 0.0):
    """Magnitude (and error) -> flux in uJy (and error).

    Args:
        mag: magnitude(s); AB, or Vega with ``vega_to_ab`` = m_AB - m_Vega of the band.
        mag_err: 1-sigma magnitude error(s) or ``None``.
        vega_to_ab: offset added to ``mag`` to make it AB.

    Returns:
        ``flux`` if ``mag_err`` is None, else ``(flux, flux_err)``.
    """
    m_ab = np.asarray(mag, dtype=np.float64) + vega_to_ab
    with np.errstate(over="ignore", invalid="ignore"):  # absurd input -> inf, caught later
        flux = 10.0 ** (-0.4 * (m_ab - AB_ZEROPOINT))
        if mag_err is None:
            return flux
        return flux, flux * _K * np.asarray(mag_err, dtype=np.float64)


def flux_to_mag(flux, flux_err=None, *, vega_to_ab: float = 0.0):
    """Flux in uJy (and error) -> magnitude (and error); NaN where flux <= 0.

    Returns the AB magnitude, or the Vega one when ``vega_to_ab`` is given.
    """
    f = np.asarray(flux, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(f > 0, AB_ZEROPOINT - 2.5 * np.log10(np.where(f > 0, f, 1.0)), np.nan)
        mag = mag - vega_to_ab
        if flux_err is None:
            return mag
        err = np.where(f > 0, np.asarray(flux_err, dtype=np.float64) / (_K * f), np.nan)
    return mag, err


def rescale_flux(flux, flux_err, zp):
    """Flux on an AB zero point ``zp`` (``m = zp - 2.5 log10 f``) -> uJy.

    Covers SNANA's FLUXCAL (zp 27.5), sncosmo tables with ``zpsys='ab'`` and ZTF forced
    photometry (per-point zp).
    """
    scale = 10.0 ** (-0.4 * (np.asarray(zp, dtype=np.float64) - AB_ZEROPOINT))
    return np.asarray(flux, dtype=np.float64) * scale, np.asarray(
        flux_err, dtype=np.float64
    ) * scale


def upper_limit_to_flux(limit_mag, n_sigma: float = 3.0, *, vega_to_ab: float = 0.0):
    """A limiting magnitude -> ``(flux, flux_err)`` of a non-detection: ``0 +- f_lim / n_sigma``.

    ``n_sigma`` is the significance of the limit as the source states it (OSC
    ``upperlimitsigma``); 3 when the source does not say.
    """
    if not n_sigma > 0:
        raise ValueError(f"n_sigma must be > 0, got {n_sigma!r}")
    f_lim = mag_to_flux(limit_mag, vega_to_ab=vega_to_ab)
    return np.zeros_like(f_lim), f_lim / n_sigma
