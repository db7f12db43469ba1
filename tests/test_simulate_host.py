"""Host-galaxy light and chip gaps in simulated spectra (issue 4)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from maven.errors import ConfigError
from maven.simulate import SimConfig, provenance, simulate
from maven.simulate.grid import REST_WAVE
from maven.simulate.host import (
    HOST_WINDOW,
    add_host,
    draw_host,
    get_host_library,
    physics_hosts,
)
from maven.simulate.spectra import INSTRUMENTS, observe_spectrum
from maven.simulate.templates import cache_dir

from .paths import REPO, TEMPLATES

HAVE_SUPERFIT = (TEMPLATES / "spectra" / "superfit_templates.tar.gz").exists()
needs_templates = pytest.mark.skipif(
    not HAVE_SUPERFIT,
    reason=f"Superfit galaxy templates not found under {TEMPLATES} (set MAVEN_TEMPLATE_DIR); "
    "a user's clone has no ../shared",
)
TINY = SimConfig.preset("tiny")


def _mean(w, f, lo, hi):
    m = (w >= lo) & (w <= hi)
    return float(f[m].mean())


def _observe(wave, flux, **kw):
    args = dict(
        rng=np.random.default_rng(0),
        resolution=1000.0,
        wave_range=(3500.0, 9500.0),
        snr=30.0,
        mjd=60000.0,
        instrument="t",
        meta={},
        object_id="x",
        noiseless=True,
    )
    args.update(kw)
    return observe_spectrum(wave, flux, **args)


@needs_templates
def test_superfit_host_templates_load():
    lib = get_host_library(str(TEMPLATES))
    assert set(lib.ids) == {"E", "S0", "Sa", "Sb", "Sc", *(f"SB{k}" for k in range(1, 7))}
    assert "superfit" in lib.source.lower() and "Kinney" in lib.citation
    assert lib.flux.shape == (len(lib.ids), REST_WAVE.size)
    assert np.isfinite(lib.flux).all() and (lib.flux >= 0).all()
    assert _mean(REST_WAVE, lib.get("E"), 5500, 6000) == pytest.approx(1.0)
    e, sb = lib.get("E"), lib.get("SB2")
    assert _mean(REST_WAVE, e, 4050, 4250) / _mean(REST_WAVE, e, 3750, 3950) > 1.6  # D4000
    assert _mean(REST_WAVE, sb, 6555, 6575) > 3 * _mean(REST_WAVE, sb, 6480, 6530)  # H-alpha
    cached = list(cache_dir().glob("host-galaxies-*.npz"))
    assert cached and REPO not in cached[0].parents
    prov = provenance(SimConfig(cadence="synthetic", template_dir=str(TEMPLATES)), 0)
    assert "superfit_templates.tar.gz" in prov["host_galaxies"]["source"]


def test_physics_fallback_without_templates():
    lib = get_host_library(None)
    assert lib.ids == ("phys-E", "phys-Sb", "phys-SB") and "fallback" in lib.source
    e, sb = lib.get("phys-E"), lib.get("phys-SB")
    assert _mean(REST_WAVE, e, 4050, 4250) / _mean(REST_WAVE, e, 3750, 3950) > 1.6
    assert _mean(REST_WAVE, sb, 6555, 6575) > 3 * _mean(REST_WAVE, sb, 6480, 6530)
    assert _mean(REST_WAVE, sb, 3000, 4000) > _mean(REST_WAVE, e, 3000, 4000)  # bluer
    cfg = SimConfig.preset("tiny", host_light=1.0)
    assert "fallback" in provenance(cfg, 0)["host_galaxies"]["source"]
    sne = simulate(10, seed=1, config=cfg)
    used = {s.meta["host_template"] for sn in sne for s in sn.spectra}
    assert used and used <= set(lib.ids)


def _absorption_minimum(w, f, centre, half=60.0):
    """(observer wavelength, depth) of the deepest point relative to a straight continuum."""
    m = (w >= centre - half) & (w <= centre + half)
    ww, ff = w[m], f[m]
    cont = np.interp(ww, [ww[0], ww[-1]], [ff[:3].mean(), ff[-3:].mean()])
    k = int(np.argmin(ff / cont))
    return float(ww[k]), float(1 - ff[k] / cont[k])


@pytest.mark.parametrize("source", ["superfit", "physics"])
@pytest.mark.parametrize("z", [0.05, 0.2])
def test_elliptical_host_features_at_redshifted_wavelengths(source, z):
    if source == "superfit" and not HAVE_SUPERFIT:
        pytest.skip(f"Superfit galaxy templates not found under {TEMPLATES}")
    lib = get_host_library(str(TEMPLATES)) if source == "superfit" else physics_hosts()
    gal = lib.flux[0]  # E / phys-E
    wave = REST_WAVE * (1 + z)
    sn = np.ones(REST_WAVE.size)  # a featureless SN: every feature is the host's
    host = np.interp(wave / (1 + z), REST_WAVE, gal)
    s = _observe(wave, sn, host_flux=host, host_fraction=5.0)
    w, f = s.wavelength, s.flux
    zp1 = 1 + z
    d4000 = _mean(w, f, 4050 * zp1, 4250 * zp1) / _mean(w, f, 3750 * zp1, 3950 * zp1)
    assert d4000 > 1.3  # the 4000 A break, seen at 4000 (1+z)
    # (rest line, tolerance in rest A): Ca H&K (H at 3968.5, K at 3933.7), Mg b, Na D
    for line, tol in ((3951.0, 25.0), (5175.0, 8.0), (5893.0, 6.0)):
        where, depth = _absorption_minimum(w, f, line * zp1)
        assert abs(where / zp1 - line) < tol and depth > 0.05, (line, where, depth)


def test_add_host_scales_to_the_fraction():
    wave = np.linspace(3000, 10000, 800)
    sn = 2.0 + np.sin(wave / 500.0)
    host = np.linspace(1, 3, wave.size)
    out = add_host(wave, sn, host, 0.3)
    got = _mean(wave, out - sn, *HOST_WINDOW) / _mean(wave, sn, *HOST_WINDOW)
    assert got == pytest.approx(0.3, rel=1e-9)
    zero = np.zeros_like(sn)
    np.testing.assert_array_equal(add_host(wave, zero, host, 0.3), zero)  # no SN flux: unchanged


def test_measured_host_fraction_matches_truth():
    base = dict(noiseless=True, chip_gaps=False, n_spectra=2)
    off = simulate(20, seed=4, config=SimConfig.preset("tiny", host_light=0.0, **base))
    on = simulate(20, seed=4, config=SimConfig.preset("tiny", host_light=1.0, **base))
    n = 0
    for a, b in zip(off, on, strict=True):
        np.testing.assert_array_equal(a.lightcurve.flux, b.lightcurve.flux)  # photometry: no host
        for sa, sb in zip(a.spectra, b.spectra, strict=True):
            np.testing.assert_array_equal(sa.wavelength, sb.wavelength)
            truth = sb.meta["host_fraction"]
            assert 0.05 <= truth <= 1.0 and sb.meta["host_template"]
            w = sa.wavelength
            got = _mean(w, sb.flux - sa.flux, *HOST_WINDOW) / _mean(w, sa.flux, *HOST_WINDOW)
            assert got == pytest.approx(truth, rel=0.05, abs=0.005)
            n += 1
    assert n >= 30


def test_host_draw_probability_and_class_dependence():
    lib = physics_hosts()
    rng = np.random.default_rng(1)
    draws = [draw_host(rng, lib, "II", 0.5, (0.05, 1.0)) for _ in range(2000)]
    hosts = [d for d in draws if d is not None]
    assert 0.45 < len(hosts) / len(draws) < 0.55
    assert "phys-E" not in {d.template for d in hosts}  # core-collapse: no early-type hosts
    fr = np.log([d.fraction for d in hosts])
    assert fr.min() >= np.log(0.05) - 1e-3 and fr.max() <= np.log(1.0) + 1e-3
    assert abs(fr.mean() - np.log(np.sqrt(0.05))) < 0.1  # log-uniform
    state = rng.bit_generator.state
    assert draw_host(rng, lib, "Ia", 0.0, (0.05, 1.0)) is None
    assert rng.bit_generator.state == state  # probability 0: no draw at all


@pytest.mark.parametrize(
    "kwargs",
    [
        {"host_light": -0.1},
        {"host_light": 1.5},
        {"host_light": "often"},
        {"host_fraction": (0.0, 1.0)},
        {"host_fraction": (1.0, 0.5)},
        {"host_fraction": (0.1,)},
        {"host_fraction": (0.1, 1000.0)},
        {"host_fraction": (0.1, float("nan"))},
        {"chip_gaps": "no"},
    ],
)
def test_bad_host_config_raises(kwargs):
    with pytest.raises(ConfigError, match="simulation config: (host_light|host_fraction|chip)"):
        SimConfig(**kwargs)


def test_config_round_trip():
    cfg = SimConfig(host_light=0.3, host_fraction=[0.1, 2.0], chip_gaps=False)
    assert cfg.host_fraction == (0.1, 2.0)
    d = json.loads(json.dumps(cfg.to_dict()))
    assert d["host_light"] == 0.3 and d["host_fraction"] == [0.1, 2.0] and not d["chip_gaps"]
    assert SimConfig.from_dict(d) == cfg
    assert SimConfig.from_dict(SimConfig().to_dict()) == SimConfig()


def test_host_light_off_leaves_spectra_unchanged():
    """With host_light = 0 (and no chip gaps) no host draw happens and no meta key is added;
    turning host light on changes only the spectra that got a host, noise included."""
    off = simulate(30, seed=7, config=SimConfig.preset("tiny", host_light=0.0, chip_gaps=False))
    on = simulate(30, seed=7, config=SimConfig.preset("tiny", host_light=0.5, chip_gaps=False))
    n_host = n_plain = 0
    for a, b in zip(off, on, strict=True):
        assert a.meta == b.meta
        np.testing.assert_array_equal(a.lightcurve.flux, b.lightcurve.flux)
        for sa, sb in zip(a.spectra, b.spectra, strict=True):
            assert not {"host_template", "host_fraction", "chip_gap"} & set(sa.meta)
            if sb.meta["host_template"] is None:
                assert sb.meta["host_fraction"] == 0.0
                np.testing.assert_array_equal(sa.flux, sb.flux)
                np.testing.assert_array_equal(sa.flux_err, sb.flux_err)
                n_plain += 1
            else:
                assert not np.array_equal(sa.flux, sb.flux)
                n_host += 1
    assert n_host > 5 and n_plain > 5


def test_chip_gap_pixels_absent():
    lowres = next(i for i in INSTRUMENTS if i.name == "sim-lowres")
    c0, c1, w0, w1 = lowres.chip_gap
    no_gap = simulate(30, seed=8, config=SimConfig.preset("tiny", chip_gaps=False))
    gap = simulate(30, seed=8, config=SimConfig.preset("tiny", chip_gaps=True))
    n = 0
    for a, b in zip(no_gap, gap, strict=True):
        for sa, sb in zip(a.spectra, b.spectra, strict=True):
            if sb.instrument != "sim-lowres":
                assert "chip_gap" not in sb.meta
                np.testing.assert_array_equal(sa.flux, sb.flux)
                continue
            lo, hi = sb.meta["chip_gap"]
            assert c0 - 0.1 <= (lo + hi) / 2 <= c1 + 0.1 and w0 - 0.2 <= hi - lo <= w1 + 0.2
            assert not ((sb.wavelength >= lo) & (sb.wavelength <= hi)).any()
            keep = ~((sa.wavelength >= lo) & (sa.wavelength <= hi))
            assert keep.sum() < sa.wavelength.size  # the gap removed pixels
            np.testing.assert_array_equal(sa.wavelength[keep], sb.wavelength)
            np.testing.assert_array_equal(sa.flux[keep], sb.flux)  # same noise elsewhere
            n += 1
    assert n >= 5


def test_lowres_wavelength_ranges_follow_the_observed_quantiles():
    from maven.simulate.spectra import INSTRUMENTS, OBSERVED_RANGE_QUANTILES

    sedm, lowres = INSTRUMENTS
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert sedm.draw_range(rng) == (3800.0, 9150.0)
    assert rng.bit_generator.state == state  # fixed ranges draw nothing
    ranges = np.array([lowres.draw_range(rng) for _ in range(4000)])
    assert np.all(ranges[:, 1] - ranges[:, 0] >= 2000.0 - 1e-6)
    p, lo_q, hi_q = OBSERVED_RANGE_QUANTILES
    assert np.median(ranges[:, 0]) == pytest.approx(lo_q[p.index(0.5)], abs=40)
    assert np.percentile(ranges[:, 1], 16) == pytest.approx(hi_q[p.index(0.16)], abs=150)
    assert ranges[:, 0].min() >= lo_q[0] and ranges[:, 1].max() <= hi_q[-1]
