"""Plots of records: a supernova's light curve (flux vs time per band) and its spectra."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from maven.data.bands import get_band
from maven.data.records import Supernova

__all__ = ["plot_supernova"]


def _band_colour(name: str):
    """Colour by effective wavelength: UV dark blue ... near-IR dark red."""
    import matplotlib

    try:
        w = get_band(name).wave_eff
    except Exception:  # a band the registry no longer knows: grey
        return "0.5"
    x = np.clip((np.log10(w) - np.log10(3000)) / (np.log10(10000) - np.log10(3000)), 0, 1)
    return matplotlib.colormaps["jet"](0.05 + 0.9 * x)


def plot_supernova(sn: Supernova, path: str | Path | None = None):
    """Light curve (uJy, detections as points, non-detections as open triangles at 3 sigma)
    and spectra (normalised, offset) of ``sn``; saved to ``path`` when given.

    Returns:
        the matplotlib Figure.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    n_panels = int(sn.lightcurve is not None) + int(bool(sn.spectra))
    fig, axes = plt.subplots(1, n_panels, figsize=(6.5 * n_panels, 4.2), squeeze=False)
    axes = list(axes[0])
    title = (
        f"{sn.id}  type={sn.type_raw or '?'}  z={sn.redshift if sn.redshift is not None else '?'}"
    )
    if sn.lightcurve is not None:
        ax = axes.pop(0)
        lc = sn.lightcurve
        for band in sorted(set(lc.band), key=lambda b: get_band(b).wave_eff):
            m = lc.band == band
            det = m & lc.detected
            lim = m & ~lc.detected
            c = _band_colour(band)
            ax.errorbar(
                lc.time[det],
                lc.flux[det],
                lc.flux_err[det],
                fmt="o",
                ms=3,
                color=c,
                label=f"{band} ({int(m.sum())})",
                elinewidth=0.8,
            )
            ax.plot(lc.time[lim], 3 * lc.flux_err[lim], "v", mfc="none", color=c, ms=4)
        ax.set_xlabel("MJD")
        ax.set_ylabel("flux [uJy]  (AB zp 23.9)")
        ax.legend(fontsize=7, ncol=2)
        ax.set_title(title, fontsize=9)
    if sn.spectra:
        ax = axes.pop(0)
        for i, s in enumerate(sn.spectra):
            scale = np.nanmedian(np.abs(s.flux)) or 1.0
            label = f"MJD {s.mjd:.1f}" if s.mjd is not None else "MJD ?"
            ax.plot(s.wavelength, s.flux / scale + 2.0 * i, lw=0.7, label=label)
        ax.set_xlabel("observer-frame wavelength [A]")
        ax.set_ylabel("normalised flux + offset")
        ax.legend(fontsize=7)
        if sn.lightcurve is None:
            ax.set_title(title, fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
