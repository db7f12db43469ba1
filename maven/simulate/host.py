"""Host-galaxy light for simulated spectra: a small library of galaxy templates and the draw.

A real classification spectrum of a supernova in a galaxy holds some of the galaxy's light
(the slit or IFU spaxel covers the host under the SN). The photometry of the simulator stays
host-free (survey photometry is difference imaging), only the spectra get the host.

Templates (rest-frame F_lambda on :data:`~maven.simulate.grid.REST_WAVE`, each normalised to
a mean of 1 in rest 5500-6000 A), from the template directory when there is one
(``spectra/superfit_templates.tar.gz``, the Superfit galaxy bank):

* ``E``, ``S0``, ``Sa``, ``Sb``, ``SB1`` ... ``SB6``: Kinney et al. 1996 as Superfit ships
  them unsmoothed (``gal/kinney/<type>-unsmoothed.dat``, 1232-~9950 A, 4 A pixels), lightly
  smoothed (Gaussian, sigma 6 A) against their noise. The Superfit ``gal/<type>`` files are
  the same spectra with the narrow emission lines removed and smoothed by 21 pixels (84 A),
  which washes out Ca H&K, Mg b and Na D; they only extend the Kinney spectra beyond
  their range (scaled to match), to 12000 A.
* ``Sc``: the PEGASE Sc model (Fioc & Rocca-Volmerange 1997) of Superfit ``gal/Sc``
  (the Kinney Sc spectrum stops at 7660 A).

Without a template directory, three physics shapes (:func:`physics_hosts`): ``phys-E`` (an old
population: ~4800 K continuum, a 4000 A break of ~1.8, UV drop below ~2800 A, Ca H&K, G band,
Mg b, Fe 5270, Na D absorption), ``phys-SB`` (star-forming: blue F_lambda ~ lambda^-1.3
continuum, a weak Balmer break and narrow [O II], H-beta, [O III], H-alpha, [N II], [S II]
emission with H-alpha EW 100 A) and ``phys-Sb`` (their mix, 60/40 at 5500-6000 A). Parsed
templates are cached as ``.npz`` in :func:`~maven.simulate.templates.cache_dir`.
:attr:`HostLibrary.source` says which source was used (see ``provenance()["host_galaxies"]``).

Draw (:func:`draw_host`, per spectrum, from the random stream it is given): with probability
``host_light`` a host; its group (``early``: E, S0; ``spiral``: Sa, Sb, Sc; ``starburst``:
SB1-6) from fixed class-dependent weights :data:`HOST_GROUP_WEIGHTS` (rough SN host
demographics: core-collapse SNe avoid early-type hosts, SLSN-I prefer star-forming dwarfs,
TDEs and 91bg-like SNe old populations), the template uniform within the group, and the host
fraction ``f_host`` log-uniform in ``host_fraction``. ``f_host`` is the ratio of host to SN
mean F_lambda in the observer window :data:`HOST_WINDOW` (5500-7000 A, r-band-like, inside
every instrument's range), measured on the model before resolution smoothing
(:func:`add_host`). The host is redshifted with the SN (z), not dust-reddened.
"""

from __future__ import annotations

import hashlib
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from maven.simulate.grid import REST_WAVE
from maven.simulate.templates import cached_arrays

__all__ = [
    "HOST_GROUP_WEIGHTS",
    "HOST_GROUPS",
    "HOST_WINDOW",
    "HostDraw",
    "HostLibrary",
    "add_host",
    "draw_host",
    "get_host_library",
    "physics_hosts",
]

#: Observer-frame window (A) in which the host fraction is defined.
HOST_WINDOW: tuple[float, float] = (5500.0, 7000.0)

HOST_GROUPS: tuple[str, ...] = ("early", "spiral", "starburst")

