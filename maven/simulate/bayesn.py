"""BayeSN SN Ia SED realisations as template grids.

BayeSN (Mandel et al. 2022, MNRAS 510 3939; Thorp et al. 2021, MNRAS 508 4310; Ward et al.
2023, ApJ 956 111) writes the intrinsic SED of one SN Ia as

    S(t, lambda) = H(t, lambda) 10^(-0.4 [M0 + W0(t, lambda) + theta1 W1(t, lambda)
                                          + eps(t, lambda)])

with H the Hsiao et al. 2007 template (``sed/hsiao/Hsiao_SED_V3.fits``, whose raw flux is
normalised to B ~ 0 mag at peak, as in ``bayesn``), M0 the reference magnitude of the model
file, and W0, W1, eps given at (wavelength knots x phase knots) and interpolated by natural
cubic splines along both axes (the ``invKD`` / ``spline_coeffs_irr`` matrices of the ``bayesn``
package are the natural cubic spline basis; :func:`spline_basis` builds the same basis with
``scipy.interpolate.CubicSpline(..., bc_type="natural")`` applied to the identity). Per object:
theta1 ~ N(0, 1) (larger theta1 = narrower, faster-declining and fainter light curve: theta1
plays the role of a negative stretch), eps ~ N(0, L L^T) on the interior wavelength knots
(zero at the first and last knot; the vector is unpacked wavelength-fastest, Fortran order, as
``bayesn`` does), a grey offset delta_M ~ N(0, SIGMA0) and host dust A_V, R_V. Only the intrinsic
part (theta1, eps) is in the grids made here; delta_M and the host dust are drawn per object by
the simulator (:func:`maven.simulate.simulator._draw_params`; host dust as for every Ia there,
not the model's own RV / TAUA, so it is never applied twice).

The model files are the ``BAYESN.YAML`` of ``sed/bayesn/{M20,T21,W22}_model`` (keys ``M0``,
``SIGMA0``, ``RV``, ``TAUA``, ``L_KNOTS``, ``TAU_KNOTS``, ``W0``, ``W1``, ``L_SIGMA_EPSILON``).

Per-object draws in a fixed-template simulator: a **bank** of :data:`BANK_SIZE` pre-drawn
realisations per model with fixed seeds (``bayesn-M20-000`` ... ``bayesn-M20-031``), each a
plain :class:`~maven.simulate.grid.TemplateGrid` (precomputed, cached as ``.npz``), so the
per-object cost is that of any other template. theta1 is drawn stratified (the mid-quantiles
``(k + 0.5) / n`` of N(0, 1), in a fixed random order) so that a small bank covers the
population evenly; eps is a full random draw per realisation. The bank shares the draw weight of
one template (``meta["bank"]``; :func:`maven.simulate.templates.pick_template`).

Grid (conventions of :mod:`maven.simulate.templates`): rest F_lambda at 10 pc on
:data:`~maven.simulate.grid.REST_WAVE`, zero outside the model's wavelength knots
(M20, W22: 3000-18500 A, cut at 12000 A by the common grid; T21: 3500-9500 A; as the M20 notes
say, the model is untrained below ~3500 A, U band: its W there are used as they are), phases of the
Hsiao template (-20 ... +85 d, daily). BayeSN is defined on -10 ... +40 d (its phase knots);
outside that range W0, W1 and eps are held at their values at the nearest knot, i.e. the SED
follows the Hsiao template's time evolution with the edge's colour and brightness correction
(continuous at the knots, no jump; nothing outside is BayeSN-trained). The rest-frame B-band
maximum of each realisation is measured (``peak_phase``), as for every template.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

__all__ = [
    "BANK_SIZE",
    "BANK_SEED",
    "MODELS",
    "BayesnModel",
    "bank_ids",
    "draw_realisation",
    "magnitude_grid",
    "read_model",
    "realisation_grid",
    "spline_basis",
]

#: Model directories of ``sed/bayesn`` (``<name>_model/BAYESN.YAML``).
MODELS: tuple[str, ...] = ("M20", "T21", "W22")
#: Realisations per model in the template bank.
BANK_SIZE = 32
#: Seed of the bank (theta1 order and eps draws); changing it changes every realisation.
BANK_SEED = 20220210
#: Part of the grid cache key: bump when the construction below changes.
CACHE_VERSION = "bayesn-1"


@dataclass(frozen=True, eq=False)
class BayesnModel:
    """One BayeSN model file.

    Attributes:
        name: ``M20``, ``T21`` or ``W22``.
        l_knots: wavelength knots (Angstrom), shape ``(L,)``.
        tau_knots: phase knots (rest days from B maximum), shape ``(T,)``.
        W0, W1: shape ``(L, T)``.
        L_sigma: Cholesky factor of the eps covariance, shape ``((L - 2) T, (L - 2) T)``.
        M0, sigma0, rv, tau_a: reference magnitude, grey scatter, host R_V and mean A_V.
        theta1_range: range of theta1 in the training set (``THETA1_RANGE``), if given.
    """

    name: str
    l_knots: np.ndarray
    tau_knots: np.ndarray
    W0: np.ndarray
    W1: np.ndarray
    L_sigma: np.ndarray
    M0: float
    sigma0: float
    rv: float
    tau_a: float
    theta1_range: tuple[float, float] | None = None
    source: str = ""


def read_model(path: str | Path, name: str = "") -> BayesnModel:
    """Parse a ``BAYESN.YAML`` model file (shapes checked)."""
    import yaml

    from maven.errors import FormatError

    path = Path(path)
    with open(path) as f:
        d = yaml.safe_load(f)
    try:
        lk = np.asarray(d["L_KNOTS"], np.float64)
        tk = np.asarray(d["TAU_KNOTS"], np.float64)
        w0 = np.asarray(d["W0"], np.float64)
        w1 = np.asarray(d["W1"], np.float64)
        ls = np.asarray(d["L_SIGMA_EPSILON"], np.float64)
        m = BayesnModel(
            name=name or path.parent.name.removesuffix("_model"),
            l_knots=lk,
            tau_knots=tk,
            W0=w0,
            W1=w1,
            L_sigma=ls,
            M0=float(d["M0"]),
            sigma0=float(d["SIGMA0"]),
            rv=float(d.get("RV", np.nan)),
            tau_a=float(d.get("TAUA", np.nan)),
            source=str(path),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise FormatError(f"BayeSN model {path}: cannot read ({e})") from e
    n_eps = (lk.size - 2) * tk.size
    if w0.shape != (lk.size, tk.size) or w1.shape != w0.shape or ls.shape != (n_eps, n_eps):
        raise FormatError(
            f"BayeSN model {path}: W0 {w0.shape}, W1 {w1.shape}, L_SIGMA_EPSILON {ls.shape} "
            f"do not match {lk.size} wavelength x {tk.size} phase knots"
        )
    rng = _theta1_range(path)
    if rng is not None:
        m = BayesnModel(**{**m.__dict__, "theta1_range": rng})
    return m


def _theta1_range(path: Path) -> tuple[float, float] | None:
    """``THETA1_RANGE`` of the ``BAYESN.INFO`` next to the model file, if any."""
    info = path.parent / "BAYESN.INFO"
    if not info.exists():
        return None
    for line in info.read_text().splitlines():
        if line.strip().startswith("THETA1_RANGE:"):
            try:
                lo, hi = (float(v) for v in line.split(":", 1)[1].split()[:2])
            except ValueError:
                return None
            return lo, hi
    return None


def spline_basis(knots: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Natural cubic spline basis ``J`` (``(len(x), len(knots))``): ``J @ y`` interpolates the
    knot values ``y``. ``x`` outside the knots is clamped to the nearest knot (constant
    continuation)."""
    from scipy.interpolate import CubicSpline

    knots = np.asarray(knots, np.float64)
    xc = np.clip(np.asarray(x, np.float64), knots[0], knots[-1])
    return CubicSpline(knots, np.eye(knots.size), bc_type="natural", axis=0)(xc)


