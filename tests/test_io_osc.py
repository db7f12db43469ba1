"""Tests of the Open Supernova Catalog reader (:mod:`maven.io.osc`)."""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import maven.io.osc as osc
from maven.data.bands import get_band
from maven.data.photometry import mag_to_flux
from maven.errors import FormatError, MavenError, UnknownBandError
from maven.io.common import read_head

K = math.log(10) / 2.5  # d flux / flux per magnitude


def ujy(mag: float) -> float:
    """AB magnitude -> uJy, written out by hand."""
    return 10 ** (-0.4 * (mag - 23.9))


@pytest.fixture
def fake_bands(monkeypatch):
    """A tiny band registry: g, r (AB), V (Vega, m_AB - m_Vega = 0.1); nothing else."""

    def resolve(band, *, telescope=None, instrument=None, system=None, survey=None):
        if band not in ("g", "r", "V"):
            raise UnknownBandError(band)
        return SimpleNamespace(name=f"test::{band}", magsys="Vega" if band == "V" else "AB")

    def offset(band, system):
        if system not in (None, "AB", "Vega"):
            raise UnknownBandError(system)
        kind = system or band.magsys
        return 0.1 if kind == "Vega" else 0.0

    monkeypatch.setattr(osc, "resolve_band", resolve)
    monkeypatch.setattr(osc, "ab_offset", offset)


def point(time="58000.0", **kw) -> dict:
    return {"time": time, "u_time": "MJD", "source": "1", **kw}


def event(**kw) -> dict:
    """A hand-written OSC event with everything the reader has to handle."""
    e = {
        "schema": "https://github.com/astrocatalogs/supernovae/blob/d3ef5fc/SCHEMA.md",
        "name": "SN2099abc",
        "alias": [
            {"value": "SN2099abc", "source": "1"},
            {"value": "PTF99xyz", "source": "2"},
            {"value": '<a id="PSNJ1">PSN J1</a>', "source": "2"},
        ],
        "sources": [{"name": "2099ApJ...1....1A", "alias": "1"}],
        "claimedtype": [
            {"value": "Ia", "probability": "0.9", "source": "1"},
            {"value": "Candidate", "source": "1"},
            {"value": "Ib", "kind": "photometric", "source": "1"},
            {"value": "II P", "source": "2"},
            {"value": "IIb", "source": "1"},
        ],
        "redshift": [{"value": "0.05", "source": "1"}, {"value": "0.051", "kind": "host"}],
        "ra": [
            {"value": "12:30:00.0", "u_value": "hours"},
            {"value": "12:31:00", "u_value": "hours"},
        ],
        "dec": [{"value": "-45:30:00", "u_value": "degrees"}],
        "ebv": [{"value": "0.0200", "source": "1"}],
        "maxdate": [{"value": "2017/09/05", "source": "1"}],
        "discoverdate": [{"value": "2017/08/20", "source": "1"}],
        "host": [{"value": "NGC 1", "source": "1"}],
        "photometry": [
            point(band="g", magnitude="20.0", e_magnitude="0.1"),
            point(
                "58001.0",
                band="V",
                magnitude="19.0",
                e_lower_magnitude="0.1",
                e_upper_magnitude="0.3",
                system="Vega",
            ),
            # forced-photometry upper limit: flux from the count rate
            point(
                "58002.0",
                band="r",
                magnitude="22.0",
                upperlimit=True,
                upperlimitsigma="5.0",
                countrate="100",
                e_countrate="20",
                zeropoint="27.5",
                u_countrate="s^-1",
            ),
            # plain limiting magnitudes (5 sigma, and 3 sigma by default)
            point("58003.0", band="g", magnitude="21.0", upperlimit=True, upperlimitsigma="5.0"),
            point("58004.0", band="g", magnitude="22.0", upperlimit=True),
            # a detection with a count rate still uses its magnitude
            point(
                "58005.0",
                band="r",
                magnitude="18.0",
                e_magnitude="0.05",
                countrate="1",
                e_countrate="1",
                zeropoint="30",
            ),
            point("58006.0", band="r", magnitude="18.5", e_magnitude="0.05", includeshost=True),
            # dropped:
            point(
                "58007.0",
                instrument="VLA",
                frequency="8.5",
                u_frequency="GHz",
                fluxdensity="0.1",
                e_fluxdensity="0.02",
                u_fluxdensity="mJy",
            ),
            point(
                "58008.0",
                instrument="Chandra",
                energy=["0.3", "10"],
                flux="1e-15",
                u_flux="ergs/s/cm^2",
            ),
            point("58009.0", band="g", magnitude="19.5"),  # no uncertainty
            point("58010.0", band="g", magnitude="19.6", e_magnitude="0.0"),  # zero (Gaia style)
            point("58011.0", band="g", magnitude="19.7", e_magnitude="0.1", synthetic=True),
            {**point("2458012.5", band="g", magnitude="19.8", e_magnitude="0.1"), "u_time": "JD"},
            point("58013.0", magnitude="19.9", e_magnitude="0.1"),  # no band
            point("58014.0", band="X", telescope="Foo", magnitude="19.0", e_magnitude="0.1"),
            point("58015.0", band="X", telescope="Foo", magnitude="19.0", e_magnitude="0.1"),
            point(["58016", "58018"], band="g", magnitude="25.0", e_magnitude="0.1"),
        ],
        "spectra": [
            {
                "time": "58010.5",
                "u_time": "MJD",
                "u_wavelengths": "Angstrom",
                "u_fluxes": "erg/s/cm^2/Angstrom",
                "u_errors": "ergs/s/cm^2/Angstrom",
                "instrument": "Kast",
                "telescope": "Lick 3m",
                "snr": "20",
                "filename": "a.dat",
                "source": "1",
                "data": [
                    ["4000.0", "1.5e-15", "1e-16"],
                    ["4001.0", "1.6e-15", "1e-16"],
                    ["4002.0", "1.7e-15", "1e-16"],
                ],
            },
            {
                "time": "58011",
                "u_time": "MJD",
                "u_wavelengths": "Angstrom",
                "u_fluxes": "Uncalibrated",
                "filename": "b.dat",
                "source": "1",
                "data": [["5002", "3"], ["5001", "2"], ["5000", "1"]],
            },
            {
                "time": "58012",
                "u_time": "MJD",
                "u_wavelengths": "Angstrom",
                "u_fluxes": "Uncalibrated",
                "deredshifted": True,
                "redshift": "0.1",
                "data": [["4000", "1"], ["5000", "1"]],
            },
            {
                "time": "58013",
                "u_time": "MJD",
                "u_wavelengths": "Angstrom",
                "u_fluxes": "Uncalibrated",
                "deredshifted": True,
                "data": [["4000", "1"], ["5000", "1"]],
            },
            {
                "time": "58014",
                "u_time": "MJD",
                "u_wavelengths": "Hz",
                "u_fluxes": "Uncalibrated",
                "data": [["1e15", "1"], ["2e15", "1"]],
            },
        ],
        "_realdata": {"source_repo": "astrocatalogs/sne-2099", "path": "SN2099abc.json"},
    }
    e.update(kw)
    return e


