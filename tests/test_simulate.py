"""Simulator core: configuration, determinism, schema, the no-template-dir fallback."""

from __future__ import annotations

import json

import numpy as np
import pytest

from maven.errors import ConfigError, FormatError
from maven.io.dataset import read_dataset, write_dataset
from maven.simulate import (
    DEFAULT_CLASSES,
    SimConfig,
    find_template_dir,
    provenance,
    simulate,
    simulate_dataset,
)
from maven.simulate.spectra import TELLURIC_BANDS

TINY = SimConfig.preset("tiny")


@pytest.fixture(scope="module")
def tiny_sample():
    return simulate(40, seed=3, shard=0, config=TINY)


def test_fallback_runs_without_template_dir(tiny_sample):
    sne = tiny_sample
    assert len(sne) == 40
    assert {sn.type for sn in sne} == set(DEFAULT_CLASSES)  # balanced mix, every class drawn
    fams = {sn.meta["template_family"] for sn in sne}
    assert fams <= {"hsiao", "physics"}
    ia = [sn for sn in sne if sn.type == "Ia"]
    assert all(sn.meta["template"] == "hsiao-subsampled" for sn in ia)
    for sn in sne:
        assert sn.meta["simulated"] is True and sn.meta["cadence"] == "synthetic"
        assert sn.lightcurve.detected.sum() >= 2  # trigger rule
        assert set(sn.lightcurve.band) <= {"ztf::g", "ztf::r"}
        assert 0 < sn.redshift == sn.meta["z"]
        for key in (
            "t_peak",
            "peak_abs_mag",
            "stretch",
            "host_av",
            "host_rv",
            "mwebv",
            "template",
            "class",
            "distmod",
            "flux_scale",
        ):
            assert key in sn.meta
    prov = provenance(TINY, 0)
    assert prov["template_dir"] is None and prov["cadence"] == "synthetic"
    assert any("sncosmo wheel" in s for s in prov["templates"]["Ia"])


def test_spectra_are_realistic(tiny_sample):
    n_spec = 0
    for sn in tiny_sample:
        for s in sn.spectra:
            n_spec += 1
            assert s.flux_err is not None and (s.flux_err > 0).all()
            assert 3000 <= s.wavelength[0] and s.wavelength[-1] <= 11000
            for a, b in TELLURIC_BANDS:
                assert not ((s.wavelength >= a) & (s.wavelength <= b)).any()
            assert 80 <= s.meta["resolution"] <= 1000
            assert -5 <= s.meta["phase_rest"] <= 15
            assert s.flux_unit == "erg/s/cm2/A"
            assert (
                abs((s.mjd - sn.meta["t_peak"]) / (1 + sn.redshift) - s.meta["phase_rest"]) < 1e-6
            )
    assert n_spec >= 35  # one per object unless the model does not cover the range


def test_deterministic_per_seed_and_shard():
    a = simulate(8, seed=11, shard=2, config=TINY)
    b = simulate(8, seed=11, shard=2, config=TINY)
    c = simulate(8, seed=11, shard=3, config=TINY)
    d = simulate(8, seed=12, shard=2, config=TINY)
    assert all(x.equals(y) for x, y in zip(a, b, strict=True))
    assert not any(
        np.array_equal(x.lightcurve.flux, y.lightcurve.flux) for x, y in zip(a, c, strict=True)
    )
    assert a[0].meta["z"] != d[0].meta["z"]
    assert len({sn.id for sn in a + c}) == 16  # ids unique across shards


def test_schema_round_trip(tmp_path, tiny_sample):
    out = write_dataset(
        tiny_sample, tmp_path / "ds", prefix="shard-00000", provenance=provenance(TINY, 3)
    )
    back = read_dataset(out)
    assert len(back) == len(tiny_sample)
    assert all(x.equals(y) for x, y in zip(tiny_sample, back, strict=True))


