"""The follow-up photometry stream (``SimConfig(survey="followup")``, issue 13 item 4)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from maven import ConfigError
from maven.data.cosmology import distance_modulus
from maven.simulate import SimConfig, simulate
from maven.simulate.followup import (
    FOLLOWUP_STATS,
    OPTICAL,
    FollowupStats,
    _wave_eff,
    load_followup_stats,
    measure_followup_stats,
    write_followup_stats,
)
from maven.simulate.realism_features import lightcurve_features
from maven.simulate.templates import find_template_dir

TINY = SimConfig.preset("tiny", survey="followup")


@pytest.fixture(scope="module")
def sample():
    return simulate(60, config=TINY, seed=3)


def _brightest_optical_mag(lc) -> float:
    w = np.array([_wave_eff(b) for b in lc.band])
    opt = lc.detected & (w >= OPTICAL[0]) & (w <= OPTICAL[1])
    return float(23.9 - 2.5 * np.log10(lc.flux[opt].max()))


def test_shipped_table_is_small_summary():
    assert FOLLOWUP_STATS.stat().st_size < 32_000  # a few KB of statistics, no light curve
    table = json.loads(FOLLOWUP_STATS.read_text())
    st = load_followup_stats()
    assert {"Ia", "II", "Ibc", "IIn", "SLSN-I", "all"} <= set(st.classes)
    assert len(st.band_sets) <= 60 and abs(st.band_set_p.sum() - 1) < 1e-9
    assert table["n_objects"] > 500
    # the SNR table rises towards bright magnitudes
    med = st.snr_q[:, st.levels.tolist().index(0.5)]
    assert med[0] > med[-1] + 0.2


def test_light_curves_in_the_intended_ranges(sample):
    n_pts = np.array([sn.lightcurve.time.size for sn in sample])
    spans = []
    systems = set()
    for sn in sample:
        lc = sn.lightcurve
        det = lc.detected
        assert det.sum() >= 2
        assert np.all(np.diff(lc.time) >= 0)
        assert np.all(lc.flux_err > 0) and np.all(np.isfinite(lc.flux))
        spans.append(np.ptp(lc.time[det]))
        systems |= {b.split("::")[0] for b in lc.band}
        # the peak-magnitude selection: brightest optical detection above the drawn limit
        assert _brightest_optical_mag(lc) <= sn.meta["selection_limit_mag"] + 1e-6
        assert sn.meta["survey"] == "followup" and sn.meta["photometry"] == "forced"
        assert sn.id.startswith("sim-followup-")
        assert sn.spectra  # spectra as in the other streams
    assert 12 <= np.median(n_pts) <= 90, np.median(n_pts)
    assert 30 <= np.median(spans) <= 250, np.median(spans)
    assert len(systems) >= 4, systems  # several telescopes / filter systems


def test_deterministic_per_seed():
    a = simulate(8, config=TINY, seed=11, shard=2)
    b = simulate(8, config=TINY, seed=11, shard=2)
    c = simulate(8, config=TINY, seed=12, shard=2)
    for x, y in zip(a, b, strict=True):
        assert x.id == y.id
        np.testing.assert_array_equal(x.lightcurve.time, y.lightcurve.time)
        np.testing.assert_array_equal(x.lightcurve.band, y.lightcurve.band)
        np.testing.assert_array_equal(x.lightcurve.flux, y.lightcurve.flux)
        np.testing.assert_array_equal(x.spectra[0].flux, y.spectra[0].flux)
    assert any(
        x.lightcurve.time.size != y.lightcurve.time.size
        or not np.array_equal(x.lightcurve.flux, y.lightcurve.flux)
        for x, y in zip(a, c, strict=True)
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"photometry": "alert"}, "alert stream"),
        ({"alert_bands": ("ztf::g",)}, "alert_bands"),
    ],
)
def test_bad_settings_raise(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SimConfig(survey="followup", **kwargs)


def test_unknown_survey_names_followup():
    with pytest.raises(ConfigError, match="followup"):
        SimConfig(survey="folowup")


def test_bad_tables_raise(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        load_followup_stats(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not JSON"):
        load_followup_stats(tmp_path / "bad.json")
    table = json.loads(FOLLOWUP_STATS.read_text())
    with pytest.raises(ConfigError, match="version"):
        FollowupStats({**table, "version": 99})
    broken = {k: v for k, v in table.items() if k != "snr"}
    with pytest.raises(ConfigError, match="missing"):
        FollowupStats(broken)
    nan = json.loads(json.dumps(table))
    nan["night_position"][0] = float("nan")
    with pytest.raises(ConfigError, match="non-finite"):
        FollowupStats(nan)


def test_measure_round_trip(tmp_path, sample):
    """The measuring function on records (here simulated ones) gives a table the stream reads."""
    table = measure_followup_stats(sample, exclude_sources=(), source_note="test")
    path = write_followup_stats(table, tmp_path / "stats.json")
    st = load_followup_stats(path)
    assert "all" in st.classes and st.snr_mag.size >= 3
    rng = np.random.default_rng(0)
    dt, bands = st.draw_schedule(rng, "Ia")
    assert dt.size == bands.size >= 1 and np.all(np.diff(dt) >= 0)
    err = st.flux_error(rng, np.array([0.0, 10.0, 1e4]), 0.0)
    assert np.all(err > 0) and np.all(np.isfinite(err))


def test_report_features_on_followup(sample):
    rows = [lightcurve_features(sn, "followup") for sn in sample]
    assert all(r is not None for r in rows)
    assert np.mean([np.isfinite(r["peak_mag"]) for r in rows]) > 0.8


@pytest.mark.skipif(find_template_dir(None) is None, reason="needs the template directory")
def test_iin_luminosity_matches_the_real_set():
    """The corrected IIn luminosity function: the stream's median peak absolute magnitude
    (brightest optical detection - distance modulus) near the real set's (in the table)."""
    sne = simulate(120, config=SimConfig(survey="followup", classes=("IIn",)), seed=5)
    m_abs = [
        _brightest_optical_mag(sn.lightcurve) - float(distance_modulus(sn.redshift)) for sn in sne
    ]
    real = load_followup_stats().table["classes"]["IIn"]["peak_abs_mag"]
    real_median = real[len(real) // 2]
    assert abs(np.median(m_abs) - real_median) < 0.5, (np.median(m_abs), real_median)
