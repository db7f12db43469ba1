"""Spectral time-series templates: where they live, what they are, and how they are loaded.

All sources become a :class:`~maven.simulate.grid.TemplateGrid`: rest-frame F_lambda (arbitrary
normalisation) on a template phase grid (rest-frame days, phase of the rest-frame B-band peak =
``peak_phase``) and on one common rest wavelength grid :data:`~maven.simulate.grid.REST_WAVE`
(1000-12000 A, 10 A), zero outside the template's coverage ``[wmin, wmax]``. This module holds the
catalogue of template files and their readers; the grid itself is :mod:`maven.simulate.grid`.

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

import csv
import hashlib
import logging
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from maven.errors import ConfigError, MavenError
from maven.simulate.grid import (
    REST_WAVE,
    TemplateGrid,
    peak_phase_of,
    refine_phase,
    resample_grid,
)

__all__ = [
    "TemplateInfo",
    "CATALOG",
    "find_template_dir",
    "cache_dir",
    "cached_arrays",
    "load_template",
    "available_templates",
    "pick_template",
    "template_weights",
]


@dataclass(frozen=True)
class TemplateInfo:
    """Catalogue entry of one template file in the template directory."""

    id: str
    cls: str  # maven class (Ia, II, Ibc, IIn, SLSN-I; novel: KN, Ia-91bg)
    subtype: str  # e.g. "IIP", "Ic-BL"
    family: str  # hsiao, salt, bayesn, snana, pierel, sako, v19, nugent, nugent-fits, kasen17
    relpath: str  # path inside the template directory
    citation: str


#: the catalogue's file: one row per template (id, class, subtype, family, relpath, citation)
CATALOG_FILE = Path(__file__).parent / "data" / "templates.csv"


def _read_catalog(path: Path = CATALOG_FILE) -> tuple[TemplateInfo, ...]:
    """The catalogue rows of ``path`` in their order (the order templates are drawn in)."""
    with path.open(newline="") as f:
        return tuple(
            TemplateInfo(
                r["id"], r["class"], r["subtype"], r["family"], r["relpath"], r["citation"]
            )
            for r in csv.DictReader(f)
        )


#: Every template file maven knows how to read from a template directory, shipped as data
#: (``maven/simulate/data/templates.csv``; the BayeSN rows are the members of the M20 bank).
CATALOG: tuple[TemplateInfo, ...] = _read_catalog()


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
    _, M0, wmin, wmax = resample_grid(phase, wave, m0)
    _, M1, _, _ = resample_grid(phase, wave, m1)
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
    phase, grid, wmin, wmax = resample_grid(phase, wave, flux)
    return {"phase": phase, "flux": grid, "wmin": wmin, "wmax": wmax}


def _cache_key(info: TemplateInfo, path: Path) -> str:
    st = path.stat()
    key = f"v2|{info.id}|{st.st_size}|{int(st.st_mtime)}"
    if info.family == "bayesn":  # also depends on the bank construction
        from maven.simulate.bayesn import CACHE_VERSION

        key += f"|{CACHE_VERSION}"
    h = hashlib.sha256(key.encode()).hexdigest()
    return h[:16]


def load_template(info: TemplateInfo, root: Path) -> TemplateGrid:
    """One catalogued template from the template directory (grid cached as ``.npz``)."""
    path = root / info.relpath
    key = _cache_key(info, path)
    data = cached_arrays(f"grid-{info.id}-{key}.npz", lambda: _load_raw(info, root))
    phase, flux = np.asarray(data["phase"], np.float64), np.asarray(data["flux"], np.float64)
    if info.family != "salt":
        phase, flux = refine_phase(phase, flux)
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
