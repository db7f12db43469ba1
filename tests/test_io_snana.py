"""Tests of the SNANA text reader (:mod:`maven.io.snana`)."""

from __future__ import annotations

import gzip
import json
import math
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import maven.io.snana as snana
from maven.data.bands import get_band
from maven.errors import FormatError, MavenError
from maven.io.common import read_head

K = math.log(10) / 2.5
FLUXCAL_20 = 10 ** (0.4 * (27.5 - 20.0))  # FLUXCAL of a 20th-magnitude point


def ujy(mag: float) -> float:
    """AB magnitude -> uJy, written out by hand."""
    return 10 ** (-0.4 * (mag - 23.9))


def snana_text(
    rows: list[str], varlist: str = "MJD FLT FIELD FLUXCAL FLUXCALERR", **header: str
) -> str:
    head = {
        "SURVEY": "LSST",
        "SNID": "SN2099x",
        "RA": "10.5",
        "DECL": "-5.25",
        "MWEBV": "0.02 +- 0.001",
        "REDSHIFT_HELIO": "0.05 +- 0.001",
        "FILTERS": "ugrizY",
        **header,
    }
    lines = [f"{k}: {v}" for k, v in head.items() if v is not None]
    lines += ["# a comment line", "", f"VARLIST: {varlist}"]
    lines += [f"OBS: {r}" for r in rows] + ["END:"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def vega_bands(monkeypatch):
    """A registry where every band is Vega with m_AB - m_Vega = 0.1 (exact numbers)."""
    monkeypatch.setattr(
        snana, "get_band", lambda name: SimpleNamespace(name=name, magsys="Vega", vega_to_ab=0.1)
    )


# --------------------------------------------------------------------------- flux and bands


def test_fluxcal_in_ab_band_becomes_ujy():
    sn = snana.parse_snana(
        snana_text([f"60000.0 r WFD {FLUXCAL_20} {FLUXCAL_20 / 10}"]), source="t"
    )
    lc = sn.lightcurve
    assert lc.band.tolist() == ["lsst::r"]
    assert lc.flux[0] == pytest.approx(ujy(20.0), rel=1e-12)
    assert lc.flux_err[0] == pytest.approx(ujy(20.0) / 10, rel=1e-12)
    assert lc.detected.tolist() == [True]
    assert sn.id == "SN2099x" and sn.type_raw is None and sn.type is None
    assert (sn.ra, sn.dec, sn.mwebv, sn.redshift) == (10.5, -5.25, 0.02, 0.05)
    assert sn.meta["survey"] == "LSST" and sn.meta["redshift_kind"] == "helio"


def test_vega_band_gets_the_ab_offset(vega_bands):
    sn = snana.parse_snana(
        snana_text([f"60000.0 V NULL {FLUXCAL_20} 100"], SURVEY="SWIFT"), source="t"
    )
    # m_AB = 20 + 0.1
    assert sn.lightcurve.flux[0] == pytest.approx(ujy(20.1), rel=1e-12)
    assert sn.lightcurve.flux_err[0] == pytest.approx(100 * ujy(20.1) / FLUXCAL_20, rel=1e-12)


def test_vega_offset_from_the_real_registry():
    band = get_band("swift::v")
    sn = snana.parse_snana(
        snana_text([f"60000.0 V NULL {FLUXCAL_20} 100"]), source="t", survey="SWIFT"
    )
    assert band.magsys == "Vega"
    assert sn.lightcurve.band[0] == "swift::v"
    assert sn.lightcurve.flux[0] == pytest.approx(ujy(20.0 + band.vega_to_ab), rel=1e-9)


def test_every_table_entry_is_a_registered_band():
    for survey, table in snana.SURVEY_BANDS.items():
        for letter, name in table.items():
            assert get_band(name).name == name, (survey, letter)


@pytest.mark.parametrize(
    "varlist,row",
    [
        ("MJD FLT FIELD FLUXCAL FLUXCALERR", "60000 g X 100 10"),
        ("MJD FIELD FLT FLUXCAL FLUXCALERR", "60000 X g 100 10"),
        ("FLUXCALERR FLUXCAL BAND MJD", "10 100 g 60000"),
        ("MJD FILTER FLUXCAL FLUXCALERR MAG MAGERR", "60000 g 100 10 22.5 0.1"),
    ],
)
def test_column_order_and_names(varlist, row):
    lc = snana.parse_snana(snana_text([row], varlist=varlist), source="t").lightcurve
    assert lc.band.tolist() == ["lsst::g"]
    assert lc.time[0] == 60000.0
    assert lc.flux[0] == pytest.approx(100 * 10 ** (-0.4 * (27.5 - 23.9)))
    assert lc.flux_err[0] == pytest.approx(10 * 10 ** (-0.4 * (27.5 - 23.9)))


def test_varlist_without_colon_varnames_and_comments():
    text = snana_text(["60000 g X 100 10  # inline comment", "60001 r X 200 10"])
    for t in (text.replace("VARLIST:", "VARLIST"), text.replace("VARLIST:", "VARNAMES:")):
        lc = snana.parse_snana(t, source="t").lightcurve
        assert lc.band.tolist() == ["lsst::g", "lsst::r"]


def test_mag_only_file_and_sentinels():
    rows = ["60000 g 20.0 0.1", "60001 g 99.0 0.1", "60002 g -9 0.1"]
    sn = snana.parse_snana(snana_text(rows, varlist="MJD FLT MAG MAGERR"), source="t")
    assert len(sn.lightcurve) == 1
    assert sn.lightcurve.flux[0] == pytest.approx(ujy(20.0))
    assert sn.lightcurve.flux_err[0] == pytest.approx(ujy(20.0) * K * 0.1)
    assert sn.skipped == {"photometric point with sentinel magnitude": 2}


def test_photflag_detection_bit():
    rows = ["60000 g 100 10 4096", "60001 g 5 10 0", "60002 g 50 10 6144"]
    lc = snana.parse_snana(
        snana_text(rows, varlist="MJD FLT FLUXCAL FLUXCALERR PHOTFLAG"), source="t"
    ).lightcurve
    assert lc.detected.tolist() == [True, False, True]


def test_header_variants():
    text = snana_text(
        ["60000 g NULL 100 10"],
        DECL=None,
        DEC="-30.5 deg",
        RA="200.25 deg",
        MWEBV="0.0201 MW E(B-V) (SF11)",
        REDSHIFT_HELIO="-9 +- -9",
        REDSHIFT_FINAL="0.1 +- 0.01",
        SEARCH_PEAKMJD="60010.5",
        SNTYPE="Ia",
        IAUC="2099x",
    )
    sn = snana.parse_snana(text, source="t")
    assert (sn.ra, sn.dec, sn.mwebv, sn.redshift) == (200.25, -30.5, 0.0201, 0.1)
    assert sn.meta["redshift_kind"] == "final" and sn.meta["peak_mjd"] == 60010.5
    assert sn.type_raw == "Ia" and sn.type == "Ia"
    assert sn.aliases == ["2099x"]


def test_numeric_sntype_is_left_unset_and_bad_ra_is_counted():
    text = snana_text(["60000 g NULL 100 10"], SNTYPE="1", RA="400.0")
    sn = snana.parse_snana(text, source="t")
    assert sn.type_raw is None and sn.ra is None
    assert sn.skipped == {"header RA out of range (ignored)": 1}


# --------------------------------------------------------------------------- letter placement


def test_unplaceable_letters_are_counted_not_guessed():
    rows = ["60000 V NULL 100 10", "60001 Q NULL 100 10", "60002 Q NULL 90 10"]
    sn = snana.parse_snana(snana_text(rows, SURVEY="SWIFT"), source="t")
    assert sn.lightcurve.band.tolist() == ["swift::v"]
    assert sn.skipped == {"unplaceable band": 2}
    assert sn.meta["unplaceable_bands"] == {"Q@SWIFT": 2}


def test_unknown_survey_letters_need_survey_context():
    # bare 'B' means nothing in an unknown survey; 'g' in DES is DES g (context decides)
    rows = ["60000 B NULL 100 10", "60001 g NULL 100 10"]
    sn = snana.parse_snana(snana_text(rows, SURVEY="DES"), source="t")
    assert sn.lightcurve.band.tolist() == ["des::g"]
    assert sn.meta["unplaceable_bands"] == {"B@DES": 1}
    with pytest.raises(FormatError, match="no usable"):
        snana.parse_snana(snana_text(["60000 B NULL 100 10"], SURVEY="NOWHERE"), source="t")


def test_folder_survey_wins_over_header_and_kait_letters():
    rows = [f"{60000 + i} {c} NULL 100 10" for i, c in enumerate("AEIMefgh")]
    sn = snana.parse_snana(snana_text(rows, SURVEY="KAIT"), source="t", survey="LOSS")
    assert sn.lightcurve.band.tolist() == ["kait::B"] * 5 + ["kait::V", "kait::R", "kait::I"]


def test_header_comment_mapping():
    filters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJK  # UBVri -> klmno"
    rows = ["60000 k NULL 100 10", "60001 n NULL 100 10", "60002 z NULL 100 10"]
    sn = snana.parse_snana(snana_text(rows, SURVEY="NEWCOMBO(CFA4p1)", FILTERS=filters), source="t")
    assert sorted(sn.lightcurve.band.tolist()) == ["cfa4p1::U", "cfa4p1::r"]
    assert sn.meta["unplaceable_bands"] == {"z@NEWCOMBO(CFA4p1)": 1}
    # an unknown sub-survey gives no system: nothing placed from the comment
    with pytest.raises(FormatError):
        snana.parse_snana(snana_text(rows[:1], SURVEY="X(CFA9)", FILTERS=filters), source="t")


def test_csp_v_variants():
    rows = [
        "53500 m NULL 100 10",
        "53755 o NULL 100 10",
        "54000 n NULL 100 10",
        "54001 y NULL 100 10",
        "54002 j NULL 100 10",
    ]
    lc = snana.parse_snana(snana_text(rows, SURVEY="CSP"), source="t").lightcurve
    assert lc.band.tolist() == ["csp::V3014", "csp::V3009", "csp::V", "csp::Yd", "csp::J"]


def test_survey_key():
    assert snana.survey_key("PS1_LOWZ_COMBINED(CFA3K)") == "ps1_lowz_combined"
    assert snana.survey_key("CfA3_DJ20") == "ps1_lowz_combined"
    assert snana.survey_key(" KAITM ") == "kait"
    assert snana.survey_key(None) is None


# --------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    "text,match",
    [
        ("", "no OBS"),
        ("SNID: x\nVARLIST: MJD FLT FLUXCAL FLUXCALERR\nEND:\n", "no OBS"),
        ("SNID: x\nOBS: 60000 g 100 10\n", "without a VARLIST"),
        ("SNID: x\nVARLIST: MJD FLUXCAL FLUXCALERR\nOBS: 60000 100 10\n", "band column"),
        ("SNID: x\nVARLIST: MJD FLT FLUXCAL\nOBS: 60000 g 100\n", "neither FLUXCAL"),
        ("SNID: x\nVARLIST: MJD FLT FLUXCAL FLUXCALERR\nOBS: 60000 g 100\n", "matches the VARLIST"),
    ],
)
def test_malformed_raises_format_error(text, match):
    with pytest.raises(FormatError, match=match):
        snana.parse_snana(text, source="t")


