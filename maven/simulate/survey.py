"""Survey cadences (real pointing logs or a synthetic fallback), footprints, noise, trigger.

Real cadences from the template directory:

* ``cadence/ztf_redback_pointings.csv.gz``: the ZTF pointing log (760k exposures 2018-2022;
  one row per field and exposure, primary and secondary field grids). Times in the log are
  float32-rounded (~6 min).
* ``cadence/rubin_baseline_v3.0_year1.csv.gz``: Rubin OpSim baseline v3.0, first year
  (216k visits).

Footprints (:meth:`Cadence.centers_containing`; a field observes a point at every visit or
never, since survey fields are fixed pointings):

* ZTF (``field_shape="ccds"``): the 16-CCD mosaic. The position's gnomonic (tangent-plane)
  offset from the field centre (x towards east, y north) must fall on one of the 4 x 4 CCDs,
  not in a gap or outside the mosaic. Each CCD is 6144 x 6160 px at 1.012"/px (~1.727 deg
  square); the CCD edges below (:data:`ZTF_CCD_X`, :data:`ZTF_CCD_Y`) are the corners of the
  published ``ZTF_CCD_Layout.tbl`` of the ZTF field grid (Caltech ZTF wiki, as used by
  ``ztffields`` and ``ztf_tiling``) averaged per CCD column / row (the CCDs are rotated by
  < 0.001 deg, neglected): a 7.29 x 7.46 deg mosaic with gaps of ~0.13 deg (east-west) and
  ~0.19 deg (north-south), 47.7 deg^2 on silicon, fill factor 0.877 (Bellm+19, PASP 131,
  018002; Dekany+20, PASP 132, 038001). Objects in a gap of one field are often seen by an
  overlapping field of the secondary grid, which the pointing log holds.
* Rubin (``"circle"``): a circle of radius 1.75 deg (9.6 deg^2); its chip gaps (fill factor
  ~0.9) are neglected.
* ``"square"`` (available for custom specs): ``|dRA cos(dec)|`` and ``|dDec|`` within the
  half-width.

Noise per visit (:func:`photometric_noise`): sky/background noise from the 5-sigma depth m5
(sigma_sky = f(m5) / 5) plus source Poisson noise with a photo-electron zero point, plus a
floor: ``sigma^2 = sigma_sky^2 + f / g + (floor f)^2``. Two settings per survey:

* *forced* photometry (``zp_electrons`` ~ the physical zero point, the configured
  ``calib_floor``): matches ZTF forced photometry (the ZTF SN Ia DR1 light curves: 0.002-0.006
  mag at 15-16 mag, 0.03 mag at 18 mag).
* *alert* photometry (:class:`AlertStream`): ZTF public-alert (difference-image PSF) magnitude
  errors are much larger at the bright end. Measured on the 38k g/R alert detections of the
  1959 BTS SNe Ia in ``real/ztf_bts_snia_antares`` (median magerr): 0.023-0.027 at 13.5-15
  mag, 0.034 at 16-16.5, 0.047 at 17-17.5, 0.058 at 17.5-18, 0.073 at 18-18.5, 0.095 at
  18.5-19, 0.12 at 19-19.5 mag. Fitting the same formula over the pointing log's m5
  distribution, detections only (SNR >= 5), gives a depth 0.8 mag shallower than the log's
  m5, an effective zero point of ~24.7 mag per photo-electron (a flux-proportional variance
  far above the physical Poisson term: PSF-fit and subtraction residuals) and a floor of
  0.022; it reproduces those medians to 5 % from 14 to 20 mag. 24.9 is used: simulated BTS-like
  SNe Ia (peak <= 18.5) then match the real per-magnitude medians to ~3 %.
  The public stream also holds fewer visits than the log (which has every program: the public
  survey had ~40-50 % of the time): the real alert light curves hold one point per band and
  night (99.3 %) and consecutive nights 1, 2, 3 nights apart in 24, 24, 20 % of cases, median
  17 detections (16-84 %: 10-31) per object. Alert photometry therefore keeps the first visit
  per band and night of 70 % of the field-nights (a deterministic hash of field and night,
  :meth:`Cadence.public_nights`), which gives a median of 18 detections (8-37) for simulated
  BTS-like SNe Ia, and drops the i band (not in the public alerts).

Trigger (:func:`passes_trigger`): ``min_detections`` detections of which at least one pair is
separated by ``min_gap_days`` (ZTF's and the brokers' 30-minute rule against asteroids and
artefacts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from maven.errors import ConfigError
from maven.simulate.templates import cached_arrays

__all__ = [
    "AlertStream",
    "Cadence",
    "SURVEYS",
    "ZTF_CCD_X",
    "ZTF_CCD_Y",
    "first_per_night",
    "gnomonic",
    "load_cadence",
    "night_index",
    "passes_trigger",
    "photometric_noise",
    "synthetic_cadence",
]

_DEG = np.pi / 180.0

#: ZTF CCD columns (east-west, deg from the field centre in the tangent plane): (lo, hi)
ZTF_CCD_X = ((-3.6466, -1.9197), (-1.7898, -0.0630), (0.0625, 1.7893), (1.9191, 3.6460))
#: ZTF CCD rows (north-south, deg)
ZTF_CCD_Y = ((-3.7311, -2.0024), (-1.8174, -0.0900), (0.0907, 1.8181), (2.0027, 3.7313))


@dataclass(frozen=True)
class AlertStream:
    """Alert (difference-image) photometry of a survey's public stream: depth offset from the
    cadence's m5 (mag), effective photo-electron zero point, error floor (fraction of the
    flux), the public bands, at most ``per_night`` visits per band and night (0: no cap) and
    the fraction of field-nights of the pointing log that are in the public stream
    (:meth:`Cadence.public_nights`; see the module docstring for the ZTF measurement)."""

    depth_offset: float
    zp_electrons: float
    floor: float
    bands: tuple[str, ...]
    per_night: int = 0
    public_fraction: float = 1.0


@dataclass(frozen=True)
class SurveySpec:
    """Static facts about a survey."""

    name: str
    bands: tuple[str, ...]  # canonical band names; index = band code
    file_filters: tuple[str, ...]  # filter names as the cadence file writes them
    cadence_file: str
    field_shape: str  # "ccds" (a mosaic: ccd_x x ccd_y), "square" (half-width), "circle"
    field_size_deg: float  # half-width / radius; for "ccds" the synthetic grid's half-step
    zp_electrons: float  # AB mag giving 1 photo-electron per visit (approximate)
    depth_mag: float  # typical single-visit depth used to set z_max
    synthetic_depth: dict = field(default_factory=dict)
    ccd_x: tuple[tuple[float, float], ...] = ()  # "ccds": CCD columns (deg, east-west)
    ccd_y: tuple[tuple[float, float], ...] = ()  # "ccds": CCD rows (deg, north-south)
    alert: AlertStream | None = None  # alert photometry (None: same noise as forced)

    @property
    def half_extent_deg(self) -> float:
        """Largest offset (deg, per axis) of an observed point from a field centre."""
        if self.field_shape == "ccds":
            return max(abs(v) for iv in self.ccd_x + self.ccd_y for v in iv)
        return self.field_size_deg

    @property
    def fill_factor(self) -> float:
        """Area on the detectors / area of the mosaic's bounding box (1 without gaps)."""
        if self.field_shape != "ccds":
            return 1.0
        wx = sum(hi - lo for lo, hi in self.ccd_x)
        wy = sum(hi - lo for lo, hi in self.ccd_y)
        bx = self.ccd_x[-1][1] - self.ccd_x[0][0]
        by = self.ccd_y[-1][1] - self.ccd_y[0][0]
        return wx * wy / (bx * by)


