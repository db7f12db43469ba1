"""The template grid: a rest-frame spectral time series on one wavelength grid, and the
operations on it that every source shares (resampling, phase refinement, the rest-frame B-band
peak, the late-time Ia tail, the Hsiao model bundled with sncosmo).

:mod:`maven.simulate.templates` (the catalogue and the readers), :mod:`maven.simulate.bayesn`
and the physics sources build on it; it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from pathlib import Path

import numpy as np

from maven.errors import MavenError

__all__ = [
    "HELDOUT",
    "HSIAO_CITATION",
    "LATE_TIME_PHASE",
    "NOVEL_CLASSES",
    "REST_WAVE",
    "TemplateGrid",
    "extend_late_time",
    "load_builtin_hsiao",
    "peak_of_curve",
    "peak_phase_of",
    "refine_phase",
    "resample_grid",
    "rest_b_weights",
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


#: Classes never simulated unless requested (held out for novelty evaluation). Every template of a
#: novel class counts as held out; ``heldout`` does not filter them.
NOVEL_CLASSES: tuple[str, ...] = ("TDE", "KN", "Ia-91bg")

#: Citation of the Hsiao Ia template (also the bundled sncosmo copy).
HSIAO_CITATION = "Hsiao et al. 2007 ApJ 663 1187"


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
        return self.flux @ rest_b_weights()

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
        """True for a template held out of training: a novel class (:data:`NOVEL_CLASSES`) or
        an id listed in :data:`HELDOUT`."""
        return self.cls in NOVEL_CLASSES or self.id in HELDOUT.get(self.cls, ())

    @property
    def native_abs_mag(self) -> float:
        """Rest-frame B AB magnitude at maximum of the grid as stored, meaningful only for
        grids in physical units (F_lambda at 10 pc: physics models, Kasen+17)."""
        return float(-2.5 * np.log10(max(self.bcurve.max(), 1e-300)) - 48.6)


def resample_grid(phase: np.ndarray, wave: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, ...]:
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


def refine_phase(phase: np.ndarray, flux: np.ndarray, step: float = 1.0):
    """Coarse phase grids -> ``step``-day grid by monotone cubic (PCHIP) interpolation, so that
    linear interpolation later behaves like the cubic interpolation of sncosmo."""
    if phase.size < 3 or np.max(np.diff(phase)) <= step * 1.001:
        return phase, flux
    from scipy.interpolate import PchipInterpolator

    fine = np.union1d(np.arange(phase[0], phase[-1], step), phase)
    return fine, np.clip(PchipInterpolator(phase, flux, axis=0)(fine), 0.0, None)


@cache
def rest_b_weights() -> np.ndarray:
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
    return peak_of_curve(phase, sed @ rest_b_weights())


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
    phase, grid, wmin, wmax = resample_grid(phase, wave, flux)
    phase, grid = refine_phase(phase, grid)
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
        citation=HSIAO_CITATION,
    )
    g.peak_phase = peak_phase_of(g.phase, g.flux)[0]
    return g
