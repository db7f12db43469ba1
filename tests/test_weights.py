"""The committed weights load with the public API and give sane predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from maven.models import MavenForSupernovaClassification, MavenModel
from maven.models.inference import predict
from maven.models.loading import from_pretrained
from maven.simulate import SimConfig, simulate

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "maven-base"
REDSHIFT = WEIGHTS.parent / "maven-base-redshift"


@pytest.fixture(scope="module")
def shipped():
    if not (WEIGHTS / "config.json").exists():
        pytest.skip(f"no shipped weights at {WEIGHTS}")
    return from_pretrained(WEIGHTS)


def test_shipped_classifier_loads_and_predicts_every_modality(shipped):
    model, processor = shipped
    assert isinstance(model, MavenForSupernovaClassification)
    assert list(model.config.id2label.values()) == ["Ia", "II", "Ibc", "IIn", "SLSN-I"]
    assert model.config.head_modality == "both"
    sne = simulate(12, seed=3, config=SimConfig.preset("tiny"))
    light_curve_only = [
        s.__class__(s.id, lightcurve=s.lightcurve, redshift=s.redshift) for s in sne
    ]
    # a rest-frame spectrum needs its redshift (without one the model has no spectrum input)
    spectrum_only = [
        s.__class__(s.id, spectra=s.spectra, redshift=s.redshift) for s in sne if s.spectra
    ]
    for records in (sne, light_curve_only, spectrum_only):
        out = predict(model, processor, records)
        assert out["probabilities"].shape == (len(records), 5)
        np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, atol=1e-5)
        assert set(out["predicted"]) <= set(out["labels"])
    # the fine-tuned towers are a MavenModel for embeddings and search
    towers = MavenModel.from_pretrained(WEIGHTS)
    assert towers.config.projection_dim == model.config.projection_dim


def test_shipped_model_card_reports_per_class_and_redshift(shipped):
    card = (WEIGHTS / "README.md").read_text()
    for needle in ("library_name: transformers", "Per class", "Per redshift bin", "scratch"):
        assert needle in card, needle


def test_shipped_redshift_model_gives_a_redshift_from_each_input():
    if not (REDSHIFT / "config.json").exists():
        pytest.skip(f"no shipped weights at {REDSHIFT}")
    model, processor = from_pretrained(REDSHIFT)
    assert model.config.head_fusion == "per_input" and model.template_bank() is not None
    sne = [s for s in simulate(12, seed=4, config=SimConfig.preset("tiny")) if s.spectra]
    # the redshift is the answer: the records carry none
    light_curve_only = [s.__class__(s.id, lightcurve=s.lightcurve) for s in sne]
    spectrum_only = [s.__class__(s.id, spectra=s.spectra) for s in sne]
    both = [s.__class__(s.id, lightcurve=s.lightcurve, spectra=s.spectra) for s in sne]
    answers = []
    for records in (light_curve_only, spectrum_only, both):
        out = predict(model, processor, records)
        assert np.isfinite(out["redshift"]).all() and (out["redshift"] > -0.1).all()
        assert (out["redshift_sigma"] > 0).all()
        answers.append(out["redshift"])
    # each input set reaches its own head: the answers differ
    assert not np.allclose(answers[0], answers[1]) and not np.allclose(answers[0], answers[2])
