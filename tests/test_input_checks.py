"""Degenerate inputs are named before a model answers them (maven.models.input_checks)."""

import numpy as np
import pytest

from maven import MavenError
from maven.data.records import LightCurve, Spectrum, Supernova
from maven.models import MavenProcessor
from maven.models.input_checks import input_warnings

from .fuzzing import toy_supernova


def _lc(n: int, flux=None) -> LightCurve:
    flux = 100 + np.arange(n, dtype=float) if flux is None else flux
    return LightCurve(58000 + np.arange(n, dtype=float), ["ztf::g"] * n, flux, np.ones(n))


def _spec(flux, lo=4000.0) -> Spectrum:
    return Spectrum(np.linspace(lo, lo + 4000, len(flux)), flux)


def test_good_records_have_no_warning():
    assert input_warnings([toy_supernova(0), toy_supernova(1)]) == [None, None]


def test_degenerate_inputs_are_named():
    one_point = Supernova("a", lightcurve=_lc(1))  # the campaign's "Ia 0.983"
    zero_spectrum = Supernova("b", spectra=[_spec(np.zeros(100))])  # its "II 0.43"
    flat = Supernova("c", lightcurve=_lc(8, np.full(8, 5.0)), spectra=[_spec(np.ones(100))])
    short = Supernova("d", spectra=[_spec(np.arange(5.0) + 1)])
    off_grid = Supernova("e", spectra=[_spec(np.arange(100.0) + 1, lo=20000.0)])
    w = input_warnings([one_point, zero_spectrum, flat, short, off_grid], MavenProcessor())
    assert w[0] == "light curve with 1 detection(s) (fewer than 3)"
    assert w[1] == "all-zero spectrum"
    assert w[2] == "light curve with constant flux; spectrum with constant flux"
    assert w[3] == "spectrum of 5 pixel(s) (fewer than 20)"
    assert w[4].startswith("no spectrum overlaps the model's grid (3000-10000 A)")
    assert input_warnings([off_grid]) == [None]  # without a processor there is no grid


def test_non_detections_do_not_count():
    lc = LightCurve(58000 + np.arange(6.0), ["ztf::r"] * 6, np.arange(6.0), np.ones(6),
                    [True, True, False, False, False, False])  # fmt: skip
    assert "2 detection(s)" in input_warnings([Supernova("x", lightcurve=lc)])[0]


def test_bad_input():
    with pytest.raises(MavenError, match=r"records\[1\]"):
        input_warnings([toy_supernova(), "SN1"])