def test_bad_rows_and_values_are_counted():
    rows = ["60000 g 100 10", "60001 g 100", "60002 g abc 10", "60003 g 100 0"]
    sn = snana.parse_snana(snana_text(rows, varlist="MJD FLT FLUXCAL FLUXCALERR"), source="t")
    assert len(sn.lightcurve) == 1
    assert sn.skipped == {
        "malformed OBS row": 1,
        "photometric point with non-finite time or flux": 1,
        "photometric point without a positive uncertainty": 1,
    }


# --------------------------------------------------------------------------- files


def test_read_sniff_and_survey_from_folder(tmp_path):
    folder = tmp_path / "SWIFT"
    folder.mkdir()
    path = folder / "SN2099x.dat.gz"
    path.write_bytes(gzip.compress(snana_text(["60000 W NULL 100 10"], SURVEY=None).encode()))
    assert snana.sniff(path, read_head(path))
    (sn,) = snana.read(path)
    assert sn.lightcurve.band.tolist() == ["swift::uvw1"]
    assert sn.source == f"snana:{path}"
    other = tmp_path / "x.csv"
    other.write_text("time,mag,magerr,band\n58000,18,0.1,g\n")
    assert not snana.sniff(other, read_head(other))


# --------------------------------------------------------------------------- fuzz

