"""Survey realism of the simulator: ZTF's CCD mosaic, the 30-minute rule, alert photometry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from maven import ConfigError
from maven.simulate import SimConfig, simulate
from maven.simulate import simulator as sim_mod
from maven.simulate.survey import (
    SURVEYS,
    ZTF_CCD_X,
    ZTF_CCD_Y,
    Cadence,
    load_cadence,
    passes_trigger,
    synthetic_cadence,
)
from maven.simulate.templates import find_template_dir

DEG = np.pi / 180.0


def _from_tangent(x_deg, y_deg, ra0, dec0):
    """Inverse gnomonic projection: sky position (radians) of tangent-plane offsets (deg)."""
    x, y = np.asarray(x_deg) * DEG, np.asarray(y_deg) * DEG
    rho = np.hypot(x, y)
    c = np.arctan(rho)
    with np.errstate(invalid="ignore", divide="ignore"):
        dec = np.arcsin(
            np.cos(c) * np.sin(dec0) + np.where(rho > 0, y * np.sin(c) * np.cos(dec0) / rho, 0.0)
        )
    ra = ra0 + np.arctan2(
        x * np.sin(c), rho * np.cos(dec0) * np.cos(c) - y * np.sin(dec0) * np.sin(c)
    )
    return ra, dec


def _one_field(spec=SURVEYS["ztf"], ra0=150.0 * DEG, dec0=40.0 * DEG, n=10) -> Cadence:
    mjd = 60000.0 + np.arange(n, dtype=np.float64)
    return Cadence(
        spec,
        mjd,
        np.zeros(n, dtype=np.int8),
        np.full(n, 20.5, dtype=np.float32),
        np.full(n, ra0),
        np.full(n, dec0),
        source="synthetic",
    )


def _bounding_box(spec):
    """The same survey without CCD gaps: one rectangle around the whole mosaic."""
    return dataclasses.replace(
        spec,
        ccd_x=((spec.ccd_x[0][0], spec.ccd_x[-1][1]),),
        ccd_y=((spec.ccd_y[0][0], spec.ccd_y[-1][1]),),
    )


# ----------------------------------------------------------------------------- footprint


def test_ztf_geometry_matches_the_published_mosaic():
    spec = SURVEYS["ztf"]
    assert spec.field_shape == "ccds"
    widths = [hi - lo for lo, hi in ZTF_CCD_X + ZTF_CCD_Y]
    # 6144 x 6160 px at 1.012"/px: ~1.73 deg per CCD
    assert np.allclose(widths, 1.727, atol=0.003)
    assert spec.fill_factor == pytest.approx(0.877, abs=0.005)
    assert spec.half_extent_deg == pytest.approx(3.73, abs=0.01)


@pytest.mark.parametrize(
    ("x", "y", "inside"),
    [
        (1.0, 1.0, True),  # on a CCD (column 3, row 3)
        (-2.8, -2.9, True),  # on a corner CCD
        (0.0, 1.0, False),  # the central east-west gap (x in -0.063 .. 0.062)
        (-1.85, 1.0, False),  # the gap between columns 1 and 2
        (1.0, 1.9, False),  # the gap between rows 3 and 4
        (3.0, 3.0, True),
        (3.7, 0.5, False),  # east of the mosaic (> 3.646 deg)
        (0.5, 3.8, False),  # north of the mosaic
    ],
)
def test_ccd_footprint(x, y, inside):
    ra0, dec0 = 150.0 * DEG, 40.0 * DEG
    cad = _one_field(ra0=ra0, dec0=dec0)
    ra, dec = _from_tangent([x], [y], ra0, dec0)
    (centers,) = cad.centers_containing(ra, dec)
    assert (centers.size == 1) is inside
    n_visits = cad.visits(centers, 0.0, 1e6).size
    assert n_visits == (10 if inside else 0)


def test_footprint_is_deterministic_and_near_the_pole():
    ra0, dec0 = 10.0 * DEG, 86.0 * DEG
    cad = _one_field(ra0=ra0, dec0=dec0)
    ra, dec = _from_tangent([1.0, 0.0, 2.5], [-1.0, -1.0, 2.5], ra0, dec0)
    first = [c.size for c in cad.centers_containing(ra, dec)]
    assert first == [1, 0, 1]
    assert [c.size for c in cad.centers_containing(ra, dec)] == first


def test_gaps_cut_visits_by_the_fill_factor():
    spec = SURVEYS["ztf"]
    syn = synthetic_cadence("ztf")
    args = (syn.mjd, syn.band, syn.m5, syn.ra, syn.dec)
    ccds = Cadence(spec, *args, source="synthetic")
    box = Cadence(_bounding_box(spec), *args, source="synthetic")
    rng = np.random.default_rng(0)
    ra = rng.uniform(0, 2 * np.pi, 6000)
    dec = np.arcsin(rng.uniform(np.sin(-20 * DEG), np.sin(80 * DEG), 6000))

    def n_visits(cad):
        return sum(cad.visits(c, -np.inf, np.inf).size for c in cad.centers_containing(ra, dec))

    ratio = n_visits(ccds) / n_visits(box)
    assert ratio == pytest.approx(spec.fill_factor, abs=0.03)


def test_rubin_keeps_the_circle():
    spec = SURVEYS["lsst"]
    assert spec.field_shape == "circle" and spec.fill_factor == 1.0
    ra0, dec0 = 30.0 * DEG, -30.0 * DEG
    cad = _one_field(spec, ra0, dec0)
    ra, dec = _from_tangent([0.0, 1.2, 1.3], [0.0, 1.2, 1.3], ra0, dec0)  # r = 0, 1.70, 1.84
    assert [c.size for c in cad.centers_containing(ra, dec)] == [1, 1, 0]


def test_real_ztf_log_covers_most_positions():
    tdir = find_template_dir(None)
    if tdir is None or not (tdir / SURVEYS["ztf"].cadence_file).exists():
        pytest.skip("the ZTF pointing log (templates/cadence) is not available")
    cad = load_cadence("ztf", tdir, "real")
    rng = np.random.default_rng(1)
    ra = rng.uniform(0, 2 * np.pi, 2000)
    dec = np.arcsin(rng.uniform(np.sin(0 * DEG), np.sin(60 * DEG), 2000))
    covered = np.mean([c.size > 0 for c in cad.centers_containing(ra, dec)])
    # the secondary grid fills most of the primary grid's CCD gaps
    assert covered > 0.95


# ----------------------------------------------------------------------------- trigger


def test_trigger_needs_a_pair_30_minutes_apart():
    gap = SimConfig().min_detection_gap_days
    assert gap == pytest.approx(30 / 1440)
    t0 = 60000.0
    ten_min = np.array([t0, t0 + 10 / 1440])
    forty_min = np.array([t0, t0 + 40 / 1440])
    det = np.array([True, True])
    assert not passes_trigger(ten_min, det, 2, gap)
    assert passes_trigger(forty_min, det, 2, gap)
    assert passes_trigger(ten_min, det, 2, 0.0)  # rule off
    assert passes_trigger(ten_min, det, 1, gap)  # one detection needs no pair
    # the non-detection 40 min later does not count
    assert not passes_trigger(np.array([t0, t0 + 10 / 1440, t0 + 40 / 1440]), [1, 1, 0], 2, gap)
    # three detections: one pair 40 min apart is enough
    assert passes_trigger(np.array([t0, t0 + 5 / 1440, t0 + 40 / 1440]), [1, 1, 1], 3, gap)
    assert not passes_trigger(forty_min, det, 3, gap)


def test_simulated_objects_obey_the_30_minute_rule():
    sne = simulate(15, seed=2, config=SimConfig.preset("tiny"))
    for sn in sne:
        lc = sn.lightcurve
        t = lc.time[lc.detected]
        assert t.size >= 2 and t.max() - t.min() >= 30 / 1440


# ----------------------------------------------------------------------------- photometry


@pytest.fixture
def cadence_with_i(monkeypatch):
    """The synthetic ZTF cadence with every third visit in the i band."""
    syn = synthetic_cadence("ztf")
    band = syn.band.copy()
    band[::3] = 2
    cad = Cadence(syn.spec, syn.mjd, band, syn.m5, syn.ra, syn.dec, source="synthetic")
    monkeypatch.setattr(sim_mod, "load_cadence", lambda *a, **k: cad)
    return cad


def test_alert_photometry_holds_only_g_r_detections(cadence_with_i):
    config = SimConfig.preset("tiny", n_spectra=0)
    assert config.photometry == "auto" and config.photometry_mode == "alert"
    sne = simulate(12, seed=5, config=config)
    for sn in sne:
        lc = sn.lightcurve
        assert lc.detected.all()
        assert set(lc.band) <= {"ztf::g", "ztf::r"}
        assert np.all(lc.flux / lc.flux_err >= config.snr_detect)
        assert sn.meta["photometry"] == "alert"
    forced = simulate(12, seed=5, config=dataclasses.replace(config, photometry="forced"))
    bands = {b for sn in forced for b in sn.lightcurve.band}
    assert "ztf::i" in bands
    assert any((~sn.lightcurve.detected).any() for sn in forced)
    with_i = simulate(
        6, seed=5, config=dataclasses.replace(config, alert_bands=SURVEYS["ztf"].bands)
    )
    assert "ztf::i" in {b for sn in with_i for b in sn.lightcurve.band}


def test_alert_errors_are_larger_at_the_bright_end():
    from maven.simulate.survey import photometric_noise

    spec = SURVEYS["ztf"]
    a = spec.alert
    flux = np.array([10 ** (-0.4 * (m - 23.9)) for m in (15.0, 17.0, 18.0, 19.0)])
    m5 = np.full(4, 20.7)
    forced = 1.0857 * photometric_noise(flux, m5, spec.zp_electrons, 0.005) / flux
    alert = 1.0857 * photometric_noise(flux, m5 + a.depth_offset, a.zp_electrons, a.floor) / flux
    assert np.all(alert > 2 * forced)
    # the BTS alert medians (module docstring of maven.simulate.survey), within ~35 %
    assert np.allclose(alert, [0.027, 0.042, 0.064, 0.11], rtol=0.35)


def test_lsst_defaults_to_forced_photometry():
    assert SimConfig(survey="lsst").photometry_mode == "forced"
    assert SimConfig(survey="lsst").kept_bands() == SURVEYS["lsst"].bands
    assert SimConfig(survey="ztf", photometry="forced").kept_bands() == SURVEYS["ztf"].bands


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"min_detection_gap_days": -0.01}, "min_detection_gap_days"),
        ({"min_detection_gap_days": float("nan")}, "min_detection_gap_days"),
        ({"min_detection_gap_days": 31.0}, "min_detection_gap_days"),
        ({"photometry": "difference"}, "photometry"),
        ({"alert_bands": ("lsst::g",)}, "alert_bands"),
        ({"alert_bands": ()}, "alert_bands"),
    ],
)
def test_bad_config(options, match):
    with pytest.raises(ConfigError, match=match):
        SimConfig(**options)


def test_config_round_trip():
    config = SimConfig(min_detection_gap_days=0.05, photometry="alert", alert_bands=["ztf::r"])
    assert config.alert_bands == ("ztf::r",)
    d = config.to_dict()
    assert d["alert_bands"] == ["ztf::r"] and d["photometry"] == "alert"
    back = SimConfig.from_dict(d)
    assert back == config


def test_public_stream_keeps_one_visit_per_band_and_night():
    from maven.simulate.survey import first_per_night, night_index

    mjd = np.array([60000.20, 60000.25, 60000.30, 60000.22, 60001.2, 60001.21])
    band = np.array([0, 0, 1, 1, 0, 0])
    keep = first_per_night(mjd, band)
    assert sorted(keep.tolist()) == [0, 3, 4]
    assert np.all(np.diff(mjd[keep]) >= 0)
    assert np.unique(night_index(mjd)).size == 2


def test_public_field_nights_are_a_deterministic_fraction():
    syn = synthetic_cadence("ztf")
    idx = np.arange(syn.n_visits)
    frac = SURVEYS["ztf"].alert.public_fraction
    mask = syn.public_nights(idx, frac)
    assert mask.mean() == pytest.approx(frac, abs=0.02)
    assert np.array_equal(mask, syn.public_nights(idx, frac))
    assert syn.public_nights(idx, 1.0).all()