def write(tmp_path: Path, content, name: str = "SN2099abc.json") -> Path:
    path = tmp_path / name
    text = content if isinstance(content, str) else json.dumps(content)
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.fixture
def sn(tmp_path, fake_bands):
    (out,) = osc.read(write(tmp_path, {"SN2099abc": event()}))
    return out


def test_scalars(sn):
    assert sn.id == "SN2099abc"
    assert sn.type_raw == "II P" and sn.type == "II"
    assert sn.redshift == 0.05
    assert sn.ra == pytest.approx(187.5, abs=1e-9) and sn.dec == pytest.approx(-45.5, abs=1e-9)
    assert sn.mwebv == 0.02
    assert sn.aliases == ["PTF99xyz", "PSN J1"]
    assert sn.source == "osc:astrocatalogs/sne-2099"
    assert [t["value"] for t in sn.meta["claimedtype_all"]] == [
        "Ia",
        "Candidate",
        "Ib",
        "II P",
        "IIb",
    ]
    assert [z["value"] for z in sn.meta["redshift_all"]] == ["0.05", "0.051"]
    for key in ("maxdate", "discoverdate", "host", "_realdata", "sources"):
        assert key in sn.meta
    json.dumps(sn.meta)  # JSON-serialisable


def test_photometry(sn):
    lc = sn.lightcurve
    rows = {
        t: (b, f, e, d)
        for t, b, f, e, d in zip(lc.time, lc.band, lc.flux, lc.flux_err, lc.detected, strict=True)
    }
    assert sorted(rows) == [58000.0, 58001.0, 58002.0, 58003.0, 58004.0, 58005.0, 58006.0]
    f = ujy(20.0)
    assert rows[58000.0] == ("test::g", pytest.approx(f), pytest.approx(f * K * 0.1), True)
    f = ujy(19.1)  # Vega 19.0 + 0.1
    assert rows[58001.0] == ("test::V", pytest.approx(f), pytest.approx(f * K * 0.2), True)
    scale = 10 ** (-0.4 * (27.5 - 23.9))
    assert rows[58002.0] == (
        "test::r",
        pytest.approx(100 * scale),
        pytest.approx(20 * scale),
        False,
    )
    assert rows[58003.0][1:] == (0.0, pytest.approx(ujy(21.0) / 5), False)
    assert rows[58004.0][1:] == (0.0, pytest.approx(ujy(22.0) / 3), False)
    assert rows[58005.0][1] == pytest.approx(ujy(18.0))
    assert rows[58006.0][1] == pytest.approx(ujy(18.5))


