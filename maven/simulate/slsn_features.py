"""Spectral features of real SLSN-I for the magnetar SLSN-I model (:mod:`maven.simulate.physics`).

Source: the 124 SLSN flux spectra of the DASH training set (``templates/training_set/SLSN/*.dat``
in ``spectra/astrodash_training_set.tar.gz`` of the template directory; Muthukrishna et al. 2019,
ApJ 885 85). They are rest-frame (the O II absorptions of pre-peak spectra sit at 3950-4450 A,
e.g. PTF09cnd at -16 d) F_lambda in erg/s/cm^2/A or arbitrary units; names encode object and
rest-frame phase from peak (``LSQ12dlf.p11`` = +11 d, ``m13`` = -13 d, ``max`` = 0). The 30 SLSN
spectra of the superfit ``Others`` folder are byte-identical copies of DASH files and are not
read. Cleaning:

* objects spelled twice (``PTF09cnd``/``ptf09cnd``, ``SN2011ke``/``sn2011ke``, ``06D4eu``/
  ``SNLS06D4eu``, ...) are two imports of the same spectra with different phase labels: only
  one spelling is kept, the lower-case one (DASH's original, superfit-derived files) where
  there is one, else the one with most files (``06D4eu``);
* SN 2002bj (a fast, non-superluminous transient) and SN 2008am (SLSN-II, hydrogen) are
  dropped: 21 SLSN-I remain.

Feature ratio of one spectrum: the flux is averaged into the 10 A bins of
:data:`~maven.simulate.grid.REST_WAVE`, median-filtered over 50 A (removes narrow host
lines, cosmic rays and noise; SLSN lines are >= 100 A wide) and divided by a smooth continuum,
a blackbody times the UV cut of the magnetar model (``min(1, lambda / 3000 A)``), fitted as the
75 % quantile of log flux (an upper envelope, so the absorptions do not drag it down) over
T = 4000-30000 K. The ratio is clipped to [0.05, 2], tapered to 1 over 150 A at the edges of the
covered range and is 1 outside it. Parsed ratios are cached as ``.npz`` (no pickle) under
:func:`~maven.simulate.templates.cache_dir`.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maven.simulate.grid import REST_WAVE
from maven.simulate.templates import cached_arrays

__all__ = [
    "DASH_TARBALL",
    "EXCLUDED_OBJECTS",
    "HELDOUT_OBJECTS",
    "SlsnFeatures",
    "load_slsn_features",
    "feature_ratio",
]

#: Path of the DASH training set inside the template directory.
DASH_TARBALL = "spectra/astrodash_training_set.tar.gz"
_MEMBERS = "templates/training_set/SLSN/"
_VERSION = "slsn-features-v1"

#: DASH "SLSN" objects that are not SLSN-I (normalised names).
EXCLUDED_OBJECTS: tuple[str, ...] = ("sn2002bj", "sn2008am")

#: Real SLSN-I whose features only the held-out magnetars (``HELDOUT["SLSN-I"]``) use: pre- and
#: post-peak optical (SN 2005ap, PTF09atu), post-peak only (LSQ12dlf) and rest-UV (PS1-10awh).
HELDOUT_OBJECTS: tuple[str, ...] = ("sn2005ap", "ptf09atu", "lsq12dlf", "ps1-10awh")

_H, _C, _KB = 6.62607015e-27, 2.99792458e10, 1.380649e-16
_TEMPS = np.geomspace(4000.0, 30000.0, 80)
_QUANTILE = 0.75
_TAPER_A = 150.0
_CLIP = (0.05, 2.0)


@dataclass(frozen=True)
class SlsnFeatures:
    """Phase-ordered feature ratios of one real SLSN-I.

    Attributes:
        obj: normalised object name (lower case, e.g. ``ptf09cnd``).
        phase: rest-frame days from peak, increasing. Shape ``(S,)``.
        ratio: flux / smooth continuum on :data:`REST_WAVE`. Shape ``(S, W)``.
        files: the DASH file of each spectrum.
    """

    obj: str
    phase: np.ndarray
    ratio: np.ndarray
    files: tuple[str, ...]

    def at(self, phase: np.ndarray) -> np.ndarray:
        """Ratios ``(P, W)`` at ``phase`` (days from peak): linear in phase between the
        spectra, the nearest spectrum held outside their span."""
        phase = np.asarray(phase, dtype=np.float64)
        if self.phase.size == 1:
            return np.broadcast_to(self.ratio[0], (phase.size, REST_WAVE.size)).copy()
        x = np.clip(phase, self.phase[0], self.phase[-1])
        i = np.clip(np.searchsorted(self.phase, x, side="right") - 1, 0, self.phase.size - 2)
        w = ((x - self.phase[i]) / (self.phase[i + 1] - self.phase[i]))[:, None]
        return (1.0 - w) * self.ratio[i] + w * self.ratio[i + 1]


def _object_key(stem: str) -> str:
    return re.sub(r"^snls", "", stem.lower())


def _phase_of(tag: str) -> float:
    if tag == "max":
        return 0.0
    return float(tag[1:]) * (-1.0 if tag[0] == "m" else 1.0)


def _bin(lam: np.ndarray, flux: np.ndarray) -> np.ndarray:
    """Mean flux per 10 A bin of :data:`REST_WAVE` (NaN where no sample)."""
    ok = np.isfinite(lam) & np.isfinite(flux)
    idx = np.floor((lam[ok] - (REST_WAVE[0] - 5.0)) / 10.0).astype(int)
    keep = (idx >= 0) & (idx < REST_WAVE.size)
    s = np.bincount(idx[keep], flux[ok][keep], REST_WAVE.size)
    n = np.bincount(idx[keep], None, REST_WAVE.size)
    return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _log_continuum_shapes() -> np.ndarray:
    """log of blackbody x UV cut per temperature of :data:`_TEMPS`, shape ``(T, W)``."""
    lam = REST_WAVE * 1e-8
    x = _H * _C / (lam[None, :] * _KB * _TEMPS[:, None])
    log_b = -5.0 * np.log(lam)[None, :] - np.log(np.expm1(np.minimum(x, 700.0)))
    return log_b + np.log(np.minimum(1.0, REST_WAVE / 3000.0))[None, :]


def feature_ratio(lam: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(ratio on :data:`REST_WAVE`, fitted continuum temperature) of one rest-frame F_lambda
    spectrum, or ``None`` when it covers less than 1000 A (see the module docstring)."""
    from scipy.ndimage import median_filter

    b = _bin(np.asarray(lam, np.float64), np.asarray(flux, np.float64))
    have = np.flatnonzero(np.isfinite(b))
    if have.size < 100 or have[-1] - have[0] < 100:
        return None
    lo, hi = int(have[0]) + 2, int(have[-1]) - 2  # drop 20 A of noisy edge at each end
    seg = slice(lo, hi + 1)
    x = np.arange(REST_WAVE.size)
    filled = np.interp(x[seg], have, b[have])  # bridge gaps inside the coverage
    smooth = median_filter(filled, size=5, mode="nearest")
    pos = smooth > 0
    if pos.sum() < 50:
        return None
    floor = 1e-3 * np.median(smooth[pos])
    logf = np.log(np.maximum(smooth, floor))
    shapes = _log_continuum_shapes()[:, seg]
    resid = logf[None, :] - shapes  # (T, n): log A per bin for each T
    offs = np.quantile(resid[:, pos], _QUANTILE, axis=1)
    d = resid[:, pos] - offs[:, None]
    loss = np.mean(np.where(d >= 0, _QUANTILE * d, (_QUANTILE - 1.0) * d), axis=1)
    k = int(np.argmin(loss))
    ratio = np.exp(resid[k] - offs[k])
    ratio = np.where(pos, ratio, _CLIP[0])
    ratio = np.clip(ratio, *_CLIP)
    wl = REST_WAVE[seg]
    taper = np.clip(np.minimum(wl - wl[0], wl[-1] - wl) / _TAPER_A, 0.0, 1.0)
    taper = 0.5 - 0.5 * np.cos(np.pi * taper)
    out = np.ones(REST_WAVE.size)
    out[seg] = 1.0 + (ratio - 1.0) * taper
    return out, float(_TEMPS[k])


