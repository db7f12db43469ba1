"""Simulator with the real template directory and cadences (skipped when absent)."""

from __future__ import annotations

import numpy as np
import pytest

from maven.data.bands import get_band
from maven.simulate import HELDOUT, ObjectModel, ObjectParams, SimConfig, get_library, simulate
from maven.simulate.templates import CATALOG, cache_dir

from .paths import REPO, TEMPLATES

pytestmark = pytest.mark.skipif(
    not (TEMPLATES / "sed").is_dir(),
    reason=f"template directory not found at {TEMPLATES} (set MAVEN_TEMPLATE_DIR); "
    "a user's clone has no ../shared",
)
CLASSES = ("Ia", "II", "Ibc", "IIn", "SLSN-I")


@pytest.fixture(scope="module")
def lib():
    return get_library(str(TEMPLATES), CLASSES, "include", True)


def test_catalog_files_and_heldout_ids_exist(lib):
    missing = [t.relpath for t in CATALOG if not (TEMPLATES / t.relpath).exists()]
    assert not missing
    ids = {g.id for gs in lib.by_class.values() for g in gs}
    for cls, held in HELDOUT.items():
        for tid in held:
            assert tid in ids and lib.get(tid).cls == cls
    assert {g.cls for gs in lib.by_class.values() for g in gs} == set(CLASSES)
    assert REPO not in cache_dir().parents  # extracted SALT / caches live outside the repo


def test_salt_ia_peak_brightness_and_parameters(lib):
    def peak(tid="salt3-k21", band="ztf::r", **kw):
        p = dict(template=tid, z=0.05, t_peak=60000.0, peak_abs_mag=-19.36, x1=0.0, c=0.0)
        p.update(kw)
        m = ObjectModel(lib.get(tid), ObjectParams(**p))
        t = 60000.0 + np.arange(-20, 50, 0.25)
        f = m.bandflux([band] * t.size, t)
        return 23.9 - 2.5 * np.log10(f.max()), t[f >= 0.5 * f.max()]

    for tid in ("salt3-k21", "salt2-4"):
        assert 17.2 < peak(tid)[0] < 17.9
    wide, narrow = peak(x1=2.0)[1], peak(x1=-2.0)[1]
    assert np.ptp(wide) > np.ptp(narrow) + 3  # x1 stretches the light curve
    gr0 = peak(band="ztf::g")[0] - peak()[0]
    gr1 = peak(band="ztf::g", c=0.3)[0] - peak(c=0.3)[0]
    assert gr1 - gr0 == pytest.approx(0.3, abs=0.15)  # c reddens (E(B-V)-like)


def test_salt_fast_path_matches_sncosmo_salt_source(lib):
    import sncosmo

    src = sncosmo.SALT3Source(modeldir=str(cache_dir() / "salt3-k21"))
    model = sncosmo.Model(source=src)
    p = ObjectParams("salt3-k21", 0.1, 60000.0, -19.36, 1.0, 1.0, 0.1)
    fast = ObjectModel(lib.get("salt3-k21"), p)
    # maven's t_peak is the rest B maximum; SALT's t0 is its phase 0 (meta["template_t0"])
    model.set(z=0.1, t0=float(fast.mjd_of(0.0)), x0=1e-4, x1=1.0, c=0.1)
    t = 60000.0 + np.arange(-10.0, 30.0, 1.0)
    ratios = []
    for band in ("ztf::g", "ztf::r", "ztf::i"):
        ref = model.bandflux(get_band(band).to_sncosmo(), t, zp=23.9, zpsys="ab")
        ratios.append(fast.bandflux([band] * t.size, t) / ref)
    ratios = np.concatenate(ratios)
    # same shapes and colours: a constant ratio (the amplitude) to within 1 %
    assert np.ptp(ratios) / np.median(ratios) < 0.01


@pytest.mark.parametrize(
    "survey,bands,mjd",
    [
        ("ztf", {"ztf::g", "ztf::r", "ztf::i"}, (58288.0, 59823.0)),
        ("lsst", {f"lsst::{b}" for b in "ugrizy"}, (60218.0, 60584.0)),
    ],
)
def test_real_cadence(survey, bands, mjd):
    sne = simulate(25, survey=survey, seed=7)
    held = {tid for v in HELDOUT.values() for tid in v}
    for sn in sne:
        assert sn.meta["cadence"].endswith(".csv.gz")
        lc = sn.lightcurve
        assert set(lc.band) <= bands
        assert mjd[0] <= lc.time.min() and lc.time.max() <= mjd[1]
        assert sn.meta["template"] not in held
        assert lc.detected.sum() >= 2
    assert len({sn.meta["template"] for sn in sne}) > 8


def test_heldout_only_mode():
    cfg = SimConfig(heldout="only", cadence="synthetic")
    sne = simulate(12, config=cfg, seed=1)
    held = {tid for v in HELDOUT.values() for tid in v}
    assert all(sn.meta["template"] in held and sn.meta["template_heldout"] for sn in sne)


def test_shipped_catalogue_rows():
    from maven.simulate.bayesn import bank_ids
    from maven.simulate.grid import NOVEL_CLASSES

    ids = [t.id for t in CATALOG]
    assert len(ids) == len(set(ids)) == 110
    assert [t.id for t in CATALOG if t.family == "bayesn"] == list(bank_ids("M20"))
    assert {t.cls for t in CATALOG} == {"Ia", "II", "Ibc", "IIn", *NOVEL_CLASSES} - {"TDE"}
    assert all(t.relpath.startswith("sed/") and t.citation for t in CATALOG)
