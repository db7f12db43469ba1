"""The realism report: features on hand-made records, the two-sample test, the report files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from maven.data.records import LightCurve, Spectrum, Supernova
from maven.errors import MavenError
from maven.simulate import SimConfig, simulate
from maven.simulate.realism_features import LC_FEATURES, lightcurve_features, spectrum_features
from maven.simulate.report import realism_report, two_sample_test

TINY = SimConfig.preset("tiny")


def _handmade(colour: float = 0.3) -> Supernova:
    """r: 200 uJy at t=0 rising linearly to 1000 uJy at t=10, then falling 50 uJy/day (half
    flux at t=20); g the same times 10**(-0.4 colour); plus points that must be ignored."""
    t = np.arange(0.0, 30.0, 2.0)
    r = np.where(t <= 10, 200 + 80 * t, 1000 - 50 * (t - 10))
    g = r * 10 ** (-0.4 * colour)
    time = np.r_[t - 5.0, t, t + 0.5, 5.0, 3.0]  # g 0.5 d after r
    band = ["ztf::r"] * (2 * t.size) + ["ztf::g"] * t.size + ["sdss::r", "ztf::r"]
    flux = np.r_[np.full(t.size, 5.0), r, g, 99999.0, 3000.0]
    det = np.r_[np.zeros(t.size, bool), np.ones(2 * t.size, bool), True, False]
    # first block: faint forced-photometry points (SNR 0.5, not detections); then a foreign
    # band brighter than everything, and an r "upper limit" brighter than the peak: ignored
    lc = LightCurve(time, band, flux, np.full(time.size, 10.0), det)
    return Supernova("hand", lightcurve=lc, type="Ia", redshift=0.05)


def test_lightcurve_features_on_handmade_curve():
    f = lightcurve_features(_handmade(0.3))
    assert f["peak_mag"] == pytest.approx(23.9 - 2.5 * math.log10(1000.0))
    assert f["rise_time"] == pytest.approx(10.0)  # first detection at t=0 (r)
    assert f["decline_time"] == pytest.approx(10.0)  # 500 uJy at t=20, on a sample point
    assert f["colour"] == pytest.approx(0.3, abs=0.05)  # g at t=10.5, r falls 0.5 * 50 uJy
    n = 15
    assert f["n_points"] == 3 * n + 1  # foreign band left out
    assert f["n_detections"] == 2 * n
    assert f["duration"] == pytest.approx(28.5)
    assert f["redshift"] == pytest.approx(0.05)
    assert f["median_snr"] > 5


def test_lightcurve_features_edge_cases():
    lc = LightCurve([1.0, 2.0], ["sdss::g", "sdss::r"], [10.0, 20.0], [1.0, 1.0])
    assert lightcurve_features(Supernova("x", lightcurve=lc)) is None  # no survey bands
    # detections in g only: counts, but no peak, rise, decline or colour
    lc = LightCurve([1.0, 2.0, 9.0], ["ztf::g"] * 3, [100.0, 200.0, 150.0], [5.0] * 3)
    f = lightcurve_features(Supernova("y", lightcurve=lc))
    assert f["n_detections"] == 3 and math.isnan(f["peak_mag"]) and math.isnan(f["colour"])
    assert math.isnan(f["redshift"])
    # decline not covered: no later point at half flux; interpolation between samples
    lc = LightCurve([0.0, 4.0, 8.0], ["ztf::r"] * 3, [400.0, 1000.0, 700.0], [10.0] * 3)
    assert math.isnan(lightcurve_features(Supernova("z", lightcurve=lc))["decline_time"])
    lc = LightCurve([0.0, 4.0, 8.0], ["ztf::r"] * 3, [400.0, 1000.0, 300.0], [10.0] * 3)
    f = lightcurve_features(Supernova("w", lightcurve=lc))
    assert f["decline_time"] == pytest.approx(4.0 * 500 / 700)
    assert f["rise_time"] == pytest.approx(4.0)
    with pytest.raises(MavenError, match="unknown survey"):
        lightcurve_features(Supernova("w", lightcurve=lc), survey="nope")


def test_spectrum_features_find_the_si_line():
    z, lam_rest = 0.05, 6150.0
    w = np.arange(3500.0, 9500.0, 2.0)
    f = 1.0 - 0.5 * np.exp(-0.5 * ((w / (1 + z) - lam_rest) / 40.0) ** 2)
    spec = Spectrum(w, f, np.full(w.size, 0.02), mjd=100.0)
    out = spectrum_features(spec, z, "Ia", t_peak=90.0)
    assert out["line_rest"] == pytest.approx(lam_rest, abs=3.0)
    q = (6355.0 / lam_rest) ** 2
    assert out["line_velocity"] == pytest.approx(299792.458 * (q - 1) / (q + 1), rel=0.02)
    assert 0.4 < out["line_depth"] <= 0.5
    assert out["spec_snr"] == pytest.approx(np.median(f / 0.02))
    assert out["spec_phase"] == pytest.approx(10.0 / 1.05)
    assert (out["wave_min"], out["wave_max"]) == (3500.0, w[-1])
    # window not covered / no redshift / class without a line: NaN, coverage still there
    short = Spectrum(w[:500], f[:500])
    assert math.isnan(spectrum_features(short, z, "Ia")["line_rest"])
    assert math.isnan(spectrum_features(spec, None, "Ia")["line_velocity"])
    assert math.isnan(spectrum_features(spec, z, "other")["line_velocity"])
    assert math.isnan(spectrum_features(short, z, "Ia")["spec_snr"])  # no errors


def test_two_sample_test_same_and_different():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 3))
    b = rng.normal(size=(400, 3))
    for x in (a, b):
        x[rng.random(x.shape) < 0.1] = np.nan  # NaN allowed (equally often in both)
    same = two_sample_test(a, b, ["x", "y", "z"], seed=0, importance=False)
    assert abs(same["auc"] - 0.5) < 0.1
    assert same["n_per_set"] == 400 and len(same["auc_folds"]) == 5
    c = rng.normal(size=(900, 3))
    c[:, 1] += 4.0  # clearly different in one feature; larger set gets subsampled
    diff = two_sample_test(a, c, ["x", "y", "z"], seed=0)
    assert diff["auc"] > 0.97 and diff["n_per_set"] == 400
    assert next(iter(diff["importance"])) == "y"  # where the gap is
    with pytest.raises(MavenError):
        two_sample_test(a, c[:, :2])
    with pytest.raises(MavenError, match="needs >= 10"):
        two_sample_test(a[:5], c)


@pytest.fixture(scope="module")
def two_tiny_sets():
    return simulate(250, seed=0, config=TINY), simulate(250, seed=1, config=TINY)


def test_report_writes_files_and_same_simulator_is_realistic(tmp_path, two_tiny_sets):
    sim, other = two_tiny_sets
    rep = realism_report(sim, other, tmp_path, progress=False, min_objects=20)
    for name in ["realism.json", "realism.md", "c2st_auc.png", "hist_Ia.png", "hist_all.png"]:
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "realism.json").read_text()) == rep
    assert set(rep["classes"]) == {"Ia", "II", "Ibc", "IIn", "SLSN-I"}
    assert "all" in rep["groups"]
    auc = rep["groups"]["all"]["c2st"]["lightcurve"]["auc"]
    assert auc < 0.7, auc  # same simulator, other seed: close to 0.5
    ia = rep["groups"]["Ia"]["features"]
    assert set(LC_FEATURES) <= set(ia)
    assert ia["peak_mag"]["ks"] < 0.4
    md = (tmp_path / "realism.md").read_text()
    assert "| Ia |" in md and "AUC lightcurve" in md


def test_report_magnitude_cut_and_bad_inputs(tmp_path, two_tiny_sets):
    sim, other = two_tiny_sets
    rep = realism_report(
        sim, other, tmp_path, progress=False, min_objects=5, max_peak_mag=20.0, plots=False
    )
    assert rep["dropped_by_max_peak_mag"]["sim"] > 0
    assert rep["plots"] == [] and not list(tmp_path.glob("*.png"))
    for d in rep["groups"].values():
        assert d["features"]["peak_mag"]["q84_sim"] <= 20.0
    with pytest.raises(MavenError):
        realism_report(tmp_path / "missing", other, tmp_path, progress=False)
    with pytest.raises(MavenError, match="no supernovae"):
        realism_report([], other, tmp_path, progress=False)
    with pytest.raises(MavenError, match="unknown survey"):
        realism_report(sim, other, tmp_path, survey="hst", progress=False)
    with pytest.raises(MavenError, match="expected Supernova"):
        realism_report(sim, [1, 2], tmp_path, progress=False)
    only_ia = [s for s in sim if s.type == "Ia"]
    only_ii = [s for s in other if s.type == "II"]
    with pytest.raises(MavenError, match="no class"):
        realism_report(only_ia, only_ii, tmp_path, progress=False)
    no_ztf = [Supernova("s", lightcurve=LightCurve([1.0], ["sdss::r"], [10.0], [1.0]), type="Ia")]
    with pytest.raises(MavenError, match="no photometry"):
        realism_report(no_ztf, other, tmp_path, progress=False)


def test_report_on_real_ztf_bts(tmp_path, real_data, two_tiny_sets):
    sim, _ = two_tiny_sets
    rep = realism_report(
        sim,
        real_data / "ztf_bts_snia_antares",
        tmp_path,
        progress=False,
        min_objects=20,
        plots=False,
    )
    assert rep["classes"] == ["Ia"]
    g = rep["groups"]["Ia"]
    assert g["n_real_lightcurve"] > 1000
    assert 0.5 <= g["c2st"]["lightcurve"]["auc"] <= 1.0
    real_peak = g["features"]["peak_mag"]["median_real"]
    assert 15.0 < real_peak < 20.0  # BTS: bright, spectroscopically classified