def _parse(tarball: Path) -> dict[str, np.ndarray]:
    """All usable SLSN-I spectra of the DASH tarball -> flat arrays (one row per spectrum)."""
    raw: list[tuple[str, str, str, float, np.ndarray, np.ndarray]] = []
    with tarfile.open(tarball, "r:gz") as tf:
        for m in tf:
            if not (m.isfile() and m.name.startswith(_MEMBERS) and m.name.endswith(".dat")):
                continue
            name = m.name[len(_MEMBERS) :]
            stem, tag = name[:-4].rsplit(".", 1)
            fh = tf.extractfile(m)
            if fh is None:
                continue
            d = np.loadtxt(fh, ndmin=2)
            o = np.argsort(d[:, 0])
            raw.append((name, stem, _object_key(stem), _phase_of(tag), d[o, 0], d[o, 1]))
    spellings: dict[str, set[str]] = {}
    for _, stem, key, *_ in raw:
        spellings.setdefault(key, set()).add(stem)
    keep = {}
    for key, names in spellings.items():
        lower = [s for s in names if s == s.lower()]
        count = {s: sum(r[1] == s for r in raw) for s in names}
        keep[key] = lower[0] if lower else sorted(names, key=lambda s: (-count[s], s))[0]
    rows = []
    for name, stem, key, phase, lam, flux in raw:
        if key in EXCLUDED_OBJECTS or stem != keep[key]:
            continue  # not SLSN-I, or a second import of the same spectra (other spelling)
        res = feature_ratio(lam, flux)
        if res is not None:
            rows.append((key, phase, name, res[0], res[1]))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return {
        "obj": np.array([r[0] for r in rows]),
        "phase": np.array([r[1] for r in rows], dtype=np.float64),
        "fname": np.array([r[2] for r in rows]),
        "ratio": np.array([r[3] for r in rows], dtype=np.float32),
        "temp": np.array([r[4] for r in rows], dtype=np.float64),
    }


def _cached(tarball: Path) -> dict[str, np.ndarray]:
    st = tarball.stat()
    key = hashlib.sha256(f"{_VERSION}|{st.st_size}|{int(st.st_mtime)}".encode()).hexdigest()
    return cached_arrays(f"{_VERSION}-{key[:16]}.npz", lambda: _parse(tarball))


def load_slsn_features(root: Path | None) -> dict[str, SlsnFeatures] | None:
    """Feature ratios per real SLSN-I object (sorted by name) from the template directory
    ``root`` (as resolved by :func:`~maven.simulate.templates.find_template_dir`), or ``None``
    when there is no directory or no DASH tarball in it."""
    if root is None or not (Path(root) / DASH_TARBALL).is_file():
        return None
    data = _cached(Path(root) / DASH_TARBALL)
    out = {}
    for obj in sorted(set(data["obj"].tolist())):
        m = data["obj"] == obj
        out[obj] = SlsnFeatures(
            obj=obj,
            phase=data["phase"][m],
            ratio=data["ratio"][m].astype(np.float64),
            files=tuple(data["fname"][m].tolist()),
        )
    return out