def test_simulate_dataset_shards(tmp_path):
    out = simulate_dataset(
        tmp_path / "sim", 25, seed=5, workers=1, shard_size=10, config=TINY, progress=False
    )
    files = sorted(p.name for p in out.glob("*.parquet"))
    assert files == [f"shard-{k:05d}-00000.parquet" for k in range(3)]
    back = read_dataset(out)
    assert len(back) == 25
    manifest = json.loads((out / "maven_dataset.json").read_text())
    assert manifest["n_supernovae"] == 25 and manifest["n_shards"] == 3
    assert manifest["provenance"]["generator"] == "maven.simulate"
    # the manifest records each shard's size, rows and sha256, as maven convert's does
    assert set(manifest["files"]) == set(files)
    assert sum(f["rows"] for f in manifest["files"].values()) == 25
    from maven.io.dataset import load_dataset

    shard = out / files[0]
    shard.write_bytes(shard.read_bytes()[:-8] + b"\0" * 8)  # same size, other bytes
    with pytest.raises(FormatError, match="sha256|checksum|hash"):
        load_dataset(out)
    # any shard regenerates alone: shard 1 == simulate(10, seed=5, shard=1)
    again = simulate(10, seed=5, shard=1, config=TINY)
    shard1 = [sn for sn in back if sn.meta["shard"] == 1]
    assert all(x.equals(y) for x, y in zip(again, shard1, strict=True))
    with pytest.raises(Exception, match="overwrite"):
        simulate_dataset(out, 5, config=TINY, progress=False)


def test_lsst_synthetic_and_class_subset():
    sne = simulate(6, survey="lsst", classes=["SLSN-I"], seed=1, config=TINY)
    assert {sn.type for sn in sne} == {"SLSN-I"}
    assert all(b.startswith("lsst::") for sn in sne for b in sn.lightcurve.band)
    assert all(sn.meta["template"].startswith("magnetar-") for sn in sne)
    assert not any(sn.meta["template_heldout"] for sn in sne)


def test_heldout_only_draws_heldout_ids():
    cfg = SimConfig.preset("tiny", heldout="only", classes=("SLSN-I",))
    sne = simulate(4, config=cfg)
    assert all(sn.meta["template_heldout"] for sn in sne)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"survey": "hst"},
        {"classes": ("Ia", "XRB")},
        {"classes": ()},
        {"heldout": "sometimes"},
        {"cadence": "weekly"},
        {"z_min": 0.5, "z_cap": 0.1},
        {"z_max": -1.0},
        {"calib_floor": 2.0},
        {"spec_phase": (10.0, -5.0)},
        {"spec_snr": (0.0, 10.0)},
        {"class_weights": {"Ia": -1.0}},
        {"class_weights": {"II": 1.0}, "classes": ("Ia",)},
        {"n_spectra": -1},
    ],
)
def test_bad_config_raises(kwargs):
    with pytest.raises(ConfigError, match="simulation config"):
        SimConfig(**kwargs)


def test_bad_config_other_paths(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="unknown keys"):
        SimConfig.from_dict({"survey": "ztf", "n_objects": 3})
    with pytest.raises(ConfigError, match="unknown preset"):
        SimConfig.preset("huge")
    with pytest.raises(ConfigError):
        simulate(-1, config=TINY)
    with pytest.raises(ConfigError, match="not a directory"):
        find_template_dir(tmp_path / "nope")
    monkeypatch.setenv("MAVEN_TEMPLATE_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="not a directory"):
        find_template_dir()
    with pytest.raises(ConfigError, match="cadence='real'"):
        simulate(1, config=SimConfig(use_templates=False, cadence="real"))


def test_template_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MAVEN_TEMPLATE_DIR", str(tmp_path))
    assert find_template_dir() == tmp_path.resolve()
    # an empty template dir: every class falls back, nothing breaks
    cfg = SimConfig(cadence="synthetic", classes=("Ia", "II"))
    sne = simulate(3, config=cfg)
    assert {sn.meta["template_family"] for sn in sne} <= {"hsiao", "physics"}


def test_simulate_dataset_parallel_matches_serial(tmp_path):
    kw = dict(seed=9, shard_size=6, config=TINY, progress=False)
    a = read_dataset(simulate_dataset(tmp_path / "a", 12, workers=1, **kw))
    b = read_dataset(simulate_dataset(tmp_path / "b", 12, workers=2, **kw))
    key = sorted
    assert key(sn.id for sn in a) == key(sn.id for sn in b)
    bb = {sn.id: sn for sn in b}
    assert all(sn.equals(bb[sn.id]) for sn in a)


def test_job_array_shards_then_manifest(tmp_path):
    from maven.simulate import simulate_shard, write_manifest

    for shard in (1, 0):  # tasks finish in any order
        res = simulate_shard(tmp_path, 5, seed=2, shard=shard, config=TINY)
        assert res["n"] == 5
    path = write_manifest(tmp_path, config=TINY, seed=2)
    manifest = json.loads(path.read_text())
    assert manifest["n_supernovae"] == 10 and manifest["n_shards"] == 2
    assert sum(manifest["counts_per_type"].values()) == 10
    assert len(read_dataset(tmp_path)) == 10
