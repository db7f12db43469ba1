"""Spectral time-series templates: where they live, what they are, and how they are loaded.

All sources become a :class:`TemplateGrid`: rest-frame F_lambda (arbitrary normalisation) on a
template phase grid (rest-frame days, phase of the rest-frame B-band peak = ``peak_phase``) and on
one common rest wavelength grid :data:`REST_WAVE` (1000-12000 A, 10 A), zero outside the
template's coverage ``[wmin, wmax]``.

Template directory (one, configurable, never searched for): the ``template_dir`` argument /
config key, else the ``MAVEN_TEMPLATE_DIR`` environment variable. Without one (said once per
process, as a logged warning), only what sncosmo ships in its wheel (the subsampled Hsiao Ia
model) plus physics models are used (:mod:`maven.simulate.physics`), with a synthetic cadence,
so results never depend on the working directory.

BayeSN Ia (:mod:`maven.simulate.bayesn`): a bank of :data:`~maven.simulate.bayesn.BANK_SIZE`
pre-drawn realisations (theta1, epsilon) of the M20 model of ``sed/bayesn`` on the Hsiao template,
ids ``bayesn-M20-000`` ...; they need the template directory (absent without it). Members of a
bank share the draw weight of one template (:func:`pick_template`), so the Ia draw is 1/3
SALT3-K21, 1/3 SALT2.4, 1/3 BayeSN.

Novel classes (:data:`NOVEL_CLASSES`, read only when requested): ``Ia-91bg`` from the Nugent
91bg FITS image (``sed/nugent/Nugent_SN91bg_SED.fits.gz``) and ``KN`` from the Kasen et al. 2017
HDF5 spectral time series (``sed/kasen17_kilonova``, F_lambda at 10 pc, needs ``h5py``).

Parsed grids are cached (``.npz``, never pickle) in ``$MAVEN_CACHE_DIR`` or
``~/.cache/maven/templates``; SALT tarballs are extracted there too, never into the repository.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache, cached_property, lru_cache
from pathlib import Path

import numpy as np

from maven.errors import ConfigError, MavenError

__all__ = [
    "REST_WAVE",
    "TemplateGrid",
    "TemplateInfo",
    "CATALOG",
    "HELDOUT",
    "NOVEL_CLASSES",
    "find_template_dir",
    "cache_dir",
    "cached_arrays",
    "load_template",
    "extend_late_time",
    "LATE_TIME_PHASE",
    "available_templates",
    "pick_template",
    "template_weights",
]

#: Common rest-frame wavelength grid (Angstrom) of every template grid.
REST_WAVE = np.arange(1000.0, 12000.0 + 1e-6, 10.0)

#: Template ids held out of training (``heldout="exclude"``, the default, never draws them;
#: ``heldout="only"`` draws nothing else). A few per class, chosen to span subtypes.
HELDOUT: dict[str, tuple[str, ...]] = {
    "Ia": ("hsiao", "bayesn-M20-022", "bayesn-M20-024"),
    "II": ("snana-SDSS-018109", "sako-SDSS-001472", "v19-SN2013fs"),
    "Ibc": ("snana-SDSS-014492", "v19-SN1998bw", "v19-SN2011ei"),
    "IIn": ("snana-SDSS-013449", "v19-SN2010al"),
    "SLSN-I": ("magnetar-000", "magnetar-001", "magnetar-002", "magnetar-003"),
}


#: Classes never simulated unless requested (novelty evaluation, issue 4). Every template of a
#: novel class counts as held out; ``heldout`` does not filter them.
NOVEL_CLASSES: tuple[str, ...] = ("TDE", "KN", "Ia-91bg")

#: Kasen et al. 2017 kilonova models in ``sed/kasen17_kilonova`` (ejecta mass [Msun], velocity
#: [c], lanthanide fraction), as named in the files.
KASEN17_MODELS: tuple[str, ...] = (
    "m0.020_vk0.30_Xlan1e-9.0",
    "m0.025_vk0.30_Xlan1e-5.0",
    "m0.025_vk0.30_Xlan1e-4.0",
    "m0.030_vk0.20_Xlan1e-2.0",
    "m0.050_vk0.15_Xlan1e-2.0",
    "m0.040_vk0.10_Xlan1e-1.0",
)


@dataclass(frozen=True)
class TemplateInfo:
    """Catalogue entry of one template file in the template directory."""

    id: str
    cls: str  # maven class (Ia, II, Ibc, IIn, SLSN-I; novel: KN, Ia-91bg)
    subtype: str  # e.g. "IIP", "Ic-BL"
    family: str  # hsiao, salt, bayesn, snana, pierel, sako, v19, nugent, nugent-fits, kasen17
    relpath: str  # path inside the template directory
    citation: str


_CITE = {
    "snana": "SNANA NON1A templates (Kessler+10, SDSS-II SNe)",
    "pierel": "Pierel et al. 2018 PASP 130 114504 (UV/NIR-extended NON1A)",
    "sako": "Sako et al. 2011 ApJ 738 162",
    "v19": "Vincenzi et al. 2019 MNRAS 489 5802",
    "nugent": "Nugent, Kim & Perlmutter 2002 (Nugent templates)",
    "hsiao": "Hsiao et al. 2007 ApJ 663 1187",
    "salt2": "Guy et al. 2007/2010 (SALT2.4, Betoule+14 training)",
    "salt3": "Kenworthy et al. 2021 ApJ 923 265 (SALT3-K21)",
    "kasen17": "Kasen et al. 2017 Nature 551 80 (kilonova models)",
    "bayesn": "Mandel et al. 2022 MNRAS 510 3939 (BayeSN M20); Thorp et al. 2021 MNRAS 508 4310",
}

#: BayeSN model whose realisation bank is catalogued (see :mod:`maven.simulate.bayesn`).
BAYESN_BANK_MODEL = "M20"


def _build_catalog() -> tuple[TemplateInfo, ...]:
    out: list[TemplateInfo] = [
        TemplateInfo("salt3-k21", "Ia", "Ia", "salt", "sed/salt/salt3-k21.tar.gz", _CITE["salt3"]),
        TemplateInfo("salt2-4", "Ia", "Ia", "salt", "sed/salt/salt2-4.tar.gz", _CITE["salt2"]),
        TemplateInfo("hsiao", "Ia", "Ia", "hsiao", "sed/hsiao/Hsiao_SED_V3.fits", _CITE["hsiao"]),
    ]
    from maven.simulate.bayesn import bank_ids

    for tid in bank_ids(BAYESN_BANK_MODEL):
        rel = f"sed/bayesn/{BAYESN_BANK_MODEL}_model/BAYESN.YAML"
        out.append(TemplateInfo(tid, "Ia", "Ia", "bayesn", rel, _CITE["bayesn"]))
    snana = {
        "Ic": "004012 013195 014475 015475",
        "Ib": "000020 002744 014492 019323",
        "IIP": "000018 003818 013376 014450 014599 015031 015320 018109 018297 018408 018441 "
        "018457 018590 018596 018700 018713 018734",
        "IIn": "012842 013449",
        "II-pec": "017548",
    }
    for sub, ids in snana.items():
        for i in ids.split():
            out.append(
                TemplateInfo(
                    f"snana-SDSS-{i}",
                    _class_of(sub),
                    sub,
                    "snana",
                    f"sed/snana_non1a/SDSS-{i}.SED.gz",
                    _CITE["snana"],
                )
            )
    for name in (
        "CSP-2004gq",
        "SNLS-04D1la",
        "SDSS-015339",
        "SDSS-017564",
        "SDSS-017862",
        "SDSS-018793",
        "SDSS-018834",
        "SDSS-018892",
        "SDSS-020038",
    ):
        sub = "Ic" if not name.startswith("SDSS") else "IIP"
        out.append(
            TemplateInfo(
                f"pierel-{name}",
                _class_of(sub),
                sub,
                "pierel",
                f"sed/pierel18_non1a/{name}.SED.gz",
                _CITE["pierel"],
            )
        )
    # Sako+11 types as in sncosmo 2.13 builtins.
    sako = {
        "000018": "IIL/P",
        "001472": "IIP",
        "002000": "Ib",
        "002744": "Ib",
        "003818": "IIP",
        "013195": "Ic",
        "014492": "Ib",
        "014599": "IIP",
    }
    for i, sub in sako.items():
        out.append(
            TemplateInfo(
                f"sako-SDSS-{i}",
                _class_of(sub),
                sub,
                "sako",
                f"sed/sako11/S11_SDSS-{i}.SED.gz",
                _CITE["sako"],
            )
        )
    v19 = {
        "2009N": "II",
        "2009kr": "II",
        "2013fs": "II",
        "2006T": "IIb",
        "2011ei": "IIb",
        "2006aa": "IIn",
        "2008fq": "IIn",
        "2009ip": "IIn",
        "2010al": "IIn",
        "2004gv": "Ib",
        "2005bf": "Ib",
        "2007Y": "Ib",
        "2004fe": "Ic",
        "2013ge": "Ic",
        "1998bw": "Ic-BL",
        "2006aj": "Ic-BL",
        "2009bb": "Ic-BL",
        "2012ap": "Ic-BL",
    }
    for sn, sub in v19.items():
        out.append(
            TemplateInfo(
                f"v19-SN{sn}",
                _class_of(sub),
                sub,
                "v19",
                f"sed/vincenzi19/V19_SN{sn}_HostExtCorr.SED.gz",
                _CITE["v19"],
            )
        )
    nugent = {
        "sn1bc": ("Ib/c", "sn1bc_flux.v1.1.dat.gz"),
        "hyper": ("Ic-BL", "hyper_flux.v1.2.dat.gz"),
        "sn2p": ("IIP", "sn2p_flux.v1.2.dat.gz"),
        "sn2l": ("IIL", "sn2l_flux.v1.2.dat.gz"),
        "sn2n": ("IIn", "sn2n_flux.v2.1.dat.gz"),
    }
    for key, (sub, fn) in nugent.items():
        out.append(
            TemplateInfo(
                f"nugent-{key}", _class_of(sub), sub, "nugent", f"sed/nugent/{fn}", _CITE["nugent"]
            )
        )
    # novel classes (never loaded unless requested)
    out.append(
        TemplateInfo(
            "nugent-91bg",
            "Ia-91bg",
            "Ia-91bg",
            "nugent-fits",
            "sed/nugent/Nugent_SN91bg_SED.fits.gz",
            _CITE["nugent"],
        )
    )
    for name in KASEN17_MODELS:
        out.append(
            TemplateInfo(
                f"kasen17-{name}",
                "KN",
                "KN",
                "kasen17",
                f"sed/kasen17_kilonova/knova_d1_n10_{name}.h5.gz",
                _CITE["kasen17"],
            )
        )
    return tuple(out)


def _class_of(subtype: str) -> str:
    if subtype == "IIn":
        return "IIn"
    if subtype in ("IIP", "IIL", "IIL/P", "II", "II-pec"):
        return "II"
    return "Ibc"  # Ib, Ic, Ib/c, IIb, Ic-BL


#: Every template file maven knows how to read from a template directory.
CATALOG: tuple[TemplateInfo, ...] = _build_catalog()


@dataclass(eq=False)
class TemplateGrid:
    """A rest-frame spectral time series on :data:`REST_WAVE`.

    Attributes:
        id, cls, subtype, family, citation: identity (see :class:`TemplateInfo`).
        phase: rest-frame days, increasing. Shape ``(P,)``.
        flux: F_lambda, arbitrary normalisation, >= 0. Shape ``(P, W)``. For SALT this is M0.
        m1, colorlaw: SALT only: the M1 component ``(P, W)`` and colour law ``(W,)`` such that
            ``flux(x1, c) = (M0 + x1 M1) 10^(-0.4 c CL)``.
        wmin, wmax: rest wavelength coverage (Angstrom).
        peak_phase: phase of the rest-frame B-band maximum (for x1 = c = 0 with SALT).
        source: where it was read from (path or package).
    """

    id: str
    cls: str
    subtype: str
    family: str
    phase: np.ndarray
    flux: np.ndarray
    wmin: float
    wmax: float
    source: str
    citation: str = ""
    m1: np.ndarray | None = None
    colorlaw: np.ndarray | None = None
    peak_phase: float = 0.0
    meta: dict = field(default_factory=dict)

    def sed(self, x1: float = 0.0, c: float = 0.0) -> np.ndarray:
        """The flux grid ``(P, W)``; SALT templates apply ``x1`` and ``c``."""
        if self.m1 is None:
            return self.flux
        f = self.flux + x1 * self.m1
        if c != 0.0:
            f = f * 10.0 ** (-0.4 * c * self.colorlaw)
        return np.clip(f, 0.0, None)

    @cached_property
    def bcurve(self) -> np.ndarray:
        """Rest-frame B-band f_nu at 10 pc per phase (x1 = c = 0). Shape ``(P,)``."""
        return self.flux @ _rest_b_weights()

    @cached_property
    def envelope(self) -> np.ndarray:
        """Per phase, the brightest mean f_nu over rest-frame boxes (1500-11000 A) relative to
        the B-band maximum (x1 = c = 0): an upper envelope of the light curve in any band."""
        edges = (1500, 2500, 3500, 4500, 5500, 7000, 9000, 11000)
        out = np.zeros(self.phase.size)
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            m = (REST_WAVE >= max(lo, self.wmin)) & (REST_WAVE <= min(hi, self.wmax))
            if m.sum() < 10:
                continue
            # mean f_nu in the box: F_lambda lambda^2 / c averaged over wavelength
            w = REST_WAVE[m] ** 2 / 2.99792458e18 / m.sum()
            out = np.maximum(out, self.flux[:, m] @ w)
        return out / self.bcurve.max()

    @cached_property
    def start_fraction(self) -> float:
        """Rest B-band flux at the first phase relative to the maximum (x1 = c = 0)."""
        b = self.bcurve
        return float(b[0] / b.max()) if b.max() > 0 else 0.0

    @property
    def heldout(self) -> bool:
        return self.cls in NOVEL_CLASSES or self.id in HELDOUT.get(self.cls, ())

    @property
    def native_abs_mag(self) -> float:
        """Rest-frame B AB magnitude at maximum of the grid as stored, meaningful only for
        grids in physical units (F_lambda at 10 pc: physics models, Kasen+17)."""
        return float(-2.5 * np.log10(max(self.bcurve.max(), 1e-300)) - 48.6)


# --------------------------------------------------------------------------- directories


def find_template_dir(template_dir: str | os.PathLike | None = None) -> Path | None:
    """The template directory: the argument, else ``$MAVEN_TEMPLATE_DIR``, else ``None`` (the
    built-in fallback sources, logged once per process). Nothing else is searched (not the
    working directory, not the package location). One given that does not exist raises
    :class:`ConfigError`.
    """
    explicit = template_dir if template_dir is not None else os.environ.get("MAVEN_TEMPLATE_DIR")
    if explicit in (None, ""):
        _log_no_template_dir()
        return None
    p = Path(explicit).expanduser()
    if not p.is_dir():
        raise ConfigError(f"template_dir {str(p)!r} is not a directory")
    return p.resolve()


@cache
def _log_no_template_dir() -> None:
    logging.getLogger(__name__).warning(
        "maven.simulate: no template directory given (template_dir, --template-dir or "
        "$MAVEN_TEMPLATE_DIR): using the built-in fallback sources (sncosmo's Hsiao Ia, physics "
        "models, synthetic cadence)"
    )


def cache_dir() -> Path:
    """``$MAVEN_CACHE_DIR`` or ``~/.cache/maven/templates`` (created)."""
    root = os.environ.get("MAVEN_CACHE_DIR")
    p = Path(root) / "templates" if root else Path.home() / ".cache" / "maven" / "templates"
    p.mkdir(parents=True, exist_ok=True)
    return p


def cached_arrays(name: str, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays cached as ``cache_dir() / name`` (``.npz``, never pickle), else ``build()``,
    written there atomically (a temporary file renamed), so parallel workers never read half a
    file. An unreadable cache file is rebuilt."""
    cfile = cache_dir() / name
    if cfile.exists():
        try:
            with np.load(cfile, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError):
            pass
    data = build()
    tmp = cfile.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **data)
    os.replace(tmp, cfile)
    return data


