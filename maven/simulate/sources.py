"""One simulated object's noiseless model: template + redshift + dust + brightness.

:class:`ObjectModel` is the fast path (numpy, one matrix product per object):

* band flux (uJy) = scale * sum_lambda F_rest(phase, lambda) 10^{-0.4 (A_host(lambda) +
  A_MW(lambda (1+z)))} T(lambda (1+z)) lambda (1+z) dlambda (1+z) / int c/lambda^2 T lambda
  dlambda, on the template's 10 A rest grid, then linear interpolation in phase;
* F_lambda observed = F_10pc(rest) (10 pc / D_L)^2 / (1+z) (erg/s/cm^2/A);
* time: observer days = peak + (template phase - peak phase) * stretch * (1+z).

:func:`to_sncosmo_model` builds the equivalent ``sncosmo.Model`` (``TimeSeriesSource`` with
``F99Dust`` host and MW effects) for cross-checks; both use the Fitzpatrick (1999) law of the
``extinction`` package.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache

import extinction
import numpy as np

from maven.simulate.grid import REST_WAVE, TemplateGrid, peak_of_curve, rest_b_weights
from maven.simulate.population import lumdist_cm

__all__ = ["ObjectParams", "ObjectModel", "BandInfo", "band_info", "to_sncosmo_model"]

_C_AA = 2.99792458e18
_PC10_CM = 3.0857e19
_DLAM = float(REST_WAVE[1] - REST_WAVE[0])


@dataclass
class ObjectParams:
    """The physical truth of one object (all rest-frame quantities before dust)."""

    template: str
    z: float
    t_peak: float  # MJD of the rest-frame B-band maximum
    peak_abs_mag: float  # rest-frame B (AB) at maximum, before host dust
    stretch: float = 1.0
    x1: float | None = None
    c: float | None = None
    host_av: float = 0.0
    host_rv: float = 3.1
    mwebv: float = 0.0
    theta1: float | None = None  # BayeSN shape parameter (bayesn-* templates)

    def to_dict(self) -> dict:
        """The parameters as a plain dict."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class BandInfo:
    """A band prepared for fast integration."""

    name: str
    wave: np.ndarray
    trans: np.ndarray
    norm: float  # int c/lambda^2 T lambda dlambda (per Hz)
    lo: float  # support (T > 1% of max), Angstrom
    hi: float


@cache
def band_info(name: str) -> BandInfo:
    """The band ``name`` of :mod:`maven.data.bands` prepared for :class:`ObjectModel`."""
    from maven.data.bands import get_band

    b = get_band(name)
    w, t = np.asarray(b.wavelength, float), np.asarray(b.transmission, float)
    norm = float(np.trapezoid(_C_AA / w**2 * t * w, w))
    sup = w[t > 0.01 * t.max()]
    return BandInfo(name, w, t, norm, float(sup[0]), float(sup[-1]))


_B_COLS = None


def _b_cols() -> tuple[slice, np.ndarray]:
    """Columns of :data:`REST_WAVE` where the rest B weights are non-zero, and the weights."""
    global _B_COLS
    if _B_COLS is None:
        w = rest_b_weights()
        nz = np.flatnonzero(w)
        sl = slice(int(nz[0]), int(nz[-1]) + 1)
        _B_COLS = (sl, w[sl])
    return _B_COLS