def test_skipped_counts(sn):
    assert sn.skipped == {
        "radio/X-ray point": 2,
        "photometric point without a positive uncertainty": 2,
        "synthetic point": 1,
        "photometric point with time not in MJD": 1,
        "photometric point without a band": 1,
        "unplaceable band": 2,
        "photometric point with a time range": 1,
        "spectrum with unsupported wavelength unit": 1,
    }
    assert sn.meta["unplaceable_bands"] == {"X@Foo": 2}


def test_spectra(sn):
    calibrated, uncal, dered_own, dered_obj = sn.spectra
    assert calibrated.flux_unit == "erg/s/cm2/A"
    np.testing.assert_array_equal(calibrated.wavelength, [4000.0, 4001.0, 4002.0])
    np.testing.assert_array_equal(calibrated.flux, [1.5e-15, 1.6e-15, 1.7e-15])
    np.testing.assert_array_equal(calibrated.flux_err, [1e-16] * 3)
    assert calibrated.mjd == 58010.5 and calibrated.instrument == "Kast/Lick 3m"
    assert calibrated.meta["snr"] == "20" and calibrated.meta["filename"] == "a.dat"
    assert uncal.flux_unit == "uncalibrated" and uncal.flux_err is None
    np.testing.assert_array_equal(uncal.wavelength, [5000.0, 5001.0, 5002.0])
    np.testing.assert_array_equal(uncal.flux, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(dered_own.wavelength, [4400.0, 5500.0])  # own z = 0.1
    np.testing.assert_allclose(dered_obj.wavelength, [4200.0, 5250.0])  # object z = 0.05
    assert dered_own.meta["deredshifted_input"] and dered_obj.meta["deredshifted_input"]
    assert "deredshifted_input" not in calibrated.meta


def test_deredshifted_spectrum_without_redshift_is_skipped(tmp_path, fake_bands):
    e = event(redshift=[])
    (sn,) = osc.read(write(tmp_path, {"SN2099abc": e}))
    assert sn.redshift is None and len(sn.spectra) == 3
    assert sn.skipped["deredshifted spectrum without a redshift"] == 1


def test_gzip_sniff_and_plain_source(tmp_path, fake_bands):
    e = event()
    del e["_realdata"]
    path = write(tmp_path, {"SN2099abc": e}, "SN2099abc.json.gz")
    assert osc.sniff(path, read_head(path))
    (sn,) = osc.read(path)
    assert sn.source == "osc:SN2099abc.json.gz"
    assert not osc.sniff(path, '{"name": "SN1", "photometry_snana": {}}')
    assert not osc.sniff(path, "time,mag,magerr,band\n")


def test_decimal_degrees(tmp_path, fake_bands):
    e = event(ra=[{"value": "187.25", "u_value": "degrees"}], dec=[{"value": "12.5"}])
    (sn,) = osc.read(write(tmp_path, {"SN2099abc": e}))
    assert sn.ra == 187.25 and sn.dec == 12.5


def test_unknown_system_and_nm_wavelengths(tmp_path, fake_bands):
    e = event(
        photometry=[point(band="g", system="Gunn", magnitude="19", e_magnitude="0.1")],
        spectra=[
            {
                "time": "58000",
                "u_time": "MJD",
                "u_wavelengths": "nm",
                "u_fluxes": "Uncalibrated",
                "data": [["400", "1"], ["500", "2"]],
            }
        ],
    )
    (sn,) = osc.read(write(tmp_path, {"SN2099abc": e}))
    assert sn.lightcurve is None and sn.skipped == {"unknown magnitude system": 1}
    np.testing.assert_array_equal(sn.spectra[0].wavelength, [4000.0, 5000.0])


def test_real_band_registry(tmp_path):
    """Through the real registry: PS1 g (AB) and Swift UVW1 (Vega) points."""
    from maven.data.bands import get_band

    e = event(
        photometry=[
            point(band="g", telescope="PS1", system="AB", magnitude="20.0", e_magnitude="0.1"),
            point(
                "58001",
                band="UVW1",
                telescope="Swift",
                instrument="UVOT",
                system="Vega",
                magnitude="17.0",
                e_magnitude="0.1",
            ),
        ],
        spectra=[],
    )
    (sn,) = osc.read(write(tmp_path, {"SN2099abc": e}))
    lc = sn.lightcurve
    assert list(lc.band) == ["ps1::g", "swift::uvw1"]
    offset = get_band("swift::uvw1").vega_to_ab
    np.testing.assert_allclose(lc.flux, [ujy(20.0), ujy(17.0 + offset)])


@pytest.mark.parametrize(
    "content, match",
    [
        ('{"SN1": {"name": "SN1", ', "malformed JSON"),
        ("[1, 2]", "expected a JSON object"),
        ("{}", "expected a JSON object"),
        ('{"SN1": [1]}', "not an object"),
        ('{"SN1": {"photometry": []}}', "without a 'name'"),
        ('{"SN1": {"name": "SN1", "claimedtype": "Ia"}}', "must be a list"),
        ('{"SN1": {"name": "SN1", "claimedtype": [{"value": "Ia"}]}}', "nothing usable"),
    ],
)
def test_malformed(tmp_path, fake_bands, content, match):
    path = write(tmp_path, content)
    with pytest.raises(FormatError, match=match) as info:
        osc.read(path)
    assert isinstance(info.value, MavenError) and str(path) in str(info.value)


def test_nothing_usable_names_reason(tmp_path, fake_bands):
    e = event(photometry=[point(band="g", magnitude="19")], spectra=[])
    with pytest.raises(FormatError, match="without a positive uncertainty"):
        osc.read(write(tmp_path, {"SN2099abc": e}))


def test_out_of_range_value_is_format_error(tmp_path, fake_bands):
    e = event(ebv=[{"value": "99"}])
    with pytest.raises(FormatError, match="mwebv"):
        osc.read(write(tmp_path, {"SN2099abc": e}))


# --------------------------------------------------------------------------- real data

REAL = Path(
    os.environ.get("MAVEN_REAL_DATA")
    or Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
)


@pytest.mark.realdata
@pytest.mark.skipif(not (REAL / "index.csv").exists(), reason=f"real data not found at {REAL}")
def test_real_osc_files():
    rows = [r for r in csv.DictReader((REAL / "index.csv").open()) if r["file"].startswith("osc/")]
    on_disk = {p.relative_to(REAL).as_posix() for p in (REAL / "osc").glob("*/*.json.gz")}
    assert on_disk == {r["file"] for r in rows}
    n_read = n_det = n_phot = 0
    failed = []
    for r in rows:
        path = REAL / r["file"]
        assert osc.sniff(path, read_head(path)), path
        try:
            (sn,) = osc.read(path)
        except FormatError as exc:
            assert r["set"] == "B", f"{path}: {exc}"  # every object with spectra reads
            failed.append(str(exc))
            continue
        n_read += 1
        assert sn.id == r["name"]
        assert sn.type_raw == r["type_raw"]
        if r["redshift"]:
            assert sn.redshift == float(r["redshift"])
        if r["set"] == "A":
            # a few HST/STIS spectra in OSC carry no real wavelengths: dropped, counted
            invalid = sum(n for k, n in sn.skipped.items() if k.startswith("invalid spectrum"))
            assert len(sn.spectra) + invalid == int(r["n_spectra"]), sn.id
            assert len(sn.spectra) >= 1
        if sn.lightcurve is not None:
            n_det += int(sn.lightcurve.detected.sum())
        n_phot += int(r["n_phot"])
    # Measured: 988 of 1897 read (909 photometry-only objects have no detection with an
    # uncertainty, mostly Gaia alerts with e_magnitude 0), 49044 detections vs index 59412.
    assert n_read >= 950, failed[:5]
    assert n_det >= 0.8 * n_phot
    assert all("nothing usable left" in msg for msg in failed)


def test_assumed_magnitude_error_is_opt_in(tmp_path):
    """Gaia alerts publish G magnitudes with e_magnitude 0: dropped unless the user opts in."""
    from maven import ConfigError
    from maven.io import read_supernovae

    event = {
        "name": "AT2020gaia",
        "claimedtype": [{"value": "II", "source": "1"}],
        "photometry": [
            {
                "time": str(59000 + i),
                "u_time": "MJD",
                "band": "G",
                "telescope": "GAIA",
                "magnitude": str(18.0 + 0.1 * i),
                "e_magnitude": "0.0",
                "source": "1",
            }
            for i in range(3)
        ],
    }
    path = tmp_path / "AT2020gaia.json"
    path.write_text(json.dumps({"AT2020gaia": event}))
    with pytest.raises(FormatError, match="positive uncertainty"):
        read_supernovae(path)
    (sn,) = read_supernovae(path, options={"osc": {"assumed_mag_err": 0.1}})
    assert sn.meta["assumed_uncertainty_points"] == 3
    f, e = mag_to_flux(18.0, 0.1, vega_to_ab=get_band("gaia::G").vega_to_ab)
    assert sn.lightcurve.flux[0] == pytest.approx(f) and sn.lightcurve.flux_err[0] == pytest.approx(
        e
    )
    with pytest.raises(ConfigError):
        read_supernovae(path, options={"osc": {"assumed_mag_err": -1}})
    with pytest.raises(FormatError, match="unknown formats"):
        read_supernovae(path, options={"nope": {}})