_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_token = st.one_of(
    st.sampled_from(
        ["g", "r", "B", "NULL", "nan", "inf", "-9", "1e400", "99", "4096", "", "#", ":", "+-"]
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=6),
)
_line = st.one_of(
    st.builds(
        lambda k, v: f"{k}: {v}",
        st.sampled_from(
            [
                "SNID",
                "SURVEY",
                "RA",
                "DECL",
                "MWEBV",
                "REDSHIFT_HELIO",
                "SNTYPE",
                "FILTERS",
                "PEAKMJD",
                "IAUC",
                "END",
            ]
        ),
        _token,
    ),
    st.builds(
        lambda v: "VARLIST: " + " ".join(v),
        st.lists(
            st.sampled_from(
                [
                    "MJD",
                    "FLT",
                    "FIELD",
                    "FLUXCAL",
                    "FLUXCALERR",
                    "MAG",
                    "MAGERR",
                    "PHOTFLAG",
                    "BAND",
                ]
            ),
            max_size=7,
        ),
    ),
    st.builds(lambda v: "OBS: " + " ".join(v), st.lists(_token, max_size=7)),
    st.text(max_size=30),
)


@_FUZZ
@given(st.lists(_line, max_size=12), st.sampled_from([None, "SWIFT", "LOSS", "CfA3_DJ20"]))
def test_fuzz_structured_only_maven_errors(lines, survey):
    try:
        snana.parse_snana("\n".join(lines), source="fuzz", survey=survey)
    except MavenError:
        pass


