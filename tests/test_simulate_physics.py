"""Physical sanity of the simulator's models (fallback sources: no template dir needed)."""

from __future__ import annotations

import numpy as np
import pytest

from maven.data.bands import get_band
from maven.simulate import ObjectModel, ObjectParams, SimConfig, get_library, simulate
from maven.simulate.spectra import observe_spectrum
from maven.simulate.survey import photometric_noise

LIB = None


def lib():
    global LIB
    if LIB is None:
        LIB = get_library(None, ("Ia", "II", "Ibc", "IIn", "SLSN-I"), "include", False)
    return LIB


def model(tid="hsiao-subsampled", **kw) -> ObjectModel:
    p = dict(template=tid, z=0.05, t_peak=60000.0, peak_abs_mag=-19.26)
    p.update(kw)
    return ObjectModel(lib().get(tid), ObjectParams(**p))


def peak_mag(m: ObjectModel, band: str) -> float:
    t = m.params.t_peak + np.arange(-30, 60, 0.25) * m.one_plus_z
    f = m.bandflux([band] * t.size, t)
    return float(23.9 - 2.5 * np.log10(f.max()))


def fwhm_days(m: ObjectModel, band: str) -> float:
    t = m.params.t_peak + np.arange(-40, 120, 0.1) * m.one_plus_z
    f = m.bandflux([band] * t.size, t)
    above = t[f >= 0.5 * f.max()]
    return float(above[-1] - above[0])


def test_ia_at_z005_peaks_near_17p5_in_ztf_r():
    m = peak_mag(model(), "ztf::r")
    assert 17.2 < m < 17.9, m


def _rest_shape(m: ObjectModel, mjd: float) -> np.ndarray:
    w, f = m.spectrum(mjd)
    grid = np.linspace(3000, 7000, 200)
    s = np.interp(grid, w / m.one_plus_z, f)
    return s / s.mean()


def test_time_dilation():
    lo, hi = model(z=0.05), model(z=0.5)
    # the same rest-frame epoch (+10 d) is seen (1+z) later in observer days: same SED shape
    a = _rest_shape(lo, 60000.0 + 10 * 1.05)
    b = _rest_shape(hi, 60000.0 + 10 * 1.5)
    np.testing.assert_allclose(a, b, rtol=1e-6)
    c = _rest_shape(hi, 60000.0 + 10 * 1.05)  # without dilation the epoch would differ
    assert np.max(np.abs(c - a)) > 0.05
    # observer-frame light-curve width grows like (1+z) for the same rest band
    # (ztf::g at z = 0.05 vs lsst::r / lsst::i at z = 0.5 bracket the same rest wavelengths)
    w_lo = fwhm_days(lo, "ztf::g") / 1.05
    w_hi = sorted(fwhm_days(hi, b) / 1.5 for b in ("lsst::r", "lsst::i"))
    assert w_hi[0] - 0.5 <= w_lo <= w_hi[1] + 0.5
    # stretch widens the light curve the same way
    s = fwhm_days(model(stretch=1.2), "ztf::g") / fwhm_days(model(), "ztf::g")
    assert s == pytest.approx(1.2, rel=0.03)


def _si_minimum(wave, flux, z):
    rest = wave / (1 + z)
    m = (rest > 5900) & (rest < 6300)
    return wave[m][np.argmin(flux[m])]


@pytest.mark.parametrize("z", [0.1, 0.4])
def test_lines_move_with_redshift(z):
    rng = np.random.default_rng(0)
    lines = []
    for zz in (0.01, z):
        m = model(z=zz)
        w, f = m.spectrum(m.params.t_peak)
        s = observe_spectrum(
            w,
            f,
            rng=rng,
            resolution=500.0,
            wave_range=(3000.0, 10000.0),
            snr=50.0,
            mjd=m.params.t_peak,
            instrument="t",
            meta={},
            object_id="x",
            noiseless=True,
        )
        lines.append(_si_minimum(s.wavelength, s.flux, zz))
    assert lines[1] / lines[0] == pytest.approx((1 + z) / 1.01, rel=0.004)
    assert 6000 < lines[0] / 1.01 < 6250  # Si II 6355 blueshifted absorption


@pytest.mark.parametrize("tid", ["hsiao-subsampled", "physics-ibc-0", "magnetar-003"])
def test_dust_reddens(tid):
    def g_minus_r(**kw):
        return peak_mag(model(tid, **kw), "ztf::g") - peak_mag(model(tid, **kw), "ztf::r")

    base = g_minus_r()
    host = g_minus_r(host_av=1.0)
    mw = g_minus_r(mwebv=0.3)
    assert host - base == pytest.approx(0.35, abs=0.15)  # E(g-r) ~ 0.35 A_V for R_V = 3.1
    assert mw > base + 0.2
    assert peak_mag(model(tid, host_av=1.0), "ztf::r") > peak_mag(model(tid), "ztf::r") + 0.6


