"""Inputs too poor to classify with confidence, told apart before a model answers.

A valid record can still be degenerate: a light curve of one or two detections, a flat or
all-zero light curve or spectrum, a spectrum of a handful of pixels or outside the model's
wavelength grid. The model gives such inputs confident-looking probabilities (a 1-point light
curve came out "Ia 0.983", an all-zero spectrum "II 0.43"); :func:`input_warnings` names the
reason per record, for a caller to flag the answer as out of distribution.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from maven.data.records import Supernova
from maven.errors import MavenError

__all__ = ["input_warnings", "MIN_DETECTIONS", "MIN_SPECTRUM_PIXELS"]

#: fewer detections than this: no shape to classify
MIN_DETECTIONS = 3
#: fewer spectrum pixels than this (on the grid, when a processor is given): no features
MIN_SPECTRUM_PIXELS = 20


def _reasons(sn: Supernova, grid: tuple[float, float] | None) -> list[str]:
    out = []
    lc = sn.lightcurve
    if lc is not None:
        n_det = int(lc.detected.sum())
        if n_det < MIN_DETECTIONS:
            out.append(f"light curve with {n_det} detection(s) (fewer than {MIN_DETECTIONS})")
        if len(lc) > 1 and np.ptp(lc.flux) == 0:
            out.append("light curve with constant flux")
    spectra = sn.spectra
    if grid is not None and spectra:
        lo, hi = grid
        spectra = [s for s in spectra if s.wavelength[0] < hi and s.wavelength[-1] > lo]
        if not spectra:
            out.append(f"no spectrum overlaps the model's grid ({lo:g}-{hi:g} A)")
    if spectra:
        flat = all(np.ptp(s.flux) == 0 for s in spectra)
        if flat:
            zero = all(not s.flux.any() for s in spectra)
            out.append("all-zero spectrum" if zero else "spectrum with constant flux")
        pixels = [
            int(((s.wavelength > grid[0]) & (s.wavelength < grid[1])).sum()) if grid else len(s)
            for s in spectra
        ]
        if max(pixels) < MIN_SPECTRUM_PIXELS:
            out.append(f"spectrum of {max(pixels)} pixel(s) (fewer than {MIN_SPECTRUM_PIXELS})")
    return out


def input_warnings(records: Sequence[Supernova], processor=None) -> list[str | None]:
    """Why each record is too degenerate to trust a prediction on it, or ``None``.

    Args:
        records: the supernovae.
        processor: the model's :class:`~maven.models.MavenProcessor`; when given, spectra are
            judged on its wavelength grid (observer frame) only.

    Returns:
        per record ``None`` or the reasons joined by ``"; "``, e.g. ``"light curve with 1
        detection(s) (fewer than 3)"`` or ``"all-zero spectrum"``.

    Raises:
        MavenError: an entry that is not a :class:`~maven.data.Supernova`.
    """
    grid = None
    if processor is not None:
        grid = (float(processor.spectrum_wave_min), float(processor.spectrum_wave_max))
    out: list[str | None] = []
    for i, sn in enumerate(records):
        if not isinstance(sn, Supernova):
            raise MavenError(f"records[{i}] must be a Supernova, got {type(sn).__name__}")
        reasons = _reasons(sn, grid)
        out.append("; ".join(reasons) if reasons else None)
    return out