@_FUZZ
@given(st.text(max_size=300))
def test_fuzz_text_only_maven_errors(text):
    try:
        snana.parse_snana(text, source="fuzz")
    except MavenError:
        pass


# --------------------------------------------------------------------------- real data


def _real_snana_texts(root: Path):
    for path in sorted((root / "pplus_wiserep" / "withspec").glob("*.json.gz")):
        data = json.loads(gzip.decompress(path.read_bytes()))
        for key, text in data["photometry_snana"].items():
            yield data, Path(key).parent.name, text


@pytest.mark.realdata
def test_real_pantheon_texts_parse_with_every_letter_placed(real_data):
    n = 0
    for _, survey, text in _real_snana_texts(real_data):
        sn = snana.parse_snana(text, source=survey, survey=survey)
        assert "unplaceable_bands" not in sn.meta, (survey, sn.meta)
        assert set(sn.skipped) <= {"duplicate photometric point"}, (survey, sn.skipped)
        n += 1
    assert n == 231


@pytest.mark.realdata
def test_real_header_comments_agree_with_the_table(real_data):
    seen = set()
    for _, survey, text in _real_snana_texts(real_data):
        header, comments, *_ = snana._split_lines(text, "t")
        sub = header.get("SURVEY", "")
        if "(" in sub:
            from_comment = snana._comment_letters(
                comments.get("FILTERS"), sub[sub.index("(") + 1 : sub.index(")")]
            )
            table = snana.SURVEY_BANDS[snana.survey_key(survey)]
            assert all(table[k] == v for k, v in from_comment.items()), (survey, from_comment)
            seen.update(from_comment)
    assert set("abcdefghijklmnopqrsGHIJK") <= seen


def _relative_mags(root: Path, surveys: set[str], phase: float) -> dict[str, float]:
    """Median over objects of (mag in letter - mean mag of the object) near t_peak + phase."""
    rel = defaultdict(list)
    for data, survey, text in _real_snana_texts(root):
        if survey not in surveys:
            continue
        header, _, varlist, rows = snana._split_lines(text, "t")
        col = {v: i for i, v in enumerate(varlist)}
        mags = defaultdict(list)
        for r in rows:
            mag, err = float(r[col["MAG"]]), float(r[col["MAGERR"]])
            if abs(float(r[col["MJD"]]) - data["t_peak_mjd"] - phase) < 5 and err < 0.3:
                mags[r[col["FLT"]]].append(mag)
        if len(mags) > 1:
            med = {k: float(np.median(v)) for k, v in mags.items()}
            mean = np.mean(list(med.values()))
            for k, v in med.items():
                rel[k].append(v - mean)
    return {k: float(np.median(v)) for k, v in rel.items()}


@pytest.mark.realdata
def test_real_kait_letters_are_bvri_groups(real_data):
    # SNe Ia 30 d after peak: B faintest, then V, R, I (I-band secondary maximum)
    rel = _relative_mags(real_data, {"LOSS", "KAIT_DS15"}, 30.0)
    for group in ("ABCD", "EFGH", "IJKL", "MNOP"):
        mags = [rel[c] for c in group]
        assert mags == sorted(mags, reverse=True), (group, mags)
    assert rel["e"] > rel["f"] > rel["g"]


@pytest.mark.realdata
def test_real_swift_letters(real_data):
    # SNe Ia: UVM2 (N) faintest, then UVW2 (X), then UVW1 (W), then the optical filters
    for phase in (0.0, 30.0):
        rel = _relative_mags(real_data, {"SWIFT"}, phase)
        assert rel["N"] > rel["X"] > rel["W"] > max(rel["U"], rel["B"], rel["V"]), rel


@pytest.mark.realdata
def test_real_csp_v_letters_follow_the_filter_history(real_data):
    # CSP V: LC-3014 (m) until MJD 53749, LC-3009 (o) briefly, LC-9844 (n) from MJD 53760
    times = defaultdict(list)
    for _, survey, text in _real_snana_texts(real_data):
        if survey == "CSPDR3_anthony":
            _, _, varlist, rows = snana._split_lines(text, "t")
            for r in rows:
                times[r[varlist.index("FLT")]].append(float(r[varlist.index("MJD")]))
    assert max(times["m"]) < 53750 and min(times["n"]) > 53759