# --------------------------------------------------------------------------- loaders


def _resample(phase: np.ndarray, wave: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, ...]:
    """Native grid -> :data:`REST_WAVE` (linear in wavelength, zero outside coverage)."""
    flux = np.nan_to_num(np.asarray(flux, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    wave = np.asarray(wave, dtype=np.float64)
    inside = (REST_WAVE >= wave[0]) & (REST_WAVE <= wave[-1])
    idx = np.clip(np.searchsorted(wave, REST_WAVE, side="right") - 1, 0, wave.size - 2)
    frac = (REST_WAVE - wave[idx]) / (wave[idx + 1] - wave[idx])
    out = flux[:, idx] * (1.0 - frac) + flux[:, idx + 1] * frac
    out[:, ~inside] = 0.0
    return (
        np.asarray(phase, np.float64),
        out,
        float(max(wave[0], REST_WAVE[0])),
        float(min(wave[-1], REST_WAVE[-1])),
    )


def _refine_phase(phase: np.ndarray, flux: np.ndarray, step: float = 1.0):
    """Coarse phase grids -> ``step``-day grid by monotone cubic (PCHIP) interpolation, so that
    linear interpolation later behaves like the cubic interpolation of sncosmo."""
    if phase.size < 3 or np.max(np.diff(phase)) <= step * 1.001:
        return phase, flux
    from scipy.interpolate import PchipInterpolator

    fine = np.union1d(np.arange(phase[0], phase[-1], step), phase)
    return fine, np.clip(PchipInterpolator(phase, flux, axis=0)(fine), 0.0, None)


def _read_ascii_grid(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """3-column ASCII (phase, wavelength, F_lambda) -> (phase, wave, flux[P, W])."""
    import pandas as pd

    df = pd.read_csv(path, sep=r"\s+", comment="#", header=None, usecols=[0, 1, 2])
    arr = df.to_numpy(dtype=np.float64)
    phase = np.unique(arr[:, 0])
    wave = np.unique(arr[:, 1])
    if phase.size * wave.size == arr.shape[0]:
        order = np.lexsort((arr[:, 1], arr[:, 0]))
        flux = arr[order, 2].reshape(phase.size, wave.size)
    else:  # ragged: place what exists, leave the rest zero
        flux = np.zeros((phase.size, wave.size))
        flux[np.searchsorted(phase, arr[:, 0]), np.searchsorted(wave, arr[:, 1])] = arr[:, 2]
    return phase, wave, np.clip(flux, 0.0, None)


def _read_fits_image(path: Path, peak_row: int = 14):
    """snpy-style FITS image (rows = days, columns = wavelength via CRVAL/CDELT) -> (phase,
    wave, flux). Phase = day - ``peak_row`` (the Nugent 91bg file: days 1..114, B peak ~ day
    14, i.e. -13..+100; the exact zero does not matter, the B peak is measured)."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        h, data = hdul[0].header, np.asarray(hdul[0].data, dtype=np.float64)
    wave = h["CRVAL1"] + h["CDELT1"] * (np.arange(data.shape[1]) + 1 - h["CRPIX1"])
    day = h["CRVAL2"] + h["CDELT2"] * (np.arange(data.shape[0]) + 1 - h["CRPIX2"])
    return day - peak_row, wave, np.clip(data, 0.0, None)


def _read_kasen17(path: Path):
    """Kasen+17 HDF5 (gzip'd): time [s], nu [Hz], Lnu [erg/s/Hz] -> (phase [d since merger],
    wave [A], F_lambda at 10 pc [erg/s/cm^2/A]). Rows at t <= 0 (all zero) are dropped.
    Needs ``h5py``."""
    import gzip
    import io

    import h5py

    with h5py.File(io.BytesIO(gzip.decompress(path.read_bytes())), "r") as f:
        t = np.asarray(f["time"][:], np.float64) / 86400.0
        nu = np.asarray(f["nu"][:], np.float64)
        lnu = np.asarray(f["Lnu"][:], np.float64)
    keep = t > 0
    order = np.argsort(nu)[::-1]  # increasing wavelength
    wave = 2.99792458e18 / nu[order]
    flam = lnu[keep][:, order] * 2.99792458e18 / wave[None, :] ** 2  # per Angstrom
    flam /= 4 * np.pi * 3.0857e19**2  # at 10 pc
    return t[keep], wave, np.clip(flam, 0.0, None)


def _salt_grids(tarball: Path, name: str) -> dict[str, np.ndarray]:
    """M0, M1 and the colour law of a SALT2/3 model on :data:`REST_WAVE` (via sncosmo)."""
    import sncosmo

    target = cache_dir() / name
    if not (target / ".complete").exists():  # extract to a private folder, then rename
        tmp = cache_dir() / f".{name}.{os.getpid()}.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as tf:
            for m in tf.getmembers():
                base = Path(m.name).name
                if not m.isfile() or base.startswith("._"):  # skip macOS AppleDouble entries
                    continue
                src = tf.extractfile(m)
                if src is not None:
                    (tmp / base).write_bytes(src.read())
        (tmp / ".complete").write_text("ok")
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first (or a stale folder): keep theirs
            import shutil

            if not (target / ".complete").exists():
                shutil.rmtree(target, ignore_errors=True)
                os.replace(tmp, target)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    cls = sncosmo.SALT3Source if name.startswith("salt3") else sncosmo.SALT2Source
    src = cls(modeldir=str(target), name=name)
    wave = REST_WAVE[(REST_WAVE >= src.minwave()) & (REST_WAVE <= src.maxwave())]
    phase = np.arange(np.ceil(src.minphase()), np.floor(src.maxphase()) + 0.5, 1.0)
    src.set(x0=1.0, x1=0.0, c=0.0)
    m0 = src.flux(phase, wave)
    src.set(x1=1.0)
    m1 = src.flux(phase, wave) - m0
    src.set(x1=0.0, c=1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = src.flux(phase, wave) / m0
    good = np.isfinite(ratio) & (m0 > 0)
    cl_ratio = np.array(
        [np.median(ratio[:, j][good[:, j]]) if good[:, j].any() else 1.0 for j in range(wave.size)]
    )
    cl = -2.5 * np.log10(np.clip(cl_ratio, 1e-30, None))
    _, M0, wmin, wmax = _resample(phase, wave, m0)
    _, M1, _, _ = _resample(phase, wave, m1)
    CL = np.interp(REST_WAVE, wave, cl)
    return {"phase": phase, "flux": M0, "m1": M1, "colorlaw": CL, "wmin": wmin, "wmax": wmax}


def _load_raw(info: TemplateInfo, root: Path) -> dict[str, np.ndarray]:
    path = root / info.relpath
    if not path.exists():
        raise MavenError(f"template {info.id}: {path} is missing")
    if info.family == "salt":
        return _salt_grids(path, info.id)
    if info.family == "bayesn":
        from maven.simulate.bayesn import load_bank_member

        return load_bank_member(info.id, path, root)
    if info.family == "hsiao":
        import sncosmo

        phase, wave, flux = sncosmo.read_griddata_fits(str(path))
    elif info.family == "nugent-fits":
        phase, wave, flux = _read_fits_image(path)
    elif info.family == "kasen17":
        phase, wave, flux = _read_kasen17(path)
    else:
        phase, wave, flux = _read_ascii_grid(path)
    phase, grid, wmin, wmax = _resample(phase, wave, flux)
    return {"phase": phase, "flux": grid, "wmin": wmin, "wmax": wmax}


def _cache_key(info: TemplateInfo, path: Path) -> str:
    st = path.stat()
    key = f"v2|{info.id}|{st.st_size}|{int(st.st_mtime)}"
    if info.family == "bayesn":  # also depends on the bank construction
        from maven.simulate.bayesn import CACHE_VERSION

        key += f"|{CACHE_VERSION}"
    h = hashlib.sha256(key.encode()).hexdigest()
    return h[:16]


@cache
def _rest_b_weights() -> np.ndarray:
    """Photon-counting weights of rest-frame Bessell B on :data:`REST_WAVE` (sum to 1 in f_nu)."""
    from maven.data.bands import get_band

    b = get_band("bessell::B")
    t = np.interp(REST_WAVE, b.wavelength, b.transmission, left=0.0, right=0.0)
    w = t * REST_WAVE * 10.0
    norm = np.sum(t * REST_WAVE * 10.0 * 2.99792458e18 / REST_WAVE**2)
    return w / norm  # F_lambda @ w = f_nu (erg/s/cm^2/Hz)


def peak_of_curve(phase: np.ndarray, bflux: np.ndarray) -> tuple[float, float]:
    """(phase, value) of the maximum of a sampled curve (parabolic refinement)."""
    k = int(np.argmax(bflux))
    if 0 < k < phase.size - 1:  # vertex of the parabola through the three points
        (x0, x1, x2), (y0, y1, y2) = phase[k - 1 : k + 2], bflux[k - 1 : k + 2]
        d = (x0 - x1) * (x0 - x2) * (x1 - x2)
        a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / d
        b = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2)) / d
        if a < 0:
            xp = float(np.clip(-b / (2 * a), x0, x2))
            c = y0 - a * x0**2 - b * x0
            return xp, float(a * xp**2 + b * xp + c)
    return float(phase[k]), float(bflux[k])


def peak_phase_of(phase: np.ndarray, sed: np.ndarray) -> tuple[float, float]:
    """(phase, f_nu) of the rest-frame B-band maximum of a grid."""
    return peak_of_curve(phase, sed @ _rest_b_weights())


def load_template(info: TemplateInfo, root: Path) -> TemplateGrid:
    """One catalogued template from the template directory (grid cached as ``.npz``)."""
    path = root / info.relpath
    key = _cache_key(info, path)
    data = cached_arrays(f"grid-{info.id}-{key}.npz", lambda: _load_raw(info, root))
    phase, flux = np.asarray(data["phase"], np.float64), np.asarray(data["flux"], np.float64)
    if info.family != "salt":
        phase, flux = _refine_phase(phase, flux)
    meta = {"abs_mag_native": True} if info.family == "kasen17" else {}
    if info.family == "bayesn":  # F_lambda at 10 pc incl. theta1 / eps; truth for the records
        meta = {
            "abs_mag_native": True,
            "bank": f"bayesn-{info.id.split('-')[1]}",
            "theta1": float(data["theta1"]),
            "sigma0": float(data["sigma0"]),
            "M0": float(data["m0"]),
            "native_sigma": float(data["sigma0"]),
        }
    grid = TemplateGrid(
        id=info.id,
        cls=info.cls,
        subtype=info.subtype,
        family=info.family,
        phase=phase,
        flux=flux,
        wmin=float(data["wmin"]),
        wmax=float(data["wmax"]),
        source=info.relpath,
        citation=info.citation,
        m1=data.get("m1"),
        colorlaw=data.get("colorlaw"),
        meta=meta,
    )
    grid.peak_phase = peak_phase_of(grid.phase, grid.flux)[0]
    return grid


#: Rest days after the B peak to which Ia templates are extended (:func:`extend_late_time`).
LATE_TIME_PHASE = 150.0


def extend_late_time(
    grid: TemplateGrid,
    until: float = LATE_TIME_PHASE,
    fit_days: float = 10.0,
    slope_range: tuple[float, float] = (0.005, 0.1),
) -> TemplateGrid:
    """``grid`` continued past its last phase to ``peak_phase + until`` by a linear decline in
    magnitude at every wavelength (the radioactive tail of a SN Ia, as SNANA extrapolates SALT
    past +50 d): the slope (mag/day) of the last ``fit_days``, on 100 A running means, clipped
    to ``slope_range``. SALT's M1 keeps its ratio to M0 at the last phase. A grid that already
    reaches ``until`` is returned unchanged."""
    t = grid.phase
    end = grid.peak_phase + until
    if t[-1] >= end:
        return grid
    k = int(np.searchsorted(t, t[-1] - fit_days))
    smooth = np.ones(10) / 10.0
    f1, f0 = (np.convolve(grid.flux[i], smooth, mode="same") for i in (-1, k))
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = -2.5 * np.log10(f1 / f0) / (t[-1] - t[k])
    slope = np.clip(np.nan_to_num(slope, nan=slope_range[1], posinf=slope_range[1]), *slope_range)
    new_t = t[-1] + np.arange(1.0, np.ceil(end - t[-1]) + 1.0)
    decay = 10.0 ** (-0.4 * slope[None, :] * (new_t - t[-1])[:, None])
    tail = grid.flux[-1] * decay
    m1 = grid.m1
    if m1 is not None:
        ratio = np.divide(m1[-1], grid.flux[-1], out=np.zeros_like(m1[-1]), where=grid.flux[-1] > 0)
        m1 = np.vstack([m1, tail * ratio])
    return replace(
        grid,
        phase=np.concatenate([t, new_t]),
        flux=np.vstack([grid.flux, tail]),
        m1=m1,
        meta={**grid.meta, "extended_from": float(t[-1] - grid.peak_phase)},
    )


def load_builtin_hsiao() -> TemplateGrid:
    """The subsampled Hsiao Ia model that ships inside the sncosmo wheel (no network)."""
    import sncosmo

    path = Path(sncosmo.__file__).parent / "data" / "models" / "Hsiao_SED_V3_subsampled.fits"
    if not path.exists():
        raise MavenError(f"sncosmo's bundled Hsiao model is missing ({path})")
    phase, wave, flux = sncosmo.read_griddata_fits(str(path))
    phase, grid, wmin, wmax = _resample(phase, wave, flux)
    phase, grid = _refine_phase(phase, grid)
    g = TemplateGrid(
        id="hsiao-subsampled",
        cls="Ia",
        subtype="Ia",
        family="hsiao",
        phase=phase,
        flux=grid,
        wmin=wmin,
        wmax=wmax,
        source="sncosmo wheel: data/models/Hsiao_SED_V3_subsampled.fits",
        citation=_CITE["hsiao"],
    )
    g.peak_phase = peak_phase_of(g.phase, g.flux)[0]
    return g


def template_weights(grids: list[TemplateGrid]) -> np.ndarray | None:
    """Draw probabilities of ``grids`` (one class): every template counts once, except the
    members of a bank (``meta["bank"]``, e.g. the BayeSN realisations), which share the weight
    of one template. ``None`` when that is uniform (no banks)."""
    cdf = _template_cdf(tuple(g.meta.get("bank") for g in grids))
    return None if cdf is None else np.diff(cdf, prepend=0.0)


@lru_cache(maxsize=64)
def _template_cdf(banks: tuple[str | None, ...]) -> np.ndarray | None:
    if not any(banks):
        return None
    size: dict[str, int] = {}
    for b in banks:
        if b:
            size[b] = size.get(b, 0) + 1
    cdf = np.cumsum([1.0 / size[b] if b else 1.0 for b in banks])
    return cdf / cdf[-1]


def pick_template(rng: np.random.Generator, grids: list[TemplateGrid]) -> int:
    """Index of the template drawn from ``grids`` with :func:`template_weights` (one uniform
    variate; without banks a uniform ``rng.integers``, the stream of earlier versions)."""
    cdf = _template_cdf(tuple(g.meta.get("bank") for g in grids))
    if cdf is None:
        return int(rng.integers(len(grids)))
    return int(min(np.searchsorted(cdf, rng.random(), side="right"), len(grids) - 1))


def available_templates(root: Path | None) -> list[TemplateInfo]:
    """Catalogue entries whose file exists under ``root``."""
    if root is None:
        return []
    return [t for t in CATALOG if (root / t.relpath).exists()]
