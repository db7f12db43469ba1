import numpy as np
import pytest

from maven import MavenError, ValidationError
from maven.data.records import LightCurve, Spectrum, Supernova


def lc(**kw):
    args = dict(
        time=[3.0, 1.0, 2.0],
        band=["ztf::g"] * 3,
        flux=[3.0, 1.0, 2.0],
        flux_err=[0.1, 0.1, 0.1],
        object_id="SN-x",
    )
    args.update(kw)
    return LightCurve(**args)


def test_sorted_and_deduplicated():
    c = lc(
        time=[3.0, 1.0, 2.0, 1.0],
        band=["ztf::g"] * 4,
        flux=[3.0, 1.0, 2.0, 1.0],
        flux_err=[0.1] * 4,
    )
    assert c.time.tolist() == [1.0, 2.0, 3.0]
    assert c.flux.tolist() == [1.0, 2.0, 3.0]
    sn = Supernova("SN-x", lightcurve=c)
    assert sn.skipped == {"duplicate photometric point": 1}
    # same time, other band: both kept
    c2 = lc(time=[1.0, 1.0], band=["ztf::g", "ztf::r"], flux=[1.0, 1.0], flux_err=[0.1, 0.1])
    assert len(c2) == 2


@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(flux=[1.0, np.nan, 2.0]), "lightcurve.flux"),
        (dict(flux=[1.0, np.inf, 2.0]), "lightcurve.flux"),
        (dict(time=[1.0, np.nan, 2.0]), "lightcurve.time"),
        (dict(flux_err=[0.1, 0.0, 0.1]), "lightcurve.flux_err"),
        (dict(flux_err=[0.1, -1.0, 0.1]), "lightcurve.flux_err"),
        (dict(time=[], band=[], flux=[], flux_err=[]), "lightcurve"),
        (dict(flux=[1.0, 2.0]), "lightcurve.flux"),
        (dict(band=["ztf::g", "", "ztf::g"]), "lightcurve.band"),
        (dict(time=[2459000.5, 2459001.5, 2459002.5]), "lightcurve.time"),
        (dict(flux=[1e20, 1.0, 1.0]), "lightcurve.flux"),
        (dict(flux=[[1.0, 2.0, 3.0]]), "lightcurve.flux"),
        (dict(flux=["a", "b", "c"]), "lightcurve.flux"),
    ],
)
def test_bad_lightcurves_name_object_and_field(kw, field):
    with pytest.raises(ValidationError) as err:
        lc(**kw)
    assert err.value.object_id == "SN-x"
    assert err.value.field == field
    assert "SN-x" in str(err.value) and field in str(err.value)
    assert isinstance(err.value, MavenError)


def test_absurd_size(monkeypatch):
    from maven.data import records

    monkeypatch.setitem(records.LIMITS, "max_points", 2)
    with pytest.raises(ValidationError, match="exceeds"):
        lc()


@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(wavelength=[4000, 3000, 5000]), "spectrum.wavelength"),
        (dict(wavelength=[4000, 4000, 5000]), "spectrum.wavelength"),
        (dict(flux=[1.0, np.nan, 1.0]), "spectrum.flux"),
        (dict(flux_err=[1.0, 0.0, 1.0]), "spectrum.flux_err"),
        (dict(wavelength=[0.4, 0.5, 0.6]), "spectrum.wavelength"),
        (dict(wavelength=[4000], flux=[1.0], flux_err=None), "spectrum.wavelength"),
        (dict(mjd=float("nan")), "spectrum.mjd"),
        (dict(flux_unit="Jy"), "spectrum.flux_unit"),
    ],
)
def test_bad_spectra(kw, field):
    args = dict(
        wavelength=[4000.0, 5000.0, 6000.0],
        flux=[1.0, 2.0, 3.0],
        flux_err=[0.1, 0.1, 0.1],
        object_id="SN-y",
    )
    args.update(kw)
    with pytest.raises(ValidationError) as err:
        Spectrum(**args)
    assert err.value.field == field and err.value.object_id == "SN-y"


def test_supernova_checks_and_type_mapping():
    s = Spectrum([4000.0, 5000.0], [1.0, 2.0])
    sn = Supernova(
        " SN2011fe ",
        spectra=[s],
        type_raw="SN Ia",
        redshift="0.0008",
        aliases=["PTF11kly", "SN2011fe", "PTF11kly"],
    )
    assert sn.id == "SN2011fe" and sn.type == "Ia" and sn.redshift == 0.0008
    assert sn.aliases == ["PTF11kly"]
    assert sn.modalities == ("spectrum",)
    with pytest.raises(ValidationError, match="neither"):
        Supernova("empty")
    with pytest.raises(ValidationError, match="redshift"):
        Supernova("z", spectra=[s], redshift=-5)
    with pytest.raises(ValidationError, match="dec"):
        Supernova("d", spectra=[s], dec=100)
    with pytest.raises(ValidationError, match="id"):
        Supernova("", spectra=[s])
    with pytest.raises(ValidationError, match="spectra"):
        Supernova("t", spectra=["not a spectrum"])


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"type": 5}, "type"),
        ({"type_raw": float("nan")}, "type_raw"),
        ({"source": ["file.csv"]}, "source"),
        ({"aliases": "PTF11kly"}, "aliases"),
        ({"aliases": 3}, "aliases"),
        ({"meta": ["x"]}, "meta"),
    ],
)
def test_supernova_rejects_wrong_types(kw, field):
    s = Spectrum([4000.0, 5000.0], [1.0, 2.0])
    with pytest.raises(ValidationError) as err:
        Supernova("SN-w", spectra=[s], **kw)
    assert err.value.field == field and err.value.object_id == "SN-w"


def test_every_error_class_is_exported_from_maven():
    import inspect

    import maven
    from maven import errors

    classes = {
        n for n, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, MavenError)
    }
    assert {"StorageError", "IndexFormatError"} <= classes
    assert classes <= set(maven.__all__)
    assert all(getattr(maven, n) is getattr(errors, n) for n in classes)
