"""SLSN-I: magnetar light curves with spectral features of real SLSN-I (DASH spectra).

Tests that need the template directory skip when it (or the DASH tarball) is absent."""

from __future__ import annotations

import numpy as np
import pytest

from maven.simulate import ObjectModel, ObjectParams, get_library
from maven.simulate.grid import HELDOUT, REST_WAVE
from maven.simulate.physics import magnetar_bank, magnetar_grid
from maven.simulate.slsn_features import DASH_TARBALL, HELDOUT_OBJECTS, load_slsn_features

from .paths import TEMPLATES

O2 = (REST_WAVE >= 4100.0) & (REST_WAVE <= 4650.0)


@pytest.fixture(scope="module")
def feats():
    if not (TEMPLATES / DASH_TARBALL).is_file():
        pytest.skip(
            f"DASH SLSN spectra not found at {TEMPLATES / DASH_TARBALL} "
            "(set MAVEN_TEMPLATE_DIR); a user's clone has no ../shared"
        )
    return load_slsn_features(TEMPLATES)


@pytest.fixture(scope="module")
def banks(feats):
    return magnetar_bank(template_dir=TEMPLATES), magnetar_bank()


def _at_peak(g) -> np.ndarray:
    return g.flux[int(np.argmin(np.abs(g.phase - g.peak_phase)))]


def _peak_mag(g, band: str) -> float:
    m = ObjectModel(g, ObjectParams(template=g.id, z=0.2, t_peak=60000.0, peak_abs_mag=-21.0))
    t = 60000.0 + np.arange(-60.0, 120.0, 0.25) * m.one_plus_z
    return float(23.9 - 2.5 * np.log10(m.bandflux([band] * t.size, t).max()))


def test_features_parse(feats):
    assert len(feats) >= 20
    assert not {"sn2002bj", "sn2008am"} & set(feats)  # not SLSN-I
    phases = np.concatenate([f.phase for f in feats.values()])
    assert phases.min() < -20 and phases.max() > 100 and np.sum(phases < 0) >= 15
    for f in feats.values():
        assert np.all(np.diff(f.phase) > 0) and f.ratio.shape == (f.phase.size, REST_WAVE.size)
        assert f.ratio.min() >= 0.05 and f.ratio.max() <= 2.0
        np.testing.assert_array_equal(f.ratio[:, [0, -1]], 1.0)  # 1000 / 12000 A: not covered
    # phase interpolation: between two spectra, held outside their span
    f = feats["ptf09cnd"]
    mid = f.at(np.array([(f.phase[0] + f.phase[1]) / 2, -500.0, 5000.0]))
    np.testing.assert_allclose(mid[0], (f.ratio[0] + f.ratio[1]) / 2)
    np.testing.assert_array_equal(mid[1:], f.ratio[[0, -1]])
    again = load_slsn_features(TEMPLATES)  # from the .npz cache
    np.testing.assert_array_equal(again["ptf12dam"].ratio, feats["ptf12dam"].ratio)


def test_peak_spectrum_has_o2_absorption(banks):
    feat, pure = banks
    # a simulated SLSN-I at peak, with the features of PTF09cnd (O II "W" before peak)
    g = next(g for g in feat if g.meta["features"] == "ptf09cnd")
    p = ObjectParams(template=g.id, z=0.1, t_peak=60000.0, peak_abs_mag=-21.0)
    w, f_feat = ObjectModel(g, p).spectrum(60000.0)
    _, f_pure = ObjectModel(pure[feat.index(g)], p).spectrum(60000.0)
    rest, ratio = w / 1.1, f_feat / f_pure
    ratio = ratio / ratio[(rest >= 3500.0) & (rest <= 9000.0)].mean()  # same band flux
    inside = (rest >= 4100.0) & (rest <= 4650.0)
    assert ratio[inside].min() < 0.9 and ratio[inside].mean() < 0.97
    # and on average over the whole bank (many objects have no pre-peak optical spectrum)
    depth = [
        _at_peak(a)[O2].mean() / _at_peak(b)[O2].mean() for a, b in zip(feat, pure, strict=True)
    ]
    assert np.mean(depth) < 1.0 and np.sum(np.array(depth) < 0.97) >= 8


def test_heldout_magnetars_use_heldout_objects(banks):
    feat, _ = banks
    held = {g.meta["features"] for g in feat if g.id in HELDOUT["SLSN-I"]}
    train = {g.meta["features"] for g in feat if g.id not in HELDOUT["SLSN-I"]}
    assert held == set(HELDOUT_OBJECTS) and not held & train
    assert len(train) >= 15
    assert [g.id for g in feat] == [f"magnetar-{i:03d}" for i in range(32)]  # ids stable
    assert all("SLSN-I features of" in g.source for g in feat)
    lib = get_library(str(TEMPLATES), ("SLSN-I",), "only", True)
    assert {g.meta["features"] for g in lib.by_class["SLSN-I"]} == set(HELDOUT_OBJECTS)


def test_features_keep_the_light_curve(banks):
    feat, pure = banks
    band = (REST_WAVE >= 3500.0) & (REST_WAVE <= 9000.0)
    for a, b in zip(
        feat, pure, strict=True
    ):  # mean F_lambda over 3500-9000 A unchanged at every phase
        np.testing.assert_allclose(a.flux[:, band].sum(1), b.flux[:, band].sum(1), rtol=1e-9)
        assert a.meta["P_ms"] == b.meta["P_ms"]
    dm = np.array(
        [_peak_mag(a, "ztf::r") - _peak_mag(b, "ztf::r") for a, b in zip(feat, pure, strict=True)]
    )
    assert np.median(np.abs(dm)) < 0.05 and np.max(np.abs(dm)) < 0.2, dm


def test_without_templates_pure_blackbody():
    bank = magnetar_bank(template_dir=None)
    assert load_slsn_features(None) is None
    g = bank[3]
    ref = magnetar_grid(g.id, **{k: g.meta[k] for k in ("v_kms", "kappa")}, **_draw(g))
    np.testing.assert_array_equal(g.flux, ref.flux)
    assert all("pure blackbody" in g.source for g in bank)
    assert all(g.meta["features"] == "none (pure blackbody)" for g in bank)
    lib = get_library(None, ("SLSN-I",), "include", False)
    assert all("pure blackbody" in s for s in lib.sources["SLSN-I"])


def _draw(g) -> dict:
    return {
        "p_ms": g.meta["P_ms"],
        "b14": g.meta["B_1e14G"],
        "mej": g.meta["Mej_Msun"],
        "t_floor": g.meta["T_floor_K"],
    }
