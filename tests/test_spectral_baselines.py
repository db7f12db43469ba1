"""The spectral baselines of maven crossval on toy spectra with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from maven.data.records import Spectrum, Supernova
from maven.errors import MavenError
from maven.evaluation.spectral_baselines import (
    CrossCorrelationRedshift,
    SpectrumCorrelationClassifier,
    SpectrumLinearClassifier,
    continuum_divided,
)
from maven.models import MavenProcessor

from .toy import toy_supernovae

#: rest-frame line centres (A) and depths of two toy classes (negative: absorption)
LINES = {"A": [(4100, -0.5), (6150, -0.6)], "B": [(4861, 0.8), (6563, 1.5)]}


def _object(i: int, kind: str, z: float, rng) -> Supernova:
    wave = np.linspace(3600, 9600, 1800)
    rest = wave / (1 + z)
    flux = (rest / 6000) ** rng.uniform(-2.5, -0.5)
    for centre, depth in LINES[kind]:
        flux = flux * (1 + depth * np.exp(-0.5 * ((rest - centre) / rng.uniform(40, 70)) ** 2))
    flux = flux + rng.normal(0, 0.01, wave.size)
    spec = Spectrum(wave, flux, np.full(wave.size, 0.01), flux_unit="uncalibrated")
    return Supernova(f"toy{i}", spectra=[spec], type_raw="Ia" if kind == "A" else "II", redshift=z)


def _sample(n: int, seed: int) -> list[Supernova]:
    rng = np.random.default_rng(seed)
    return [_object(i, "AB"[i % 2], float(rng.uniform(0.01, 0.3)), rng) for i in range(n)]


def test_continuum_division_flattens_a_slope_and_keeps_a_line():
    x = np.linspace(0, 1, 300)
    flux = (1 + 3 * x) * (1 - 0.5 * np.exp(-0.5 * ((x - 0.5) / 0.01) ** 2))
    mask = np.ones_like(flux, bool)
    mask[:20] = False
    flat = continuum_divided(flux[None], mask[None], 24)[0]
    assert np.all(flat[:20] == 0)  # masked bins stay 0
    assert abs(np.median(flat[mask])) < 0.02  # the slope is gone
    assert flat[150] < -0.4  # the line is kept


@pytest.mark.parametrize("cls", [SpectrumLinearClassifier, SpectrumCorrelationClassifier])
def test_spectral_classifiers_separate_line_patterns_in_the_rest_frame(cls):
    train, test = _sample(60, 0), _sample(20, 1)
    clf = cls(MavenProcessor(spectrum_frame="rest")).fit(train, [sn.type for sn in train])
    proba = clf.predict_proba(test)
    assert proba.shape == (20, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert clf.predict(test) == [sn.type for sn in test]


def test_spectral_classifiers_refuse_bad_input():
    proc = MavenProcessor(spectrum_frame="rest")
    train = _sample(6, 0)
    with pytest.raises(MavenError, match="targets"):
        SpectrumLinearClassifier(proc).fit(train, ["Ia"] * 5)
    with pytest.raises(MavenError, match="2 classes"):
        SpectrumCorrelationClassifier(proc).fit(train, ["Ia"] * 6)
    no_z = [Supernova("x", spectra=train[0].spectra, type_raw="Ia")]
    clf = SpectrumCorrelationClassifier(proc).fit(train, [sn.type for sn in train])
    with pytest.raises(MavenError, match="no usable spectrum"):
        clf.predict(no_z)  # a rest-frame baseline has no spectrum without a redshift
    with pytest.raises(MavenError, match="k must be"):
        SpectrumCorrelationClassifier(proc, k=0)


def test_cross_correlation_recovers_the_redshift_without_reading_it():
    train, test = _sample(40, 2), _sample(10, 3)
    reg = CrossCorrelationRedshift().fit(train, [sn.redshift for sn in train])
    truth = np.array([sn.redshift for sn in test])
    hidden = [Supernova(sn.id, spectra=sn.spectra) for sn in test]  # no redshift given
    z = reg.predict(hidden)
    np.testing.assert_allclose((z - truth) / (1 + truth), 0.0, atol=0.002)
    with pytest.raises(MavenError, match="not fitted"):
        CrossCorrelationRedshift().predict(hidden)
    with pytest.raises(MavenError, match="no spectrum"):
        reg.predict([Supernova("lc-only", lightcurve=toy_supernovae(1)[0].lightcurve)])