SURVEYS: dict[str, SurveySpec] = {
    # ZTF: 30 s, zero point ~26.3 mag per ADU/s (Masci+19) and gain ~6.2 e-/ADU -> ~ 28.0
    "ztf": SurveySpec(
        "ztf",
        ("ztf::g", "ztf::r", "ztf::i"),
        ("ztfg", "ztfr", "ztfi"),
        "cadence/ztf_redback_pointings.csv.gz",
        "ccds",
        3.5,
        28.0,
        20.6,
        {"ztf::g": 20.8, "ztf::r": 20.6, "ztf::i": 20.2},
        ccd_x=ZTF_CCD_X,
        ccd_y=ZTF_CCD_Y,
        # fitted to the BTS alert magnitude errors (module docstring); public alerts: g, r
        alert=AlertStream(
            -0.8, 24.9, 0.022, ("ztf::g", "ztf::r"), per_night=1, public_fraction=0.7
        ),
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
        self.field = np.empty(self.mjd.size, dtype=np.int64)  # field (centre) of each visit
        self.field[order] = self._center_of
        self.center_ra, self.center_dec = self.ra[first], self.dec[first]
        self._tree = cKDTree(_unit(self.center_ra, self.center_dec))
        spec = self.spec
        s = spec.half_extent_deg * _DEG
        if spec.field_shape == "ccds":  # circumscribed circle of the mosaic (+ projection)
            xm = max(abs(v) for iv in spec.ccd_x for v in iv)
            ym = max(abs(v) for iv in spec.ccd_y for v in iv)
            r = np.arctan(np.hypot(xm, ym) * _DEG) * 1.001
        else:
            r = s * np.sqrt(2.0) if spec.field_shape == "square" else s
        self._chord = 2 * np.sin(0.5 * r)
        if spec.field_shape == "ccds":
            self._ccd_x = np.asarray(spec.ccd_x, dtype=np.float64).ravel() * _DEG
            self._ccd_y = np.asarray(spec.ccd_y, dtype=np.float64).ravel() * _DEG
        self.mjd_range = (float(self.mjd.min()), float(self.mjd.max()))
        self.dec_range = (float(self.center_dec.min() - s), float(self.center_dec.max() + s))

    @property
    def n_visits(self) -> int:
        """Number of visits in the cadence."""
        return int(self.mjd.size)

    def centers_containing(self, ra: np.ndarray, dec: np.ndarray) -> list[np.ndarray]:
        """For each position (radians), the indices of the field centres whose footprint
        holds it (ZTF: on a CCD of the mosaic, see the module docstring; Rubin: within the
        circle). Candidates come from one KD-tree query on the field centres, then one
        vectorised footprint test over all (position, centre) pairs."""
        ra, dec = np.atleast_1d(ra), np.atleast_1d(dec)
        hits = self._tree.query_ball_point(_unit(ra, dec), self._chord)
        if self.spec.field_shape == "circle":
            return [np.asarray(h, dtype=np.int64) for h in hits]
        counts = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
        if counts.sum() == 0:
            return [np.zeros(0, dtype=np.int64) for _ in hits]
        cen = np.concatenate([np.asarray(h, dtype=np.int64) for h in hits])
        pos = np.repeat(np.arange(len(hits)), counts)
        ok = self.in_footprint(ra[pos], dec[pos], cen)
        ends = np.cumsum(counts)
        keep = np.split(np.where(ok, cen, -1), ends[:-1])
        return [k[k >= 0] for k in keep]

    def in_footprint(self, ra: np.ndarray, dec: np.ndarray, centers: np.ndarray) -> np.ndarray:
        """Whether each position (radians) lies in the footprint of field ``centers`` (same
        length): on a CCD for ``"ccds"``, within the square / circle otherwise."""
        c_ra, c_dec = self.center_ra[centers], self.center_dec[centers]
        spec = self.spec
        if spec.field_shape == "ccds":
            x, y, front = gnomonic(ra, dec, c_ra, c_dec)
            return front & _in_intervals(x, self._ccd_x) & _in_intervals(y, self._ccd_y)
        s = spec.field_size_deg * _DEG
        if spec.field_shape == "square":
            dra = (c_ra - ra + np.pi) % (2 * np.pi) - np.pi
            return (np.abs(dra * np.cos(dec)) <= s) & (np.abs(c_dec - dec) <= s)
        cos_d = np.sin(dec) * np.sin(c_dec) + np.cos(dec) * np.cos(c_dec) * np.cos(ra - c_ra)
        return cos_d >= np.cos(s)

    def public_nights(self, idx: np.ndarray, fraction: float) -> np.ndarray:
        """Mask of the visits ``idx`` whose field-night is in the public alert stream: a
        deterministic hash of (field, night) below ``fraction``, so that a field's night is
        public or not for every object (the log holds every program; ZTF's public survey had
        ~40-50 % of the time, and fields observed by several programs in a night keep some)."""
        if fraction >= 1.0:
            return np.ones(np.size(idx), dtype=bool)
        key = (night_index(self.mjd[idx]).astype(np.uint64) << np.uint64(20)) + self.field[
            idx
        ].astype(np.uint64)
        h = (key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)  # 24 well-mixed bits
        return h.astype(np.float64) / float(1 << 24) < fraction

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


def gnomonic(ra, dec, ra0, dec0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tangent-plane (gnomonic) offsets ``x`` (east), ``y`` (north), in radians, of
    ``(ra, dec)`` from the centre ``(ra0, dec0)`` (all radians), and whether the point is on
    the centre's hemisphere (where the projection is defined)."""
    dra = ra - ra0
    cos_c = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(dra)
    front = cos_c > 0
    cc = np.where(front, cos_c, 1.0)
    x = np.cos(dec) * np.sin(dra) / cc
    y = (np.cos(dec0) * np.sin(dec) - np.sin(dec0) * np.cos(dec) * np.cos(dra)) / cc
    return x, y, front


def _in_intervals(v: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Whether ``v`` is inside one of the sorted, disjoint intervals ``edges`` (flattened
    ``lo0, hi0, lo1, hi1, ...``): an odd insertion index means inside."""
    return (np.searchsorted(edges, v, side="right") % 2) == 1


def night_index(mjd: np.ndarray, split: float = 0.8) -> np.ndarray:
    """Observing night of each MJD: nights split at MJD fraction ``split`` (0.8 = 19:12 UT,
    local noon-ish at Palomar, where the nights run ~ 02-13 UT)."""
    return np.floor(np.asarray(mjd) - split).astype(np.int64)


def first_per_night(mjd: np.ndarray, band: np.ndarray, k: int = 1) -> np.ndarray:
    """Indices (in time order) of the first ``k`` visits of each band in each night."""
    mjd = np.asarray(mjd)
    key = night_index(mjd) * 64 + np.asarray(band, dtype=np.int64)
    order = np.lexsort((mjd, key))
    ks = key[order]
    start = np.r_[True, ks[1:] != ks[:-1]]
    group_start = np.maximum.accumulate(np.where(start, np.arange(ks.size), 0))
    keep = order[np.arange(ks.size) - group_start < k]
    return keep[np.argsort(mjd[keep], kind="stable")]


def _unit(ra, dec) -> np.ndarray:
    ra, dec = np.atleast_1d(ra), np.atleast_1d(dec)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def _read_cadence_file(path: Path, spec: SurveySpec) -> dict[str, np.ndarray]:
    st = path.stat()
    name = f"cadence-{spec.name}-{st.st_size}-{int(st.st_mtime)}.npz"
    return cached_arrays(name, lambda: _parse_cadence_file(path, spec))


def _parse_cadence_file(path: Path, spec: SurveySpec) -> dict[str, np.ndarray]:
    import pandas as pd

    df = pd.read_csv(path, usecols=["expMJD", "filter", "fiveSigmaDepth", "_ra", "_dec"])
    codes = {f: i for i, f in enumerate(spec.file_filters)}
    band = df["filter"].map(codes)
    keep = band.notna().to_numpy() & np.isfinite(df["fiveSigmaDepth"].to_numpy())
    return {
        "mjd": df["expMJD"].to_numpy(np.float64)[keep],
        "band": band.to_numpy()[keep].astype(np.int8),
        "m5": df["fiveSigmaDepth"].to_numpy(np.float32)[keep],
        "ra": df["_ra"].to_numpy(np.float64)[keep],
        "dec": df["_dec"].to_numpy(np.float64)[keep],
    }


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
    step = 2 * spec.field_size_deg * (0.85 if spec.field_shape == "circle" else 1.0)
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
        if survey == "ztf":  # g and r every night, 43 min apart (>= 30 min, as ZTF schedules)
            b = np.tile(np.arange(n_band), t.size)
            t = np.repeat(t, n_band) + 0.03 * b
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


def passes_trigger(
    mjd: np.ndarray, detected: np.ndarray, min_detections: int, min_gap_days: float = 0.0
) -> bool:
    """The trigger: at least ``min_detections`` detections and, when two or more are
    required, at least one pair of them separated by ``>= min_gap_days`` (ZTF's 30-minute
    rule: a moving object or an artefact does not repeat at the same place half an hour
    later). One pair is enough, which is the same as the detections spanning the gap."""
    det_t = np.asarray(mjd)[np.asarray(detected, dtype=bool)]
    if det_t.size < min_detections:
        return False
    if min_detections < 2 or min_gap_days <= 0:
        return True
    return bool(det_t.max() - det_t.min() >= min_gap_days)
