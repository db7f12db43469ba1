"""Tests of the container JSON reader (:mod:`maven.io.containers`)."""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import maven.io.containers as containers
from maven.data.bands import get_band
from maven.errors import FormatError
from maven.io import guess_format
from maven.io.common import read_head

FLUXCAL_20 = 10 ** (0.4 * (27.5 - 20.0))


def ujy(mag: float) -> float:
    return 10 ** (-0.4 * (mag - 23.9))


def snana(survey: str, snid: str, rows: list[str]) -> str:
    return (
        "\n".join(
            [
                f"SURVEY: {survey}",
                f"SNID: {snid}",
                "IAUC: UNKNOWN",
                "VARLIST: MJD FLT FIELD FLUXCAL FLUXCALERR MAG MAGERR",
                *[f"OBS: {r}" for r in rows],
                "END:",
            ]
        )
        + "\n"
    )


SPECTRUM = "\n".join(f"{w:.1f} {1e-16 * (1 + w / 1e4):.6e}" for w in range(4000, 7000, 10))


def pplus(**kw) -> dict:
    d = {
        "name": "SN2099x",
        "type": "Ia",
        "type_note": "Pantheon+ sample",
        "redshift_helio": 0.0123,
        "ra": 10.0,
        "dec": -20.0,
        "mwebv": 0.03,
        "t_peak_mjd": 60010.0,
        "photometry_snana": {
            "Pantheon+_Data/1_DATA/photometry/Foundation_DJ17/found2099x.txt": snana(
                "FOUNDATION",
                "2099x",
                [
                    f"60000.0 g MD {FLUXCAL_20} 100 20 0.01",
                    f"60001.0 r MD {FLUXCAL_20} 100 20 0.01",
                ],
            ),
            "Pantheon+_Data/1_DATA/photometry/SWIFT/SN2099x.dat": snana(
                "SWIFT",
                "SN2099x",
                [
                    f"60002.0 N NULL {FLUXCAL_20} 100 20 0.01",
                    f"60003.0 Q NULL {FLUXCAL_20} 100 20 0.01",
                ],
            ),
        },
        "spectra": [
            {
                "filename": "SN2099x_keck.ascii",
                "mjd": 60005.0,
                "ncols": 2,
                "meta": {"Instrument": "Keck1 - LRIS"},
                "text": SPECTRUM,
            }
        ],
        "n_spectra_total": 1,
        "wiserep_readme": {},
        "_realdata": {},
    }
    d.update(kw)
    return d


def wiserep(**kw) -> dict:
    var_text = "\n".join(
        f"{w:.1f} {2e-16:.6e} {(1e-17 * (1 + w / 1e4)) ** 2:.6e}" for w in range(4000, 7000, 10)
    )
    d = {
        "name": "SN2099y",
        "type_raw": "SN IIP",
        "type_coarse": "II",
        "redshift": 0.02,
        "ra": None,
        "dec": None,
        "coords_osc": {"ra": "10:40:39.33", "dec": "-39:03:52.7", "source": "osc:SN2099y"},
        "aliases": ["PTF99y"],
        "wiserep_folders": ["SN2099y"],
        "n_spectra_in_readme": 3,
        "n_spectra_usable": 3,
        "readme": {},
        "spectra": [
            {
                "filename": "a.ascii",
                "mjd": 60000.0,
                "instrument": "SEDM",
                "telescope": "P60",
                "bibcode": "2099ABC",
                "contributor": None,
                "has_err": True,
                "err_col": 2,
                "err_kind_guess": "variance",
                "wl_unit_guess": "angstrom",
                "text": var_text,
            },
            {
                "filename": "b.ascii",
                "mjd": 60001.0,
                "instrument": "X",
                "telescope": None,
                "err_col": None,
                "err_kind_guess": None,
                "text": "not a spectrum\n",
            },
        ],
    }
    d.update(kw)
    return d


def write(tmp_path: Path, data, name: str = "SN2099x.json.gz") -> Path:
    path = tmp_path / name
    raw = data if isinstance(data, str) else json.dumps(data)
    path.write_bytes(gzip.compress(raw.encode()) if name.endswith(".gz") else raw.encode())
    return path


def test_pplus_container_merges_surveys(tmp_path):
    path = write(tmp_path, pplus())
    assert containers.sniff_pplus(path, read_head(path))
    assert not containers.sniff_wiserep(path, read_head(path))
    (sn,) = containers.read(path)
    lc = sn.lightcurve
    assert lc.band.tolist() == ["ps1::g", "ps1::r", "swift::uvm2"]
    uvm2 = get_band("swift::uvm2").vega_to_ab
    np.testing.assert_allclose(lc.flux, [ujy(20), ujy(20), ujy(20 + uvm2)], rtol=1e-9)
    assert (sn.id, sn.type_raw, sn.type, sn.redshift) == ("SN2099x", "Ia", "Ia", 0.0123)
    assert (sn.ra, sn.dec, sn.mwebv) == (10.0, -20.0, 0.03)
    assert sn.aliases == ["2099x"]
    assert sn.meta["surveys"] == ["Foundation_DJ17", "SWIFT"]
    assert sn.meta["unplaceable_bands"] == {"Q@SWIFT": 1} and sn.meta["t_peak_mjd"] == 60010.0
    assert sn.skipped == {"unplaceable band": 1}
    (spec,) = sn.spectra
    assert (spec.mjd, spec.instrument, spec.flux_unit) == (60005.0, "Keck1 - LRIS", "erg/s/cm2/A")
    assert spec.meta["filename"] == "SN2099x_keck.ascii" and len(spec) == 300
    assert sn.source == f"pplus_wiserep:{path}"