class ObjectModel:
    """Noiseless observer-frame model of one object (see module docstring).

    Only the phase rows and wavelength columns a request needs are evaluated (SALT x1/c and
    dust included), so one object costs one small matrix product.
    """

    def __init__(self, template: TemplateGrid, params: ObjectParams) -> None:
        self.template, self.params = template, params
        p = params
        self._x1 = p.x1 if (p.x1 is not None and template.m1 is not None) else 0.0
        self._c = p.c if (p.c is not None and template.m1 is not None) else 0.0
        if template.m1 is None:
            bcurve = template.bcurve
            peak_phase = template.peak_phase
            fb = float(np.interp(peak_phase, template.phase, bcurve))
        else:
            cols, wb = _b_cols()
            peak_phase, fb = peak_of_curve(template.phase, self._sed(slice(None), cols) @ wb)
        self.peak_phase = peak_phase
        m_template = -2.5 * np.log10(fb) - 48.6  # AB mag of the grid at 10 pc
        amp = 10.0 ** (-0.4 * (p.peak_abs_mag - m_template))
        self.one_plus_z = 1.0 + p.z
        self.scale = amp * (_PC10_CM / float(lumdist_cm(p.z))) ** 2 / self.one_plus_z
        self.wave_obs = REST_WAVE * self.one_plus_z
        self.time_scale = p.stretch * self.one_plus_z

    def _sed(self, rows: slice, cols: slice) -> np.ndarray:
        t = self.template
        if t.m1 is None:
            return t.flux[rows, cols]
        f = t.flux[rows, cols] + self._x1 * t.m1[rows, cols]
        if self._c != 0.0:
            f = f * 10.0 ** (-0.4 * self._c * t.colorlaw[cols])
        return np.clip(f, 0.0, None)

    @property
    def sed(self) -> np.ndarray:
        """The full rest-frame grid ``(P, W)`` with x1/c applied (no dust, no scale)."""
        return self._sed(slice(None), slice(None))

    def dust(self, cols: slice = slice(None)) -> np.ndarray:
        """Host (rest) and Milky Way (observer) transmission on ``REST_WAVE[cols]``."""
        p = self.params
        a = np.zeros(REST_WAVE[cols].size)
        if p.host_av > 0:
            a += extinction.fitzpatrick99(REST_WAVE[cols], p.host_av, p.host_rv)
        if p.mwebv > 0:
            a += extinction.fitzpatrick99(self.wave_obs[cols], 3.1 * p.mwebv, 3.1)
        return 10.0 ** (-0.4 * a)

    # ------------------------------------------------------------------ time <-> phase
    def template_phase(self, mjd) -> np.ndarray:
        """Template phase of the observer-frame ``mjd`` (stretch and time dilation applied)."""
        return self.peak_phase + (np.asarray(mjd, float) - self.params.t_peak) / self.time_scale

    def mjd_of(self, template_phase) -> np.ndarray:
        """Observer-frame MJD of ``template_phase`` (inverse of :meth:`template_phase`)."""
        return self.params.t_peak + (np.asarray(template_phase) - self.peak_phase) * self.time_scale

    def covers(self, band: BandInfo) -> bool:
        """True when the band lies inside the template's rest coverage at this redshift."""
        t = self.template
        return band.lo >= t.wmin * self.one_plus_z and band.hi <= t.wmax * self.one_plus_z

    # ------------------------------------------------------------------ photometry
    def band_curves(self, bands: list[BandInfo], rows: slice = slice(None)) -> np.ndarray:
        """Band fluxes (uJy) at the template phases ``rows``. Shape ``(P, len(bands))``."""
        zp1 = self.one_plus_z
        lo = int(np.searchsorted(REST_WAVE, min(b.lo for b in bands) / zp1 - 20.0))
        hi = int(np.searchsorted(REST_WAVE, max(b.hi for b in bands) / zp1 + 20.0)) + 1
        cols = slice(lo, hi)
        wo = self.wave_obs[cols]
        base = self.dust(cols) * wo * (_DLAM * zp1) * self.scale * 1e29
        wmat = np.empty((wo.size, len(bands)))
        for j, b in enumerate(bands):
            wmat[:, j] = np.interp(wo, b.wave, b.trans, left=0.0, right=0.0) * base / b.norm
        return self._sed(rows, cols) @ wmat

    def bandflux(self, band_names, mjd) -> np.ndarray:
        """Noiseless flux (uJy) of each (band, time) pair; zero outside the template's phases."""
        band_names = np.asarray(band_names)
        mjd = np.asarray(mjd, float)
        out = np.zeros(mjd.size)
        if mjd.size == 0:
            return out
        names = list(dict.fromkeys(band_names.tolist()))
        tp = self.template.phase
        phase = self.template_phase(mjd)
        r0 = max(int(np.searchsorted(tp, phase.min())) - 1, 0)
        r1 = min(int(np.searchsorted(tp, phase.max())) + 1, tp.size)
        if r1 - r0 < 2:
            r0, r1 = max(min(r0, tp.size - 2), 0), max(min(r0, tp.size - 2), 0) + 2
        curves = self.band_curves([band_info(n) for n in names], slice(r0, r1))
        for j, n in enumerate(names):
            m = band_names == n
            out[m] = np.interp(phase[m], tp[r0:r1], curves[:, j], left=0.0, right=0.0)
        out[(phase < tp[0]) | (phase > tp[-1])] = 0.0
        return out

    # ------------------------------------------------------------------ spectra
    def spectrum(self, mjd: float, wave_range: tuple[float, float] | None = None):
        """(observer wavelength A, F_lambda erg/s/cm^2/A) at ``mjd`` inside the template
        coverage (and ``wave_range``, observer frame, when given)."""
        ph = float(self.template_phase(mjd))
        tp = self.template.phase
        k = int(np.clip(np.searchsorted(tp, ph) - 1, 0, tp.size - 2))
        f = float(np.clip((ph - tp[k]) / (tp[k + 1] - tp[k]), 0.0, 1.0))
        t = self.template
        lo_w, hi_w = t.wmin, t.wmax
        if wave_range is not None:
            lo_w = max(lo_w, wave_range[0] / self.one_plus_z - 20.0)
            hi_w = min(hi_w, wave_range[1] / self.one_plus_z + 20.0)
        lo = int(np.searchsorted(REST_WAVE, lo_w, "left"))
        hi = int(np.searchsorted(REST_WAVE, hi_w, "right"))
        cols = slice(lo, max(hi, lo + 2))
        rows = self._sed(slice(k, k + 2), cols)
        flux = (rows[0] * (1 - f) + rows[1] * f) * self.dust(cols) * self.scale
        return self.wave_obs[cols], flux


def to_sncosmo_model(template: TemplateGrid, params: ObjectParams):
    """The same object as an ``sncosmo.Model`` (TimeSeriesSource + F99 host/MW dust)."""
    import sncosmo

    om = ObjectModel(template, params)
    phase = (template.phase - om.peak_phase) * params.stretch
    source = sncosmo.TimeSeriesSource(
        phase, REST_WAVE, om.sed * om.scale * om.one_plus_z, zero_before=True
    )
    model = sncosmo.Model(
        source=source,
        effects=[sncosmo.F99Dust(r_v=params.host_rv), sncosmo.F99Dust(r_v=3.1)],
        effect_names=["host", "mw"],
        effect_frames=["rest", "obs"],
    )
    model.set(
        z=params.z,
        t0=params.t_peak,
        amplitude=1.0,
        hostebv=params.host_av / params.host_rv,
        mwebv=params.mwebv,
    )
    return model
