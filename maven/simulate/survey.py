"""Survey cadences (real pointing logs or a synthetic fallback), visit look-up and noise.

Real cadences from the template directory:

* ``cadence/ztf_redback_pointings.csv.gz``: the ZTF pointing log (760k exposures 2018-2022;
  one row per field and exposure; ZTF fields are ~7 x 7 deg: a point is observed when it lies
  within 3.5 deg of the field centre in RA cos(dec) and in Dec; CCD gaps ignored). Times in
  the log are float32-rounded (~6 min).
* ``cadence/rubin_baseline_v3.0_year1.csv.gz``: Rubin OpSim baseline v3.0, first year
  (216k visits), circular field of radius 1.75 deg.

Noise per visit: sky/background noise from the 5-sigma depth m5 (sigma_sky = f(m5) / 5)
plus source Poisson noise with an approximate photo-electron zero point per survey, plus a
calibration floor: ``sigma^2 = sigma_sky^2 + f / g + (floor f)^2``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from maven.errors import ConfigError
from maven.simulate.templates import cache_dir

__all__ = ["Cadence", "load_cadence", "synthetic_cadence", "SURVEYS", "photometric_noise"]

_DEG = np.pi / 180.0


@dataclass(frozen=True)
class SurveySpec:
    """Static facts about a survey."""

    name: str
    bands: tuple[str, ...]  # canonical band names; index = band code
    file_filters: tuple[str, ...]  # filter names as the cadence file writes them
    cadence_file: str
    field_shape: str  # "square" (half-width) or "circle" (radius)
    field_size_deg: float
    zp_electrons: float  # AB mag giving 1 photo-electron per visit (approximate)
    depth_mag: float  # typical single-visit depth used to set z_max
    synthetic_depth: dict = field(default_factory=dict)


SURVEYS: dict[str, SurveySpec] = {
    # ZTF: 30 s, zero point ~26.3 mag per ADU/s (Masci+19) and gain ~6.2 e-/ADU -> ~ 28.0
    "ztf": SurveySpec(
        "ztf",
        ("ztf::g", "ztf::r", "ztf::i"),
        ("ztfg", "ztfr", "ztfi"),
        "cadence/ztf_redback_pointings.csv.gz",
        "square",
        3.5,
        28.0,
        20.6,
        {"ztf::g": 20.8, "ztf::r": 20.6, "ztf::i": 20.2},
    ),
    # Rubin: 30 s visit, ~ 28.4 mag per e-/s (LSST throughputs) -> ~ 32.1 per visit
    "lsst": SurveySpec(
        "lsst",
        tuple(f"lsst::{b}" for b in "ugrizy"),
        tuple(f"lsst{b}" for b in "ugrizy"),
        "cadence/rubin_baseline_v3.0_year1.csv.gz",
        "circle",
        1.75,
        32.1,
        24.2,
        {
            "lsst::u": 23.7,
            "lsst::g": 24.8,
            "lsst::r": 24.4,
            "lsst::i": 23.9,
            "lsst::z": 23.3,
            "lsst::y": 22.5,
        },
    ),
}


@dataclass(eq=False)
class Cadence:
    """Visits of one survey with a spatial index.

    Attributes:
        spec: the survey.
        mjd, band (code into ``spec.bands``), m5, ra, dec (radians): one entry per visit.
        source: file it came from, or ``"synthetic"``.
    """

    spec: SurveySpec
    mjd: np.ndarray
    band: np.ndarray
    m5: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    source: str

    def __post_init__(self) -> None:
        from scipy.spatial import cKDTree

        key = np.stack([np.round(self.ra, 5), np.round(self.dec, 5)], axis=1)
        _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
        inv = np.asarray(inv).ravel()
        order = np.lexsort((self.mjd, inv))
        self._order = order
        self._center_of = inv[order]
        self._offsets = np.searchsorted(self._center_of, np.arange(first.size + 1))
        self._mjd_sorted = self.mjd[order]
        self.center_ra, self.center_dec = self.ra[first], self.dec[first]
        self._tree = cKDTree(_unit(self.center_ra, self.center_dec))
        s = self.spec.field_size_deg * _DEG
        self._chord = 2 * np.sin(
            0.5 * (s * np.sqrt(2.0) if self.spec.field_shape == "square" else s)
        )
        self.mjd_range = (float(self.mjd.min()), float(self.mjd.max()))
        self.dec_range = (float(self.center_dec.min() - s), float(self.center_dec.max() + s))

    @property
    def n_visits(self) -> int:
        return int(self.mjd.size)

    def centers_containing(self, ra: np.ndarray, dec: np.ndarray) -> list[np.ndarray]:
        """For each position (radians), the indices of field centres that contain it."""
        hits = self._tree.query_ball_point(_unit(ra, dec), self._chord)
        out = []
        s = self.spec.field_size_deg * _DEG
        for i, h in enumerate(hits):
            h = np.asarray(h, dtype=np.int64)
            if self.spec.field_shape == "square" and h.size:
                dra = (self.center_ra[h] - ra[i] + np.pi) % (2 * np.pi) - np.pi
                ok = (np.abs(dra * np.cos(dec[i])) <= s) & (
                    np.abs(self.center_dec[h] - dec[i]) <= s
                )
                h = h[ok]
            out.append(h)
        return out

    def visits(self, centers: np.ndarray, t_lo: float, t_hi: float) -> np.ndarray:
        """Visit indices (into the original arrays) of ``centers`` with ``t_lo <= mjd <= t_hi``."""
        if centers.size == 0:
            return np.zeros(0, dtype=np.int64)
        starts, ends = self._offsets[centers], self._offsets[centers + 1]
        lengths = ends - starts
        total = int(lengths.sum())
        shift = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        idx = shift + np.arange(total)
        t = self._mjd_sorted[idx]
        idx = idx[(t >= t_lo) & (t <= t_hi)]
        return self._order[idx]


def _unit(ra, dec) -> np.ndarray:
    ra, dec = np.atleast_1d(ra), np.atleast_1d(dec)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def _read_cadence_file(path: Path, spec: SurveySpec) -> dict[str, np.ndarray]:
    import pandas as pd

    st = path.stat()
    cfile = cache_dir() / f"cadence-{spec.name}-{st.st_size}-{int(st.st_mtime)}.npz"
    if cfile.exists():
        with np.load(cfile, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    df = pd.read_csv(path, usecols=["expMJD", "filter", "fiveSigmaDepth", "_ra", "_dec"])
    codes = {f: i for i, f in enumerate(spec.file_filters)}
    band = df["filter"].map(codes)
    keep = band.notna().to_numpy() & np.isfinite(df["fiveSigmaDepth"].to_numpy())
    data = {
        "mjd": df["expMJD"].to_numpy(np.float64)[keep],
        "band": band.to_numpy()[keep].astype(np.int8),
        "m5": df["fiveSigmaDepth"].to_numpy(np.float32)[keep],
        "ra": df["_ra"].to_numpy(np.float64)[keep],
        "dec": df["_dec"].to_numpy(np.float64)[keep],
    }
    tmp = cfile.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **data)
    os.replace(tmp, cfile)
    return data


@lru_cache(maxsize=4)
def _load_real(path: str, survey: str) -> Cadence:
    spec = SURVEYS[survey]
    d = _read_cadence_file(Path(path), spec)
    return Cadence(spec, d["mjd"], d["band"], d["m5"], d["ra"], d["dec"], source=path)


@lru_cache(maxsize=4)
def synthetic_cadence(survey: str, seed: int = 0, days: float = 730.0) -> Cadence:
    """A synthetic cadence: a grid of fields, 2-4 day revisits, seasonal gaps and a depth
    distribution (ZTF: g/r, dec > -30; LSST: ugrizy, dec < +10). Deterministic per seed."""
    spec = SURVEYS[survey]
    rng = np.random.default_rng([seed, 1234])
    step = 2 * spec.field_size_deg * (1.0 if spec.field_shape == "square" else 0.85)
    dec_lo, dec_hi = (-30.0, 88.0) if survey == "ztf" else (-88.0, 10.0)
    centers = []
    for d in np.arange(dec_lo + step / 2, dec_hi, step):
        n_ra = max(1, int(np.floor(360.0 * np.cos(d * _DEG) / step)))
        centers += [(r, d) for r in (np.arange(n_ra) + 0.5) * 360.0 / n_ra]
    t0 = 60000.0
    n_band = 2 if survey == "ztf" else 6
    probs = np.array([0.05, 0.1, 0.22, 0.24, 0.2, 0.19])
    depth = np.array([spec.synthetic_depth[b] for b in spec.bands])
    parts: list[tuple[np.ndarray, ...]] = []
    n_max = int(days / 2.0) + 2
    for r, d in centers:
        t = t0 + rng.uniform(0, 3) + np.cumsum(rng.uniform(2.0, 4.0, n_max))
        t = t[t < t0 + days]
        # observable ~8 months a year (RA-dependent season), no gap near the poles
        phase = ((t - t0 - (r / 360.0) * 365.25) % 365.25) / 365.25
        t = t[(phase < 0.67) | (abs(d) > 70)]
        if survey == "ztf":  # g and r every night
            b = np.tile(np.arange(n_band), t.size)
            t = np.repeat(t, n_band) + 0.02 * b
        else:  # one band per visit
            b = rng.choice(n_band, size=t.size, p=probs)
        m5 = depth[b] + rng.normal(0.0, 0.4, t.size)
        parts.append((t, b, m5, np.full(t.size, r * _DEG), np.full(t.size, d * _DEG)))
    mjd, band, m5, ra, dec = (np.concatenate(c) for c in zip(*parts, strict=True))
    return Cadence(
        spec,
        mjd,
        band.astype(np.int8),
        m5.astype(np.float32),
        ra,
        dec,
        source="synthetic",
    )


def load_cadence(
    survey: str, template_dir: Path | None, mode: str = "auto", seed: int = 0
) -> Cadence:
    """The survey's real cadence from the template directory (``mode="real"`` requires it;
    ``"auto"`` falls back to :func:`synthetic_cadence`), or the synthetic one."""
    if survey not in SURVEYS:
        raise ConfigError(f"survey must be one of {sorted(SURVEYS)}, got {survey!r}")
    spec = SURVEYS[survey]
    path = None if template_dir is None else Path(template_dir) / spec.cadence_file
    if mode in ("auto", "real") and path is not None and path.exists():
        return _load_real(str(path), survey)
    if mode == "real":
        raise ConfigError(f"cadence='real' but {spec.cadence_file} is not in the template dir")
    return synthetic_cadence(survey, seed)


def photometric_noise(
    flux: np.ndarray, m5: np.ndarray, zp_electrons: float, floor: float
) -> np.ndarray:
    """1-sigma flux error (uJy) for true flux ``flux`` (uJy) at depth ``m5``."""
    sky = 10.0 ** (-0.4 * (m5 - 23.9)) / 5.0
    gain = 10.0 ** (0.4 * (zp_electrons - 23.9))  # electrons per uJy
    return np.sqrt(sky**2 + np.clip(flux, 0, None) / gain + (floor * flux) ** 2)