#: Probability of each host group (early, spiral, starburst) per SN class; other classes use
#: ``"default"``. Rough numbers from SN host demographics (e.g. ~25 % of SNe Ia in early-type
#: hosts; core-collapse SNe in star-forming hosts; SLSN-I in star-forming dwarfs; TDEs and
#: 91bg-like SNe in old, quiescent populations; GW170817 in an S0).
HOST_GROUP_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "Ia": (0.25, 0.55, 0.20),
    "Ia-91bg": (0.60, 0.35, 0.05),
    "II": (0.0, 0.65, 0.35),
    "Ibc": (0.0, 0.60, 0.40),
    "IIn": (0.0, 0.65, 0.35),
    "SLSN-I": (0.0, 0.20, 0.80),
    "TDE": (0.50, 0.40, 0.10),
    "KN": (0.40, 0.50, 0.10),
    "default": (0.20, 0.50, 0.30),
}

_TARBALL = "spectra/superfit_templates.tar.gz"
_GAL = "templates/superfit_templates/gal/"
_KINNEY = ("E", "S0", "Sa", "Sb", "SB1", "SB2", "SB3", "SB4", "SB5", "SB6")
_GROUP_OF = {"E": "early", "S0": "early", "Sa": "spiral", "Sb": "spiral", "Sc": "spiral"}
_CITATION = (
    "Kinney et al. 1996 ApJ 467 38; Fioc & Rocca-Volmerange 1997 A&A 326 950 (PEGASE Sc); "
    "as shipped with Superfit (Howell et al. 2005 ApJ 634 1190)"
)
_NORM = (5500.0, 6000.0)


@dataclass(frozen=True, eq=False)
class HostLibrary:
    """Galaxy templates on :data:`REST_WAVE` (rows of ``flux``), their groups and source."""

    ids: tuple[str, ...]
    groups: tuple[str, ...]
    flux: np.ndarray  # (T, W), mean 1 in rest 5500-6000 A
    source: str
    citation: str

    def get(self, template_id: str) -> np.ndarray:
        """The flux row (on :data:`REST_WAVE`) of ``template_id``."""
        return self.flux[self.ids.index(template_id)]

    def members(self, group: str) -> tuple[int, ...]:
        """Row numbers of the templates in ``group``."""
        return tuple(i for i, g in enumerate(self.groups) if g == group)

    def provenance(self) -> dict:
        """Source, template ids and citation, for a manifest."""
        return {"source": self.source, "ids": list(self.ids), "citation": self.citation}


@dataclass(frozen=True, eq=False)
class HostDraw:
    """One drawn host: template id, host fraction (truth) and its rest-frame F_lambda."""

    template: str
    fraction: float
    flux_rest: np.ndarray

    def observed(self, wave_obs: np.ndarray, z: float) -> np.ndarray:
        """The host F_lambda (arbitrary scale) on observer wavelengths ``wave_obs`` at ``z``."""
        return np.interp(np.asarray(wave_obs) / (1.0 + z), REST_WAVE, self.flux_rest)


# --------------------------------------------------------------------------- templates


def _normalise(flux: np.ndarray) -> np.ndarray:
    m = (REST_WAVE >= _NORM[0]) & (REST_WAVE <= _NORM[1])
    return flux / flux[m].mean()


def _gauss(c: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((REST_WAVE - c) / sigma) ** 2)


def physics_hosts() -> HostLibrary:
    """The fallback library (no template directory): ``phys-E``, ``phys-Sb``, ``phys-SB``."""
    w = REST_WAVE
    hc_k = 1.4387769e8  # h c / k in A K
    # old population: a cool continuum, the 4000 A break, a UV drop and metal absorption
    old = w**-5 / np.expm1(hc_k / (w * 4800.0))
    old *= 1.0 - 0.4 / (1.0 + np.exp((w - 4000.0) / 25.0))  # D4000 ~ 1.9 with Ca H&K
    old *= 1.0 / (1.0 + (2800.0 / w) ** 8)
    for c, depth, sig in (
        (3933.7, 0.45, 6.0),  # Ca II K
        (3968.5, 0.40, 6.0),  # Ca II H (+ H-epsilon)
        (4304.4, 0.18, 12.0),  # G band
        (5175.0, 0.18, 12.0),  # Mg b
        (5270.0, 0.08, 10.0),  # Fe
        (5893.0, 0.15, 7.0),  # Na D
    ):
        old *= 1.0 - depth * _gauss(c, sig)
    old = _normalise(old)
    # star-forming: blue continuum, weak Balmer break, nebular emission lines (EW in A)
    young = (w / 5500.0) ** -1.3
    young *= 1.0 - 0.12 / (1.0 + np.exp((w - 3650.0) / 30.0))
    young = _normalise(young)
    cont = young.copy()
    for c, ew in (
        (3727.4, 50.0),  # [O II]
        (4861.3, 25.0),  # H-beta
        (4958.9, 13.0),  # [O III]
        (5006.8, 40.0),  # [O III]
        (6548.1, 10.0),  # [N II]
        (6562.8, 100.0),  # H-alpha
        (6583.5, 30.0),  # [N II]
        (6716.4, 15.0),  # [S II]
        (6730.8, 11.0),  # [S II]
    ):
        sig = 3.0
        young += ew * np.interp(c, w, cont) * _gauss(c, sig) / (sig * np.sqrt(2 * np.pi))
    mid = _normalise(0.6 * old + 0.4 * young)
    return HostLibrary(
        ids=("phys-E", "phys-Sb", "phys-SB"),
        groups=HOST_GROUPS,
        flux=np.vstack([old, mid, young]),
        source="physics fallback (no template directory): maven.simulate.host.physics_hosts",
        citation="",
    )


