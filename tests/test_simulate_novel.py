"""Novel (off-by-default) simulator classes for novelty evaluation: TDE, KN, Ia-91bg."""

from __future__ import annotations

import numpy as np
import pytest

from maven.errors import ConfigError
from maven.simulate import (
    DEFAULT_CLASSES,
    NOVEL_CLASSES,
    SimConfig,
    get_library,
    provenance,
    simulate,
)

from .paths import TEMPLATES

NUGENT_91BG = TEMPLATES / "sed" / "nugent" / "Nugent_SN91bg_SED.fits.gz"
KASEN = TEMPLATES / "sed" / "kasen17_kilonova"


def _tiny(classes, **kw) -> SimConfig:
    # forced photometry: the shape checks need every visit (alert light curves: detections only)
    kw.setdefault("photometry", "forced")
    return SimConfig.preset("tiny", classes=classes, noiseless=True, n_spectra=0, **kw)


def _with_templates(classes, **kw) -> SimConfig:
    return SimConfig(
        classes=classes,
        template_dir=str(TEMPLATES),
        cadence="synthetic",
        noiseless=True,
        n_spectra=0,
        **{"photometry": "forced", **kw},
    )


def _band(sn, band: str):
    lc = sn.lightcurve
    m = np.asarray(lc.band) == band
    return np.asarray(lc.time)[m], np.asarray(lc.flux)[m]


def _rest_days(sn, mjd, ref: float) -> np.ndarray:
    return (mjd - ref) / (1.0 + sn.redshift)


def test_novel_classes_are_off_by_default():
    assert set(NOVEL_CLASSES) == {"TDE", "KN", "Ia-91bg"}
    assert SimConfig().classes == DEFAULT_CLASSES
    assert not set(NOVEL_CLASSES) & set(DEFAULT_CLASSES)
    sne = simulate(20, seed=0, config=SimConfig.preset("tiny", n_spectra=0))
    assert {sn.type for sn in sne} <= set(DEFAULT_CLASSES)
    assert not any(sn.meta["novel_class"] for sn in sne)


def test_unknown_class_still_raises():
    with pytest.raises(ConfigError, match="unknown classes"):
        SimConfig(classes=("TDE", "XRB"))


def test_tde_declines_slowly_and_is_blue():
    sne = simulate(24, seed=1, config=_tiny(("TDE",), z_max=0.15))
    assert {sn.type for sn in sne} == {"TDE"} and sne[0].type_raw == "TDE"
    assert all(sn.meta["template_family"] == "physics" and sn.meta["novel_class"] for sn in sne)
    slow, blue = [], []
    for sn in sne:
        tp = sn.meta["t_peak"]
        mjd, f = _band(sn, "ztf::r")
        ph = _rest_days(sn, mjd, tp)
        late, near = (ph > 55) & (ph < 65), np.abs(ph) < 5
        if late.any() and near.any():
            slow.append(np.median(f[late]) > 0.2 * f[near].max())
        gm, gf = _band(sn, "ztf::g")
        gnear = np.abs(_rest_days(sn, gm, tp)) < 5
        if gnear.any() and near.any():
            blue.append(-2.5 * np.log10(np.median(gf[gnear]) / np.median(f[near])) < 0)
    assert len(slow) >= 10 and np.mean(slow) >= 0.8
    assert len(blue) >= 10 and np.mean(blue) >= 0.8


def test_kilonova_physics_fallback_fades_fast():
    cfg = _tiny(("KN",))
    lib = get_library(None, ("KN",), "exclude", False)
    assert all(g.id.startswith("physics-kn") for g in lib.by_class["KN"])
    assert all("maven.simulate.physics" in s for s in provenance(cfg, 0)["templates"]["KN"])
    _assert_fast(simulate(16, seed=2, config=cfg))


