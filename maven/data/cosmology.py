"""Distance modulus in one place (astropy's Planck18), for features and for the model.

astropy is exact but slow per call; :func:`distance_modulus_table` tabulates it once on a
fine grid in log z, and both the numpy :func:`distance_modulus` and the model's torch
version interpolate that table (error < 1e-4 mag).
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["Z_MIN", "Z_MAX", "distance_modulus", "distance_modulus_table"]

#: redshifts are clamped to [Z_MIN, Z_MAX] (mu ~ 33.0 and ~ 49.5 mag)
Z_MIN = 1e-3
Z_MAX = 10.0


@functools.lru_cache(maxsize=1)
def distance_modulus_table() -> tuple[np.ndarray, np.ndarray]:
    """(ln z, distance modulus in mag) on 2048 points from :data:`Z_MIN` to :data:`Z_MAX`."""
    from astropy.cosmology import Planck18

    log_z = np.linspace(np.log(Z_MIN), np.log(Z_MAX), 2048)
    log_z.flags.writeable = False
    mu = np.asarray(Planck18.distmod(np.exp(log_z)).value, dtype=np.float64)
    mu.flags.writeable = False
    return log_z, mu


def distance_modulus(z) -> np.ndarray:
    """Distance modulus (mag, Planck18) of redshifts ``z`` (scalar or array; clamped to
    [:data:`Z_MIN`, :data:`Z_MAX`]).

    >>> round(float(distance_modulus(0.1)), 2)
    38.33
    """
    log_z, mu = distance_modulus_table()
    x = np.log(np.clip(np.asarray(z, dtype=np.float64), Z_MIN, Z_MAX))
    return np.interp(x, log_z, mu)
