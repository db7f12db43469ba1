import numpy as np
import pytest

from maven.data.bands import get_band
from maven.data.photometry import (
    AB_ZEROPOINT,
    flux_to_mag,
    mag_to_flux,
    rescale_flux,
    upper_limit_to_flux,
)


def test_ab_zero_point_is_one_microjansky():
    # 3631 Jy = 3.631e9 uJy is AB magnitude 0; 1 uJy is 23.9 (to 4 decimals)
    assert AB_ZEROPOINT == 23.9
    assert mag_to_flux(0.0) == pytest.approx(10 ** (0.4 * 23.9))
    assert -2.5 * np.log10(1 / 3.631e9) == pytest.approx(23.9, abs=1e-4)


def test_hand_computed_values():
    assert mag_to_flux(23.9) == pytest.approx(1.0)
    assert mag_to_flux(18.9) == pytest.approx(100.0)
    f, e = mag_to_flux(20.0, 0.1)
    assert f == pytest.approx(36.307805477, rel=1e-9)  # 10**(0.4*3.9)
    assert e == pytest.approx(36.307805477 * np.log(10) / 2.5 * 0.1, rel=1e-9)


def test_vega_magnitudes_go_through_the_band_offset():
    band = get_band("bessell::B")
    f_vega = mag_to_flux(15.0, vega_to_ab=band.vega_to_ab)
    assert f_vega == pytest.approx(mag_to_flux(15.0 + band.vega_to_ab))
    assert flux_to_mag(f_vega, vega_to_ab=band.vega_to_ab) == pytest.approx(15.0)


def test_round_trip_and_non_positive_flux():
    mags = np.array([12.0, 18.5, 25.2])
    errs = np.array([0.01, 0.05, 0.3])
    f, e = mag_to_flux(mags, errs)
    m2, e2 = flux_to_mag(f, e)
    np.testing.assert_allclose(m2, mags, rtol=1e-12)
    np.testing.assert_allclose(e2, errs, rtol=1e-12)
    m, err = flux_to_mag(np.array([-1.0, 0.0]), np.array([1.0, 1.0]))
    assert np.isnan(m).all() and np.isnan(err).all()


def test_rescale_flux_snana_fluxcal():
    # SNANA FLUXCAL has zero point 27.5: FLUXCAL = 10**(0.4*(27.5 - m))
    fluxcal = 10 ** (0.4 * (27.5 - 20.0))
    f, e = rescale_flux(fluxcal, 0.1 * fluxcal, 27.5)
    assert f == pytest.approx(mag_to_flux(20.0))
    assert e == pytest.approx(0.1 * mag_to_flux(20.0))


def test_upper_limit():
    f, e = upper_limit_to_flux(21.0, n_sigma=5)
    assert f == 0.0
    assert e == pytest.approx(mag_to_flux(21.0) / 5)
    with pytest.raises(ValueError):
        upper_limit_to_flux(21.0, n_sigma=0)