def draw_realisation(model: BayesnModel, index: int, n: int = BANK_SIZE, seed: int = BANK_SEED):
    """(theta1, eps ``(L, T)``) of realisation ``index`` of a bank of ``n``.

    theta1 is the ``(k + 0.5) / n`` quantile of N(0, 1), ``k`` the index's place in a fixed
    random permutation of ``range(n)``; eps = ``L_sigma @ z``, z ~ N(0, I) from
    ``default_rng([seed, index])``, unpacked wavelength-fastest on the interior wavelength knots.
    """
    from scipy.stats import norm

    if not 0 <= index < n:
        raise ValueError(f"index {index} outside a bank of {n}")
    perm = np.random.default_rng([seed, n]).permutation(n)
    theta1 = float(norm.ppf((perm[index] + 0.5) / n))
    nl, nt = model.l_knots.size, model.tau_knots.size
    z = np.random.default_rng([seed, n, index]).standard_normal((nl - 2) * nt)
    eps = np.zeros((nl, nt))
    eps[1:-1, :] = (model.L_sigma @ z).reshape((nl - 2, nt), order="F")
    return theta1, eps


def magnitude_grid(
    model: BayesnModel,
    phase: np.ndarray,
    wave: np.ndarray,
    theta1: float = 0.0,
    eps: np.ndarray | None = None,
) -> np.ndarray:
    """W0 + theta1 W1 + eps on ``phase x wave`` (mag), shape ``(P, W)``."""
    w = model.W0 + theta1 * model.W1
    if eps is not None:
        w = w + eps
    jl = spline_basis(model.l_knots, wave)  # (W, L)
    jt = spline_basis(model.tau_knots, phase)  # (P, T)
    return jt @ w.T @ jl.T


