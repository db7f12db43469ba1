"""Photometric points gathered from alert packets and broker tables, then built into one
:class:`LightCurve` with one point per band and epoch (:func:`maven.io.merge.unique_points`).

Three kinds of point, in maven's units (uJy, AB 23.9):

* **detections** from difference-image magnitudes: ``flux = sign * 10^(-0.4 (m - 23.9))``,
  negative for a negative subtraction (ZTF ``isdiffpos`` false), ``detected=True``;
* **limits** (only a limiting magnitude known): ``0 +- f_lim / n_sigma``, ``detected=False``
  (:func:`maven.data.photometry.upper_limit_to_flux`);
* **forced photometry** (a measured flux): ``detected`` when ``flux >= 3 flux_err``
  (:data:`maven.io.tables.DETECTION_SNR`, as for ZTF forced-photometry tables).
"""

from __future__ import annotations

import numpy as np

from maven.data.photometry import mag_to_flux, upper_limit_to_flux
from maven.data.records import LightCurve
from maven.io.common import build_lightcurve, count
from maven.io.merge import unique_points
from maven.io.tables import DETECTION_SNR

__all__ = ["Points"]


class Points:
    """Points of one object, added in order of preference (an earlier point of the same band
    and epoch wins over a later one of the same kind)."""

    def __init__(self, object_id: str, skipped: dict[str, int]):
        self.object_id = object_id
        self.skipped = skipped
        self._cols: list[list[np.ndarray]] = [[], [], [], [], []]

    def add(self, time, band, flux, flux_err, detected) -> None:
        """Points in maven's units (arrays or scalars, broadcast to one length)."""
        arrays = np.broadcast_arrays(
            np.atleast_1d(np.asarray(time, dtype=np.float64)),
            np.atleast_1d(np.asarray(band, dtype=object)),
            np.atleast_1d(np.asarray(flux, dtype=np.float64)),
            np.atleast_1d(np.asarray(flux_err, dtype=np.float64)),
            np.atleast_1d(np.asarray(detected, dtype=bool)),
        )
        for col, a in zip(self._cols, arrays, strict=True):
            col.append(np.array(a))

    def detections(self, time, band, mag, mag_err, sign=1.0) -> None:
        """Difference-image AB magnitudes; ``sign`` -1 for negative subtractions."""
        flux, err = mag_to_flux(np.asarray(mag, dtype=np.float64), mag_err)
        self.add(time, band, np.asarray(sign, dtype=np.float64) * flux, err, True)

    def limits(self, time, band, limit_mag, n_sigma: float) -> None:
        """Non-detections known only by an ``n_sigma`` limiting AB magnitude."""
        flux, err = upper_limit_to_flux(np.asarray(limit_mag, dtype=np.float64), n_sigma)
        self.add(time, band, flux, err, False)

    def forced(self, time, band, flux, flux_err) -> None:
        """Measured fluxes in uJy (forced photometry)."""
        flux = np.asarray(flux, dtype=np.float64)
        err = np.asarray(flux_err, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            self.add(time, band, flux, err, flux >= DETECTION_SNR * err)

    def lightcurve(self) -> LightCurve | None:
        """The light curve, one point per band and epoch; ``None`` when no point is usable."""
        if not self._cols[0]:
            return None
        t, b, f, e, d = (np.concatenate(c) for c in self._cols)
        keep = unique_points(t, b, f, e, d)
        count(self.skipped, "photometric point repeated (same band and epoch)", t.size - keep.size)
        return build_lightcurve(
            t[keep], b[keep], f[keep], e[keep], d[keep],
            object_id=self.object_id, skipped=self.skipped,
        )  # fmt: skip