def test_pplus_duplicates_across_surveys_and_bad_texts(tmp_path):
    d = pplus()
    phot = d["photometry_snana"]
    key = next(iter(phot))
    phot["Pantheon+_Data/1_DATA/photometry/Foundation_DJ17/copy.txt"] = phot[key]
    phot["Pantheon+_Data/1_DATA/photometry/LOSS/broken.txt"] = "SNID: x\nno rows\n"
    d["spectra"].append({"filename": "bad.dat", "mjd": None, "text": "hello\n"})
    d["spectra"].append({"filename": "nothing.dat"})
    (sn,) = containers.read(write(tmp_path, d))
    assert len(sn.lightcurve) == 3
    assert sn.skipped == {
        "unplaceable band": 1,
        "duplicate photometric point": 2,
        "unreadable SNANA light curve": 1,
        "unreadable spectrum text": 1,
        "spectrum entry without text": 1,
    }
    assert len(sn.spectra) == 1


def test_wiserep_container(tmp_path):
    path = write(tmp_path, wiserep(), "SN2099y.json")
    assert containers.sniff_wiserep(path, read_head(path))
    assert not containers.sniff_pplus(path, read_head(path))
    (sn,) = containers.read(path)
    assert sn.lightcurve is None and len(sn.spectra) == 1
    assert (sn.type_raw, sn.type, sn.redshift, sn.aliases) == ("SN IIP", "II", 0.02, ["PTF99y"])
    assert sn.ra == pytest.approx(15 * (10 + 40 / 60 + 39.33 / 3600))
    assert sn.dec == pytest.approx(-(39 + 3 / 60 + 52.7 / 3600))
    assert sn.meta == {"type_coarse": "II", "coords_source": "osc:SN2099y"}
    spec = sn.spectra[0]
    assert spec.instrument == "P60 - SEDM" and spec.meta["bibcode"] == "2099ABC"
    assert spec.meta["err_kind"] == "variance"
    np.testing.assert_allclose(spec.flux_err, 1e-17 * (1 + spec.wavelength / 1e4), rtol=1e-5)
    assert sn.skipped == {"unreadable spectrum text": 1}
    assert sn.source == f"wiserep:{path}"


def test_guess_format_picks_the_container_readers(tmp_path):
    assert guess_format(write(tmp_path, pplus())) == "pplus_wiserep"
    assert guess_format(write(tmp_path, wiserep(), "y.json.gz")) == "wiserep"
    assert [r.name for r in containers.READERS] == ["pplus_wiserep", "wiserep"]


@pytest.mark.parametrize(
    "data,match",
    [
        ("{not json", "malformed JSON"),
        ([1, 2], "not a container"),
        ({"name": "x", "other": 1}, "unknown container layout"),
        (wiserep(spectra=[]), "no usable spectrum"),
        (pplus(photometry_snana={}, spectra=[]), "no usable photometry or spectrum"),
        (pplus(redshift_helio=99.0), "redshift"),
    ],
)
def test_malformed_containers_raise_format_error(tmp_path, data, match):
    path = write(tmp_path, data)
    with pytest.raises(FormatError, match=match):
        containers.read(path)


# --------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_containers_read_and_match_the_indexes(real_data):
    index = {
        r["file"]: r
        for r in csv.DictReader((real_data / "index.csv").open())
        if r["file"].startswith("pplus_wiserep/")
    }
    index.update(
        {
            "wiserep/" + r["file"]: r
            for r in csv.DictReader((real_data / "wiserep" / "index.csv").open())
        }
    )
    files = sorted(real_data.glob("pplus_wiserep/withspec/*.json.gz"))
    files += sorted(real_data.glob("wiserep/spectra/*.json.gz"))
    assert {p.relative_to(real_data).as_posix() for p in files} == set(index)
    skipped: Counter = Counter()
    n_spectra = Counter()
    no_mjd: list[str] = []
    for path in files:
        row = index[path.relative_to(real_data).as_posix()]
        (sn,) = containers.read(path)  # every file reads: no FormatError
        skipped.update(sn.skipped)
        kind = "pplus" if path.parent.name == "withspec" else "wiserep"
        n_spectra[kind] += len(sn.spectra)
        assert sn.id == row["name"]
        assert len(sn.spectra) == int(row["n_spectra"]), sn.id
        assert sn.redshift == pytest.approx(float(row["redshift"]), abs=1e-9), sn.id
        coarse = row["type_coarse"] if row["type_coarse"] != "SLSN-II" else "other"
        assert sn.type == coarse, (sn.id, sn.type_raw, row["type_coarse"])
        if kind == "pplus":
            assert "unplaceable_bands" not in sn.meta, sn.id
            # index n_phot counts raw rows; cross-survey exact duplicates are dropped here
            dups = sn.skipped.get("duplicate photometric point", 0)
            assert int(row["n_phot"]) == len(sn.lightcurve) + dups, sn.id
        else:
            assert sn.lightcurve is None
        no_mjd += [s.meta["filename"] for s in sn.spectra if s.mjd is None]
    assert len(files) == 179 + 2024
    assert n_spectra == {"pplus": 326, "wiserep": 2330}
    assert no_mjd == ["tns_2016bew_2457462.440081015_SALT_RSS_0.dat"]  # container mjd is null
    assert set(skipped) <= {
        "duplicate photometric point",
        "unparseable spectrum line",
        "spectrum error column with non-positive values (errors dropped)",
        "spectrum error column with few distinct values, a flag (dropped)",
        "spectrum with unsorted wavelengths (sorted)",
        "spectrum error column equal to the flux (dropped)",
        "spectrum error column implausible (dropped)",
    }, skipped