@cache
def _hsiao(root: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The Hsiao V3 template (phase, F_lambda on REST_WAVE), from ``root/sed/hsiao`` when there,
    else sncosmo's bundled (subsampled) copy."""
    from maven.simulate.grid import load_builtin_hsiao, resample_grid

    path = Path(root) / "sed" / "hsiao" / "Hsiao_SED_V3.fits" if root else None
    if path is not None and path.exists():
        import sncosmo

        phase, wave, flux = sncosmo.read_griddata_fits(str(path))
        phase, grid, _, _ = resample_grid(phase, wave, flux)
        return phase, grid
    g = load_builtin_hsiao()
    return g.phase, g.flux


def realisation_grid(
    model: BayesnModel,
    theta1: float = 0.0,
    eps: np.ndarray | None = None,
    root: str | Path | None = None,
) -> dict[str, np.ndarray]:
    """One BayeSN SED on the template conventions: ``phase``, ``flux`` (F_lambda at 10 pc,
    ``(P, W)`` on REST_WAVE, zero outside the model's wavelength knots), ``wmin``, ``wmax``, and
    the truth ``theta1``, ``m0``, ``sigma0`` (for the ``.npz`` cache)."""
    from maven.simulate.grid import REST_WAVE

    phase, hflux = _hsiao(str(root) if root is not None else None)
    inside = (REST_WAVE >= model.l_knots[0]) & (REST_WAVE <= model.l_knots[-1])
    mag = magnitude_grid(model, phase, REST_WAVE[inside], theta1, eps)
    flux = np.zeros_like(hflux)
    flux[:, inside] = hflux[:, inside] * 10.0 ** (-0.4 * (model.M0 + mag))
    return {
        "phase": np.asarray(phase, np.float64),
        "flux": np.clip(flux, 0.0, None),
        "wmin": float(REST_WAVE[inside][0]),
        "wmax": float(REST_WAVE[inside][-1]),
        "theta1": float(theta1),
        "m0": float(model.M0),
        "sigma0": float(model.sigma0),
    }


def bank_ids(model: str = "M20", n: int = BANK_SIZE) -> tuple[str, ...]:
    """Template ids of a model's bank: ``bayesn-<model>-000`` ..."""
    return tuple(f"bayesn-{model}-{i:03d}" for i in range(n))


@cache
def _model_cached(path: str) -> BayesnModel:
    return read_model(path)


def load_bank_member(template_id: str, yaml_path: Path, root: Path) -> dict[str, np.ndarray]:
    """The grid of bank member ``bayesn-<model>-<index>`` (see :func:`realisation_grid`)."""
    index = int(template_id.rsplit("-", 1)[1])
    model = _model_cached(str(yaml_path))
    theta1, eps = draw_realisation(model, index)
    return realisation_grid(model, theta1, eps, root)
