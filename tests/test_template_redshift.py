"""Template cross-correlation redshifts: the bank, its averaged form, the window around the
network's estimate, and the redshift head that stores its templates in the weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maven.data.records import Spectrum, Supernova
from maven.errors import ConfigError, MavenError
from maven.models import MavenConfig, MavenForRedshift, MavenModel, MavenProcessor
from maven.models.inference import predict
from maven.models.template_redshift import TemplateBank, refine_redshifts
from maven.simulate import SimConfig, simulate
from maven.training.finetune import FinetuneConfig, finetune

from .toy import toy_supernovae

#: rest-frame lines (A, relative depth) of the toy family; two strong lines 1.6x apart
LINES = [(4100.0, -0.5), (5000.0, 0.6), (6563.0, -0.7)]


def _spectrum(z: float, rng, lines=LINES) -> Spectrum:
    wave = np.linspace(3600, 9600, 2000)
    rest = wave / (1 + z)
    flux = (rest / 6000) ** rng.uniform(-2.0, -0.5)
    for centre, depth in lines:
        flux = flux * (1 + depth * np.exp(-0.5 * ((rest - centre) / rng.uniform(40, 60)) ** 2))
    return Spectrum(wave, flux + rng.normal(0, 0.005, wave.size), np.full(wave.size, 0.005))


def _records(n: int, seed: int) -> list[Supernova]:
    rng = np.random.default_rng(seed)
    return [
        Supernova(f"s{i}", spectra=[_spectrum(z, rng)], redshift=z)
        for i, z in enumerate(rng.uniform(0.01, 0.3, n))
    ]


@pytest.fixture(scope="module")
def bank():
    train = _records(30, 0)
    return TemplateBank.from_supernovae(train, [sn.redshift for sn in train])


def test_full_bank_recovers_redshift_and_its_window_is_obeyed(bank):
    test = _records(8, 1)
    for sn in test:
        est = bank.estimate(sn.spectra[0])
        assert abs(est.z - sn.redshift) / (1 + sn.redshift) < 0.002
        assert est.spread >= 1e-4 and est.score > 0.3
        # a window that excludes the truth returns a redshift inside it, never the truth
        lo, hi = sn.redshift + 0.05, sn.redshift + 0.1
        off = bank.estimate(sn.spectra[0], lo, hi)
        assert lo - 1e-9 <= off.z <= hi + 1e-9
        assert off.score < est.score
    # a window narrower than three lags gives no estimate
    assert np.isnan(bank.estimate(test[0].spectra[0], 0.1, 0.1).z)


def test_averaged_bank_keeps_accuracy_and_stores_no_single_spectrum(bank):
    avg = bank.averaged(4, min_members=5)
    assert 1 <= len(avg) <= 4
    # each template is a mean of >= 5 spectra: none equals a training spectrum
    for t in avg.flux:
        assert not any(np.allclose(t, row, atol=1e-6) for row in bank.flux)
    for sn in _records(6, 2):
        est = avg.estimate(sn.spectra[0])
        assert abs(est.z - sn.redshift) / (1 + sn.redshift) < 0.003
    with pytest.raises(MavenError, match="no cluster"):
        bank.averaged(4, min_members=31)
    with pytest.raises(ConfigError, match="k must be"):
        bank.averaged(0)


def test_bank_refuses_bad_templates():
    with pytest.raises(ConfigError, match="templates must be"):
        TemplateBank(np.zeros((2, 100)), np.ones((2, 100), bool))
    with pytest.raises(ConfigError, match="finite"):
        TemplateBank(np.full((1, 1024), np.nan), np.ones((1, 1024), bool))
    with pytest.raises(ConfigError, match="wave_min"):
        TemplateBank(np.zeros((1, 1024)), np.ones((1, 1024), bool), grid=(5000.0, 3000.0, 1024))
    with pytest.raises(MavenError, match="fewer than 2"):
        TemplateBank.from_supernovae(_records(1, 0), [0.1])


def test_refine_keeps_the_network_where_it_cannot_correlate(bank):
    recs = _records(3, 3) + [Supernova("lc", lightcurve=toy_supernovae(1)[0].lightcurve)]
    z_true = np.array([sn.redshift for sn in recs[:3]] + [0.1])
    z0 = z_true + 0.01  # a network estimate 0.01 off, sigma 0.01: the window holds the truth
    out = refine_redshifts(bank, recs, z0, np.full(4, 0.01), window_sigma=3.0, sigma_scale=2.0)
    assert np.all(np.abs(out["redshift"][:3] - z_true[:3]) < 0.002)
    assert np.all(np.isfinite(out["template_score"][:3]))
    # the light-curve-only record keeps the network's estimate and sigma
    assert out["redshift"][3] == z0[3] and out["redshift_sigma"][3] == 0.01
    assert np.isnan(out["template_score"][3])
    np.testing.assert_array_equal(out["redshift_network"], z0)


def test_redshift_head_stores_its_templates_in_the_weights(bank, tmp_path):
    torch.manual_seed(0)
    model = MavenForRedshift(MavenConfig.from_preset("tiny"), head_modality="spectrum")
    assert model.template_bank() is None
    model.set_template_bank(bank.averaged(4))
    model.config.redshift_template_window = 1e3  # the untrained network's sigma is arbitrary
    model.save_pretrained(tmp_path)
    again = MavenForRedshift.from_pretrained(tmp_path)
    np.testing.assert_array_equal(again.template_bank().flux, model.template_bank().flux)
    assert again.config.redshift_templates == len(model.template_bank())
    recs = _records(4, 4)
    pred = predict(again, MavenProcessor(), recs)
    assert np.all(np.isfinite(pred["template_score"]))
    truth = np.array([sn.redshift for sn in recs])
    assert np.all(np.abs(pred["redshift"] - truth) / (1 + truth) < 0.003)
    assert not np.allclose(pred["redshift_network"], pred["redshift"])
    model.set_template_bank(None)
    assert model.template_bank() is None and "template_flux" not in model.state_dict()


@pytest.mark.parametrize(
    "bad",
    [
        {"redshift_templates": -1},
        {"redshift_templates": 4, "redshift_template_grid": None},
        {"redshift_templates": 4, "redshift_template_grid": [9000.0, 3000.0, 1024]},
        {"redshift_template_window": 0.0},
        {"redshift_template_sigma_scale": float("inf")},
    ],
)
def test_head_refuses_bad_template_settings(bad):
    with pytest.raises(ConfigError, match="redshift_template"):
        MavenForRedshift(MavenConfig.from_preset("tiny"), **bad)


def test_recipe_refuses_templates_without_a_spectral_redshift():
    with pytest.raises(ConfigError, match="redshift_templates needs"):
        FinetuneConfig(task="classification", redshift_templates=8)
    with pytest.raises(ConfigError, match="redshift_templates needs"):
        FinetuneConfig(task="redshift", modality="photometry", redshift_templates=8)
    with pytest.raises(ConfigError, match="redshift_templates"):
        FinetuneConfig(task="redshift", modality="spectrum", redshift_templates=-2)


def test_finetune_fits_templates_on_training_spectra_and_calibrates_them(tmp_path):
    sims = simulate(120, seed=5, config=SimConfig.preset("tiny"))
    torch.manual_seed(0)
    MavenModel(MavenConfig.from_preset("tiny")).save_pretrained(tmp_path / "pre")
    MavenProcessor().save_pretrained(tmp_path / "pre")
    config = FinetuneConfig(
        model=str(tmp_path / "pre"),
        task="redshift",
        modality="spectrum",
        epochs=1,
        batch_size=32,
        redshift_templates=8,
    )
    model, processor, summary = finetune(config, sims, tmp_path / "z", progress=False)
    cal = summary["calibration"]
    assert 1 <= cal["redshift_templates"] <= 8 == config.redshift_templates
    assert cal["redshift_template_sigma_scale"] == model.config.redshift_template_sigma_scale
    again = MavenForRedshift.from_pretrained(tmp_path / "z")
    assert again.config.redshift_templates == cal["redshift_templates"]
    pred = predict(again, processor, sims[:10])
    assert {"redshift_network", "template_score"} <= set(pred)


def test_crossval_reports_the_network_alone_beside_the_refined_redshift(tmp_path):
    from maven.evaluation.crossval import crossval

    sims = simulate(100, seed=6, config=SimConfig.preset("tiny"))
    config = FinetuneConfig(
        preset="tiny", task="redshift", modality="spectrum", epochs=1, redshift_templates=6
    )
    result = crossval(config, sims, tmp_path, n_folds=2, methods=("maven",), progress=False)
    assert list(result["methods"]) == ["maven", "maven_network"]
    net = result["methods"]["maven_network"]["folds"]
    assert [f["n_test"] for f in net] == [f["n_test"] for f in result["methods"]["maven"]["folds"]]
    assert (tmp_path / "maven_network" / "predictions.csv").exists()
    assert "maven_network" in (tmp_path / "crossval.md").read_text()


def test_crossval_of_a_both_input_redshift_recipe_runs_each_baseline_on_its_input(tmp_path):
    import dataclasses

    from maven.evaluation.crossval import crossval, paired_differences

    sims = simulate(90, seed=9, config=SimConfig.preset("tiny"))
    records = [
        dataclasses.replace(sn, spectra=[]) if k % 3 == 0 else sn for k, sn in enumerate(sims)
    ]
    config = FinetuneConfig(preset="tiny", task="redshift", modality="both", epochs=1)
    methods = ("maven", "features", "xcorr")
    result = crossval(config, records, tmp_path, n_folds=2, methods=methods, progress=False)
    n_test = {name: sum(f["n_test"] for f in r["folds"]) for name, r in result["methods"].items()}
    with_spectrum = sum(1 for sn in records if sn.spectra)
    assert n_test == {
        "maven": len(records),
        "maven_photometry_only": len(records),
        "maven_spectrum_only": with_spectrum,
        "features": len(records),
        "xcorr": with_spectrum,
    }
    pairs = {p["method"]: p["against"] for p in paired_differences(result)}
    assert pairs == {"features": "maven_photometry_only", "xcorr": "maven_spectrum_only"}


def test_finetuning_from_a_head_with_templates_refits_them(tmp_path):
    sims = simulate(80, seed=8, config=SimConfig.preset("tiny"))
    config = FinetuneConfig(
        preset="tiny", task="redshift", modality="spectrum", epochs=1, redshift_templates=6
    )
    finetune(config, sims, tmp_path / "first", progress=False)
    again = FinetuneConfig(
        model=str(tmp_path / "first"), task="redshift", modality="spectrum", epochs=1
    )
    model, _, summary = finetune(again, sims, progress=False)  # no templates asked: none kept
    assert model.template_bank() is None and "redshift_templates" not in summary["calibration"]