def _bin_average(wave: np.ndarray, flux: np.ndarray) -> np.ndarray:
    """Mean F_lambda of a native spectrum in each 10 A bin of :data:`REST_WAVE` (conserves
    line fluxes); NaN outside the native coverage."""
    edges = np.concatenate([REST_WAVE - 5.0, [REST_WAVE[-1] + 5.0]])
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (flux[1:] + flux[:-1]) * np.diff(wave))])
    inside = (edges >= wave[0]) & (edges <= wave[-1])
    ce = np.interp(edges, wave, cum)
    out = np.diff(ce) / np.diff(edges)
    out[~(inside[:-1] & inside[1:])] = np.nan
    return out


def _read_two_col(data: bytes, trim: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(wave, flux) of a 2+ column ASCII spectrum inside its coverage (leading and trailing
    zeros mark none), less ``trim`` pixels at each end."""
    arr = np.loadtxt(data.decode().splitlines(), usecols=(0, 1))
    wave, flux = arr[:, 0], np.clip(arr[:, 1], 0.0, None)
    lo, hi = np.flatnonzero(flux > 0)[[0, -1]]
    return wave[lo + trim : hi + 1 - trim], flux[lo + trim : hi + 1 - trim]


def _fill_edges(flux: np.ndarray) -> np.ndarray:
    """NaN bins outside the coverage -> the nearest covered value (no step in the spectrum)."""
    ok = np.flatnonzero(np.isfinite(flux))
    return np.interp(np.arange(flux.size), ok, flux[ok])


def _splice(primary: np.ndarray, extension: np.ndarray) -> np.ndarray:
    """``primary`` where covered, else ``extension`` scaled to match it over 300 A next to each
    edge of the primary's coverage."""
    out = primary.copy()
    ok = np.flatnonzero(np.isfinite(primary))
    lo, hi = ok[0], ok[-1]
    for near, region in (
        (slice(lo, lo + 30), slice(0, lo)),
        (slice(hi - 29, hi + 1), slice(hi + 1, None)),
    ):
        ext = extension[near]
        good = np.isfinite(ext) & (ext > 0)
        if good.any():
            out[region] = extension[region] * (primary[near][good].mean() / ext[good].mean())
    return out


def _load_superfit(tarball: Path) -> dict[str, np.ndarray]:
    from scipy.ndimage import gaussian_filter1d

    want = {f"{_GAL}{t}" for t in (*_KINNEY, "Sc")}
    want |= {f"{_GAL}kinney/{t}-unsmoothed.dat" for t in _KINNEY}
    raw: dict[str, bytes] = {}
    with tarfile.open(tarball) as tf:
        for m in tf:
            if m.name in want and m.isfile():
                f = tf.extractfile(m)
                if f is not None:
                    raw[m.name] = f.read()
    missing = sorted(want - set(raw))
    if missing:
        raise OSError(f"{tarball}: missing members {missing}")
    rows = []
    for t in _KINNEY:
        w, f = _read_two_col(raw[f"{_GAL}kinney/{t}-unsmoothed.dat"])
        f = gaussian_filter1d(f, 1.5, mode="nearest")  # sigma 6 A (4 A pixels): tames the noise
        ws, fs = _read_two_col(raw[f"{_GAL}{t}"], trim=15)  # edges dimmed by the smoothing
        rows.append(_splice(_bin_average(w, f), _bin_average(ws, fs)))
    w, f = _read_two_col(raw[f"{_GAL}Sc"])
    rows.append(_bin_average(w, f))
    flux = np.vstack([_normalise(_fill_edges(r)) for r in rows])
    return {"flux": flux, "ids": np.array([*_KINNEY, "Sc"])}


@lru_cache(maxsize=4)
def get_host_library(template_dir: str | None) -> HostLibrary:
    """The host library (cached per process and as ``.npz`` on disk): the Superfit galaxy
    templates of ``template_dir`` when it has them, else :func:`physics_hosts`."""
    tarball = Path(template_dir) / _TARBALL if template_dir else None
    if tarball is None or not tarball.exists():
        return physics_hosts()
    st = tarball.stat()
    key = hashlib.sha256(f"host-v2|{st.st_size}|{int(st.st_mtime)}".encode()).hexdigest()[:16]
    data = cached_arrays(f"host-galaxies-{key}.npz", lambda: _load_superfit(tarball))
    ids = tuple(str(i) for i in data["ids"])
    return HostLibrary(
        ids=ids,
        groups=tuple(_GROUP_OF.get(i, "starburst") for i in ids),
        flux=np.asarray(data["flux"], np.float64),
        source=f"{tarball} (Superfit galaxy templates: Kinney+96 unsmoothed, PEGASE Sc)",
        citation=_CITATION,
    )


# --------------------------------------------------------------------------- draws


def draw_host(
    rng: np.random.Generator,
    library: HostLibrary,
    cls: str,
    probability: float,
    fraction_range: tuple[float, float],
) -> HostDraw | None:
    """A host for one spectrum of an SN of class ``cls``, or ``None`` (no draw at all when
    ``probability`` is 0). ``fraction`` is rounded to 4 decimals, and that value is applied."""
    if probability <= 0.0 or rng.random() >= probability:
        return None
    weights = np.array(HOST_GROUP_WEIGHTS.get(cls, HOST_GROUP_WEIGHTS["default"]), float)
    present = np.array([bool(library.members(g)) for g in HOST_GROUPS])
    weights = np.where(present, weights, 0.0)
    if weights.sum() <= 0:
        weights = present.astype(float)
    group = HOST_GROUPS[int(rng.choice(len(HOST_GROUPS), p=weights / weights.sum()))]
    members = library.members(group)
    k = members[int(rng.integers(len(members)))]
    lo, hi = np.log(fraction_range[0]), np.log(fraction_range[1])
    fraction = round(float(np.exp(rng.uniform(lo, hi))), 4)
    return HostDraw(library.ids[k], fraction, library.flux[k])


def _window_mean(wave: np.ndarray, flux: np.ndarray, window: tuple[float, float]) -> float:
    m = (wave >= window[0]) & (wave <= window[1])
    if np.count_nonzero(m) < 5:  # the model does not cover the window: use everything
        m = np.ones(wave.size, dtype=bool)
    return float(np.mean(flux[m]))


def add_host(
    wave_obs: np.ndarray,
    flux_obs: np.ndarray,
    host_flux: np.ndarray,
    fraction: float,
    window: tuple[float, float] = HOST_WINDOW,
) -> np.ndarray:
    """``flux_obs`` + the host ``host_flux`` (same wavelengths, any scale) scaled so that its
    mean in ``window`` (observer A; the whole range when the model covers < 5 pixels of it) is
    ``fraction`` times the SN's. Unchanged when either mean is not positive."""
    sn = _window_mean(wave_obs, flux_obs, window)
    gal = _window_mean(wave_obs, host_flux, window)
    if not (sn > 0 and gal > 0 and np.isfinite(sn) and np.isfinite(gal)):
        return flux_obs
    return flux_obs + (fraction * sn / gal) * host_flux