def test_fainter_means_larger_relative_errors():
    flux = np.array([1000.0, 100.0, 10.0])  # 16.4, 18.9, 21.4 mag
    err = photometric_noise(flux, np.full(3, 20.5), 28.0, 0.005)
    assert np.all(np.diff(err / flux) > 0)
    assert err[2] / flux[2] > 0.2  # fainter than the 5-sigma depth: SNR < 5
    # and in a simulated sample: relative error grows with magnitude
    sne = simulate(30, seed=4, config=SimConfig.preset("tiny"))
    f = np.concatenate([sn.lightcurve.flux for sn in sne])
    e = np.concatenate([sn.lightcurve.flux_err for sn in sne])
    det = np.concatenate([sn.lightcurve.detected for sn in sne])
    mag = 23.9 - 2.5 * np.log10(f[det])
    rel = e[det] / f[det]
    assert np.corrcoef(mag, np.log(rel))[0, 1] > 0.6
    q1, q3 = np.percentile(mag, [25, 75])
    assert np.median(rel[mag < q1]) < 0.7 * np.median(rel[mag > q3])


def test_noiseless_config_reproduces_model():
    cfg = SimConfig.preset("tiny", noiseless=True, classes=("Ia",))
    sn = simulate(1, seed=2, config=cfg)[0]
    meta = sn.meta
    params = ObjectParams(
        meta["template"],
        meta["z"],
        meta["t_peak"],
        meta["peak_abs_mag"],
        meta["stretch"],
        meta["x1"],
        meta["c"],
        meta["host_av"],
        meta["host_rv"],
        meta["mwebv"],
    )
    m = ObjectModel(lib().get(meta["template"]), params)
    lc = sn.lightcurve
    np.testing.assert_allclose(lc.flux, m.bandflux(lc.band, lc.time), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("tid", ["hsiao-subsampled", "physics-ii-1", "magnetar-003"])
@pytest.mark.parametrize("band", ["ztf::g", "ztf::r", "lsst::i"])
def test_fast_path_agrees_with_sncosmo(tid, band):
    from maven.simulate import to_sncosmo_model

    p = ObjectParams(tid, 0.1, 60000.0, -19.0, 1.1, None, None, 0.5, 2.8, 0.05)
    m = ObjectModel(lib().get(tid), p)
    sm = to_sncosmo_model(lib().get(tid), p)
    t = np.arange(59970.0, 60080.0, 0.5)
    fast = m.bandflux([band] * t.size, t)
    ref = sm.bandflux(get_band(band).to_sncosmo(), t, zp=23.9, zpsys="ab")
    sel = ref > 0.2 * ref.max()
    rel = np.abs(fast[sel] / ref[sel] - 1)
    # linear (fast) vs cubic (sncosmo) phase interpolation: <= 2% except at sharp kinks
    assert np.mean(rel < 0.02) > 0.97 and rel.max() < 0.05, rel.max()
    w = np.linspace(4000, 8000, 50)
    fs = m.spectrum(60005.0)
    np.testing.assert_allclose(np.interp(w, *fs), sm.flux(60005.0, w), rtol=0.03)


def test_ia_templates_continue_with_a_linear_magnitude_tail():
    from dataclasses import replace

    from maven.simulate.grid import LATE_TIME_PHASE, extend_late_time, load_builtin_hsiao

    raw = load_builtin_hsiao()
    raw = replace(raw, phase=raw.phase[raw.phase <= 50], flux=raw.flux[raw.phase <= 50])
    ext = extend_late_time(raw)
    assert ext.phase[-1] == pytest.approx(raw.peak_phase + LATE_TIME_PHASE, abs=1.0)
    assert np.array_equal(ext.flux[: raw.phase.size], raw.flux)  # the template is kept
    assert ext.meta["extended_from"] == pytest.approx(50 - raw.peak_phase)
    b = ext.bcurve
    tail = -2.5 * np.log10(b[raw.phase.size - 1 :])
    steps = np.diff(tail)  # mag per day in rest B after the join
    assert np.all(steps > 0.004) and np.all(steps < 0.1)
    assert steps[0] == pytest.approx(steps[-1], rel=0.5)  # close to linear in magnitude
    assert extend_late_time(ext) is ext  # already long enough
    # SALT-like: M1 keeps its ratio to M0 at the last phase
    salt = replace(raw, m1=0.1 * raw.flux, colorlaw=np.zeros(raw.flux.shape[1]))
    ext1 = extend_late_time(salt)
    last = raw.phase.size - 1
    assert np.allclose(ext1.m1[last:], 0.1 * ext1.flux[last:])
    # the simulator draws the extended grids
    lib = get_library(None, ("Ia",), "include", False)
    assert lib.by_class["Ia"][0].phase[-1] >= lib.by_class["Ia"][0].peak_phase + 149