def _assert_fast(sne) -> None:
    assert {sn.type for sn in sne} == {"KN"} and sne[0].type_raw == "Kilonova"
    early, faded = [], []
    for sn in sne:
        t0 = sn.meta["template_t0"]  # MJD of the merger (template phase 0)
        lc = sn.lightcurve
        det = np.asarray(lc.detected)
        flux, mjd, band = np.asarray(lc.flux), np.asarray(lc.time), np.asarray(lc.band)
        k = int(np.argmax(np.where(det, flux, -np.inf)))
        early.append(_rest_days(sn, mjd[k], t0) < 4.0)
        m = (band == band[k]) & (_rest_days(sn, mjd, t0) > 8) & (_rest_days(sn, mjd, t0) < 12)
        if m.any():
            faded.append(flux[m].max() < flux[k] * 10 ** (-0.4 * 2.0))
    assert np.mean(early) >= 0.9
    assert len(faded) >= 5 and np.mean(faded) >= 0.8


@pytest.mark.skipif(not KASEN.is_dir(), reason=f"Kasen+17 models not found at {KASEN}")
def test_kilonova_from_kasen17_models():
    pytest.importorskip("h5py")
    cfg = _with_templates(("KN",))
    lib = get_library(str(TEMPLATES), ("KN",), "exclude", True)
    assert len(lib.by_class["KN"]) == 6
    assert all(g.family == "kasen17" for g in lib.by_class["KN"])
    assert all("kasen17_kilonova" in s for s in provenance(cfg, 0)["templates"]["KN"])
    sne = simulate(16, seed=3, config=cfg)
    assert all(sn.meta["template"].startswith("kasen17-") for sn in sne)
    assert -17.5 < np.median([sn.meta["peak_abs_mag"] for sn in sne]) < -14.5
    _assert_fast(sne)


def test_91bg_without_templates_is_a_clear_error():
    with pytest.raises(ConfigError, match="Nugent_SN91bg_SED"):
        simulate(2, seed=0, config=_tiny(("Ia-91bg",)))


@pytest.mark.skipif(not NUGENT_91BG.exists(), reason=f"{NUGENT_91BG} not found")
def test_91bg_fainter_than_normal_ia():
    cfg = _with_templates(("Ia", "Ia-91bg"), z_min=0.02, z_max=0.04)
    sne = simulate(40, seed=4, config=cfg)
    peak = {"Ia": [], "Ia-91bg": []}  # brightest g-band AB magnitude (noiseless)
    for sn in sne:
        peak[sn.type].append(23.9 - 2.5 * np.log10(_band(sn, "ztf::g")[1].max()))
    assert len(peak["Ia"]) >= 8 and len(peak["Ia-91bg"]) >= 8
    assert sne[0].type_raw.startswith("SN ")
    bg = [sn for sn in sne if sn.type == "Ia-91bg"]
    assert all(sn.meta["template"] == "nugent-91bg" and sn.meta["template_heldout"] for sn in bg)
    # M_B is ~1.7 mag fainter; in g (redder 91bg, sparse sampling) ~1.0-1.7 mag
    assert np.median(peak["Ia-91bg"]) - np.median(peak["Ia"]) > 0.7


def test_novel_classes_survive_heldout_modes_and_are_deterministic():
    cfg = _tiny(("TDE", "KN"), heldout="only")
    a = simulate(8, seed=5, config=cfg)
    b = simulate(8, seed=5, config=cfg)
    assert [sn.id for sn in a] == [sn.id for sn in b]
    assert [sn.meta["template"] for sn in a] == [sn.meta["template"] for sn in b]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.lightcurve.flux, y.lightcurve.flux)
    assert all(sn.meta["template_heldout"] for sn in a)
    c = simulate(8, seed=6, config=cfg)
    assert [sn.meta["z"] for sn in a] != [sn.meta["z"] for sn in c]


def test_heldout_subtypes_on_request():
    lib = get_library(None, ("Ibc",), "exclude", False, ("Ic-BL",))
    assert lib.by_class["Ibc"] and all(g.subtype != "Ic-BL" for g in lib.by_class["Ibc"])
    cfg = _tiny(("Ibc",), heldout="only", heldout_subtypes="Ic-BL")
    assert cfg.heldout_subtypes == ("Ic-BL",)
    sne = simulate(6, seed=7, config=cfg)
    assert all(sn.meta["subtype"] == "Ic-BL" and sn.meta["template_heldout"] for sn in sne)
    assert provenance(cfg, 0)["heldout_subtypes"] == ["Ic-BL"]
    with pytest.raises(ConfigError, match="match no template"):
        simulate(2, seed=0, config=_tiny(("Ibc",), heldout_subtypes=("Ic-bl",)))
