"""Tests of the plain ASCII spectrum reader (:mod:`maven.io.ascii_spectrum`)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import maven.io.ascii_spectrum as asp
from maven.errors import FormatError, MavenError
from maven.io.common import read_head

WL = np.linspace(4000.0, 7000.0, 31)
FLUX = 1e-16 * (1 + 0.5 * np.sin(WL / 300.0))
SIGMA = 0.05 * FLUX + 1e-18 * np.arange(31)


def table(*cols, sep: str = " ", fmt: str = "{:.10g}") -> str:
    return "\n".join(sep.join(fmt.format(v) for v in row) for row in zip(*cols, strict=True)) + "\n"


def parse(text: str, **kw):
    skipped: dict[str, int] = {}
    spec = asp.parse_ascii_spectrum(text, object_id="SN2099x", skipped=skipped, **kw)
    return spec, skipped


def test_two_columns_calibrated():
    spec, skipped = parse(table(WL, FLUX), mjd=60000.5, instrument="Keck - LRIS")
    np.testing.assert_allclose(spec.wavelength, WL)
    np.testing.assert_allclose(spec.flux, FLUX, rtol=1e-9)
    assert spec.flux_err is None and skipped == {}
    assert spec.flux_unit == "erg/s/cm2/A"
    assert (spec.mjd, spec.instrument) == (60000.5, "Keck - LRIS")
    assert spec.meta == {"wavelength_unit": "angstrom"}


def test_three_columns_comma_header_and_comments():
    text = (
        "# object SN2099x\n% produced by hand\n@ another comment\n! and another\n"
        "OBJECT = 'SN2099x' / FITS-like card\nEXPTIME: 600\n"
        "wavelength,flux,flux_err\n" + table(WL, FLUX, SIGMA, sep=",")
    )
    spec, skipped = parse(text, meta={"filename": "x.csv"})
    np.testing.assert_allclose(spec.flux_err, SIGMA, rtol=1e-9)
    assert spec.meta["columns"] == ["wavelength", "flux", "flux_err"]
    assert spec.meta["err_kind"] == "sigma" and spec.meta["filename"] == "x.csv"
    assert skipped == {}


def test_named_columns_pick_the_error_among_many():
    sky = np.full(31, 3e-16)
    text = "# wavelength flux sky_flux flux_unc pixel\n" + table(
        WL, FLUX, sky, SIGMA, np.arange(31)
    )
    spec, _ = parse(text)
    np.testing.assert_allclose(spec.flux_err, SIGMA, rtol=1e-9)


@pytest.mark.parametrize("how", ["header", "hint"])
def test_variance_column_becomes_sigma(how):
    header = "# wave flux var\n" if how == "header" else ""
    kw = {"err_kind": "variance"} if how == "hint" else {}
    spec, _ = parse(header + table(WL, FLUX, SIGMA**2), **kw)
    np.testing.assert_allclose(spec.flux_err, SIGMA, rtol=1e-6)
    assert spec.meta["err_kind"] == "variance"


def test_variance_mislabelled_as_error_is_corrected():
    # SNIFS writes a variance under the name ERR: the values decide
    text = "#WL FL ERR\n#[Ang] [erg/s/cm2/A] [erg/s/cm2/A]\n" + table(WL, FLUX, SIGMA**2)
    spec, _ = parse(text)
    np.testing.assert_allclose(spec.flux_err, SIGMA, rtol=1e-6)
    assert spec.meta["err_kind"] == "variance" and spec.meta["err_kind_stated"] == "sigma"


def test_inverse_variance():
    spec, _ = parse("# lambda flux ivar\n" + table(WL, FLUX, 1 / SIGMA**2))
    np.testing.assert_allclose(spec.flux_err, SIGMA, rtol=1e-6)


@pytest.mark.parametrize(
    "third,reason",
    [
        (FLUX, "spectrum error column equal to the flux (dropped)"),
        (np.ones(31), "spectrum error column with few distinct values, a flag (dropped)"),
        (FLUX * 1e6, "spectrum error column implausible (dropped)"),
    ],
)
def test_columns_that_are_not_errors_are_dropped(third, reason):
    spec, skipped = parse(table(WL, FLUX, third))
    assert spec.flux_err is None
    assert skipped == {reason: 1}


def test_err_kind_none_ignores_the_column():
    spec, skipped = parse(table(WL, FLUX, SIGMA), err_kind="none")
    assert spec.flux_err is None and skipped == {}


def test_nanometres_are_detected():
    spec, _ = parse(table(WL / 10, FLUX))
    np.testing.assert_allclose(spec.wavelength, WL)
    assert spec.meta["wavelength_unit"] == "nm"


def test_units_named_in_the_header():
    spec, _ = parse("# wave(nm) flux\n" + table(WL / 10, FLUX))
    np.testing.assert_allclose(spec.wavelength, WL)
    spec, _ = parse("# wavelength[micron] flux\n" + table(WL / 1e4, FLUX))
    np.testing.assert_allclose(spec.wavelength, WL)
    assert spec.meta["wavelength_unit"] == "micron"
    # an explicit Angstrom unit keeps a UV spectrum in Angstrom
    spec, _ = parse(table(WL / 4, FLUX), wavelength_unit="angstrom")
    np.testing.assert_allclose(spec.wavelength, WL / 4)


def test_flux_units_and_header_scale():
    spec, _ = parse(table(WL, FLUX / FLUX.mean()))
    assert spec.flux_unit == "uncalibrated"
    text = "#wavelength  flux(1e-17erg/s/cm^2/A)  error\n" + table(WL, FLUX * 1e17, SIGMA * 1e17)
    spec, _ = parse(text)
    np.testing.assert_allclose(spec.flux, FLUX, rtol=1e-9)
    np.testing.assert_allclose(spec.flux_err, SIGMA, rtol=1e-9)
    assert spec.flux_unit == "erg/s/cm2/A" and spec.meta["flux_scale"] == 1e-17
    spec, _ = parse("# wave counts\n" + table(WL, FLUX))
    assert spec.flux_unit == "uncalibrated"
    spec, _ = parse(table(WL, FLUX), flux_unit="uncalibrated")
    assert spec.flux_unit == "uncalibrated"


def test_fortran_exponents_reversed_order_and_bad_lines():
    lines = table(WL, FLUX, fmt="{:.8E}").replace("E", "D").splitlines()[::-1]
    lines[5] = "****************  1.0D-16"  # Fortran overflow inside the data
    lines.insert(9, "4500.0 1e-16 1e-17 7")  # a row of another width
    lines.append("END")
    spec, skipped = parse("\n".join(lines))
    assert len(spec) == 30
    assert np.all(np.diff(spec.wavelength) > 0)
    assert skipped == {
        "unparseable spectrum line": 2,
        "spectrum line with a different number of columns": 1,
    }


def test_nan_pixels_and_too_few_pixels():
    text = "4000 1e-16\n4001 nan\n4002 2e-16\n"
    spec, skipped = parse(text)
    assert len(spec) == 2
    assert skipped == {"spectrum pixel with non-finite wavelength or flux": 1}
    spec, skipped = parse("4000 1e-16\n4001 nan\n")
    assert spec is None and skipped["spectrum with fewer than 2 usable pixels"] == 1


@pytest.mark.parametrize("text", ["", "no numbers here\n", "1\n2\n3\n", "a b\nc d\n"])
def test_no_table_raises_format_error(text):
    with pytest.raises(FormatError, match="no table of numbers"):
        parse(text)


def test_read_sniff_gz(tmp_path):
    path = tmp_path / "SN2099x_20200101_keck.ascii.gz"
    path.write_bytes(gzip.compress(("# wave flux err\n" + table(WL, FLUX, SIGMA)).encode()))
    assert asp.sniff(path, read_head(path))
    (sn,) = asp.read(path)
    assert sn.id == "SN2099x_20200101_keck" and sn.type is None and sn.lightcurve is None
    assert len(sn.spectra) == 1 and sn.spectra[0].meta["filename"] == path.name
    assert sn.source == f"ascii_spectrum:{path}"


def test_sniff_looks_past_a_long_fits_header(tmp_path):
    cards = "".join(f"# KEY{i:04d} = 'some value'          / a FITS card\n" for i in range(150))
    path = tmp_path / "keck.ascii"
    path.write_text(cards + "# wavelength flux\n" + table(WL, FLUX))
    assert len(cards) > 4096
    assert asp.sniff(path, read_head(path))
    assert len(asp.read(path)[0].spectra[0]) == 31


def test_sniff_rejects_other_formats(tmp_path):
    cases = {
        "lc.csv": "time,mag,magerr,band\n" + "58000,18.0,0.1,g\n" * 10,
        "lc2.csv": "mjd,flux,fluxerr\n" + "58000,18.0,0.1\n" * 10,
        "x.json": json.dumps({"a": [[1, 2]] * 10}),
        "notes.txt": "some words\n" * 10,
        "snana.dat": "SNID: x\nVARLIST: MJD FLT\n" + "OBS: 1 2\n" * 10,
    }
    for name, text in cases.items():
        p = tmp_path / name
        p.write_text(text)
        assert not asp.sniff(p, read_head(p)), name


def test_read_without_pixels_raises(tmp_path):
    path = tmp_path / "empty.dat"
    path.write_text("4000 nan\n4001 nan\n")
    with pytest.raises(FormatError, match="no usable spectrum"):
        asp.read(path)


# --------------------------------------------------------------------------- fuzz

_FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(
        [
            "nan",
            "-inf",
            "1D5",
            "#",
            "****",
            "",
            "wave",
            "flux",
            "var",
            "err",
            "(nm)",
            "1e-17erg",
            "=",
            "ivar",
        ]
    ),
    st.text(max_size=5),
)
_row = st.lists(_cell, min_size=0, max_size=5).map(lambda r: " ".join(r))


@_FUZZ
@given(
    st.lists(st.one_of(_row, st.text(max_size=20)), max_size=25),
    st.sampled_from([None, "sigma", "variance", "ivar", "none", "bogus"]),
    st.sampled_from([None, 0, 2, 5]),
)
def test_fuzz_rows_only_maven_errors(rows, err_kind, err_col):
    try:
        parse("\n".join(rows), err_kind=err_kind, err_col=err_col)
    except MavenError:
        pass


@_FUZZ
@given(st.text(max_size=400))
def test_fuzz_text_only_maven_errors(text):
    try:
        parse(text)
    except MavenError:
        pass


@_FUZZ
@given(
    st.lists(
        st.tuples(st.floats(-1e30, 1e30), st.floats(allow_nan=True), st.floats(allow_nan=True)),
        min_size=0,
        max_size=30,
    )
)
def test_fuzz_numeric_tables_only_maven_errors(rows):
    text = "\n".join(" ".join(repr(v) for v in r) for r in rows)
    try:
        spec, _ = parse(text)
    except MavenError:
        return
    if spec is not None:
        assert np.all(np.diff(spec.wavelength) > 0)
        assert spec.flux_err is None or np.all(spec.flux_err > 0)
        assert np.isfinite(spec.flux).all()
