"""Alert packets (ZTF, Rubin), broker light-curve tables (ALeRCE, Fink, ANTARES) and the joining
of one object's files into one record. Packets are written here with the published schemas
(tests/alert_fixtures.py); the real ZTF packets of ../shared are read when present."""

from __future__ import annotations

import glob
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maven import FormatError, MavenError
from maven.data.photometry import mag_to_flux
from maven.data.records import LightCurve, Supernova
from maven.io import guess_format, read_dataset, read_supernovae, write_dataset
from maven.io.alerts_ztf import diff_sign
from maven.io.merge import SAME_EPOCH_DAYS, merge_by_name, unique_points

from .alert_fixtures import (
    rubin_alert,
    rubin_schema,
    write_container,
    write_rubin_wire,
    write_schemaless,
    ztf_alert,
    ztf_schema,
)
from .paths import SHARED_DATA

JD0 = 2459000.5  # MJD 59000
try:
    import lsst.alert.packet  # noqa: F401  (the Rubin schemas, a dev dependency)

    needs_lsst = pytest.mark.skipif(False, reason="")
except ImportError:
    needs_lsst = pytest.mark.skip(reason="the Rubin tests need lsst-alert-packet's schemas")
ZTF_PACKETS = SHARED_DATA / "alerts" / "ztf"


def _flux(mag, err=None):
    return mag_to_flux(np.float32(mag), None if err is None else np.float32(err))


# --- ZTF alert packets --------------------------------------------------------------------


def _ztf_packet(path, version="4.02", object_id="ZTF20abcdefg", candid=1001, jd=JD0 + 10):
    """Candidate (r, 18.5) + a g detection, a g upper limit and forced photometry."""
    alert = ztf_alert(
        object_id,
        {"jd": jd, "fid": 2, "candid": candid, "magpsf": 18.5, "sigmapsf": 0.125,
         "ra": 150.25, "dec": 2.5, "diffmaglim": 20.5},
        prv=[
            {"jd": JD0 + 5, "fid": 1, "candid": 900, "isdiffpos": "f", "magpsf": 19.0,
             "sigmapsf": 0.25, "diffmaglim": 20.0},
            {"jd": JD0 + 1, "fid": 1, "diffmaglim": 20.75},  # nothing detected: an upper limit
        ],
        fp=[
            {"jd": JD0 + 5, "fid": 1, "forcediffimflux": -400.0, "forcediffimfluxunc": 20.0,
             "magzpsci": 26.0},  # same exposure as the g detection: the detection wins
            {"jd": JD0 + 1, "fid": 1, "forcediffimflux": 50.0, "forcediffimfluxunc": 25.0,
             "magzpsci": 26.0},  # same exposure as the limit: forced photometry wins
            {"jd": JD0 + 3, "fid": 2, "forcediffimflux": 300.0, "forcediffimfluxunc": 25.0,
             "magzpsci": 25.5},
            {"jd": JD0 + 4, "fid": 2, "forcediffimflux": -99999.0, "forcediffimfluxunc": 1.0,
             "magzpsci": 25.5},
            {"jd": JD0 + 6, "fid": 2, "forcediffimflux": 10.0, "forcediffimfluxunc": 1.0,
             "magzpsci": 25.5, "procstatus": "56"},
        ],
        version=version,
    )  # fmt: skip
    return write_container(path, ztf_schema(version), [alert])


def test_ztf_4x_packet_detections_limits_and_forced_photometry(tmp_path):
    f = _ztf_packet(tmp_path / "1001.avro")
    assert guess_format(f) == "ztf_alert"
    (sn,) = read_supernovae(f)
    assert sn.id == "ZTF20abcdefg" and sn.meta == {"ztf_schema": "4.02"}
    assert (sn.ra, sn.dec) == (150.25, 2.5) and sn.source == "ztf_alert:1001.avro"
    lc = sn.lightcurve
    assert lc.time.tolist() == [59001.0, 59003.0, 59005.0, 59010.0]
    assert lc.band.tolist() == ["ztf::g", "ztf::r", "ztf::g", "ztf::r"]
    assert lc.detected.tolist() == [False, True, True, True]
    # forced photometry: DN on zero point magzpsci -> uJy
    assert lc.flux[0] == pytest.approx(50.0 * 10 ** (-0.4 * (26.0 - 23.9)))
    assert lc.flux_err[0] == pytest.approx(25.0 * 10 ** (-0.4 * (26.0 - 23.9)))
    assert lc.flux[1] == pytest.approx(300.0 * 10 ** (-0.4 * (25.5 - 23.9)))
    # a negative subtraction (isdiffpos "f") is a negative flux, still a detection
    g_flux, g_err = _flux(19.0, 0.25)
    assert lc.flux[2] == pytest.approx(-g_flux) and lc.flux_err[2] == pytest.approx(g_err)
    r_flux, r_err = _flux(18.5, 0.125)
    assert lc.flux[3] == pytest.approx(r_flux) and lc.flux_err[3] == pytest.approx(r_err)
    assert sn.skipped == {
        "photometric point repeated (same band and epoch)": 2,
        "forced-photometry point without a flux or zero point": 1,
        "forced-photometry point with procstatus other than 0": 1,
    }


def test_ztf_upper_limit_is_zero_flux_with_a_fifth_of_the_limit(tmp_path):
    f = _ztf_packet(tmp_path / "1001.avro")
    (sn,) = read_supernovae(f, options={"ztf_alert": {"forced": False}})
    lc = sn.lightcurve
    assert len(lc) == 3 and not lc.detected[0]
    assert lc.flux[0] == 0.0
    assert lc.flux_err[0] == pytest.approx(_flux(20.75) / 5)
    assert "forced-photometry point with procstatus other than 0" not in sn.skipped


def test_ztf_3x_and_commissioning_schemas(tmp_path):
    (sn3,) = read_supernovae(_ztf_packet(tmp_path / "a.avro", version="3.3"))
    assert sn3.meta == {"ztf_schema": "3.3"} and len(sn3.lightcurve) == 3
    (old,) = read_supernovae(_ztf_packet(tmp_path / "b.avro", version="commissioning"))
    assert old.id == "ZTF-alert-1001" and old.meta == {}
    assert old.lightcurve.equals(sn3.lightcurve)


def test_ztf_schemaless_packet_gets_a_clear_error(tmp_path):
    schema = ztf_schema("commissioning")
    alert = ztf_alert("x", {"jd": JD0, "fid": 1, "candid": 5, "magpsf": 18.0, "sigmapsf": 0.1},
                      version="commissioning")  # fmt: skip
    f = write_schemaless(tmp_path / "5.avro", schema, alert)
    assert guess_format(f) == "ztf_alert"
    with pytest.raises(FormatError, match=r"5\.avro: not an Avro object-container file.*schema"):
        read_supernovae(f)
    (tmp_path / "notes.txt").write_text("not data")
    sne = read_supernovae(tmp_path)
    assert [Path(p).name for p, _ in sne.skipped_files] == ["5.avro", "notes.txt"]


def test_ztf_damaged_and_foreign_containers(tmp_path):
    good = _ztf_packet(tmp_path / "good.avro").read_bytes()
    cut = tmp_path / "cut.avro"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(FormatError, match="cut.avro: unreadable Avro file"):
        read_supernovae(cut)
    other = {"type": "record", "name": "thing", "fields": [{"name": "x", "type": "int"}]}
    with pytest.raises(FormatError, match="format not recognised"):
        read_supernovae(write_container(tmp_path / "thing.avro", other, [{"x": 1}]))
    with pytest.raises(FormatError, match="not a ZTF alert packet"):
        read_supernovae(
            write_container(tmp_path / "t2.avro", {**other, "namespace": "ztf"}, [{"x": 1}]),
            format="ztf_alert",
        )
    empty = write_container(tmp_path / "empty.avro", ztf_schema(), [])
    with pytest.raises(FormatError, match="no alert with usable photometry"):
        read_supernovae(empty)


@settings(max_examples=40, deadline=None)
@given(
    prefix=st.sampled_from([b"", b"Obj\x01", b"\x00\x00\x00\x02\xbd", b"\x00"]),
    body=st.binary(max_size=300),
)
def test_random_avro_bytes_raise_only_format_errors(prefix, body):
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "x.avro"
        f.write_bytes(prefix + body)
        with pytest.raises(FormatError):
            read_supernovae(f)


def test_ztf_namespace_container_with_odd_field_types(tmp_path):
    schema = {
        "namespace": "ztf", "type": "record", "name": "alert",
        "fields": [
            {"name": "objectId", "type": "string"},
            {"name": "candidate", "type": {"type": "record", "name": "c", "fields": [
                {"name": "jd", "type": "string"}, {"name": "fid", "type": "string"}]}},
            {"name": "prv_candidates", "type": "int"},
        ],
    }  # fmt: skip
    f = write_container(tmp_path / "odd.avro", schema, [
        {"objectId": "x", "candidate": {"jd": "soon", "fid": "r"}, "prv_candidates": 3}
    ])  # fmt: skip
    with pytest.raises(FormatError, match="odd.avro: no alert with usable photometry"):
        read_supernovae(f)


def test_ztf_unknown_filter_and_bad_isdiffpos_are_counted(tmp_path):
    alert = ztf_alert(
        "ZTF20x",
        {"jd": JD0, "fid": 2, "candid": 7, "magpsf": 18.0, "sigmapsf": 0.1},
        prv=[{"jd": JD0 - 1, "fid": 9, "diffmaglim": 20.0},
             {"jd": JD0 - 2, "fid": 1, "magpsf": 19.0, "sigmapsf": 0.1, "isdiffpos": "?"},
             {"jd": JD0 - 3, "fid": 1}],
    )  # fmt: skip
    (sn,) = read_supernovae(write_container(tmp_path / "7.avro", ztf_schema(), [alert]))
    assert len(sn.lightcurve) == 1
    assert sn.skipped == {
        "unplaceable band": 1,
        "detection with unreadable isdiffpos": 1,
        "previous candidate with neither a magnitude nor a limit": 1,
    }
    assert sn.meta["unplaceable_bands"] == {"fid 9": 1}


def test_ztf_packets_of_one_object_join_without_repeats(tmp_path):
    """Packet 2 repeats packet 1's candidate in its history: one point, one record."""
    first = ztf_alert("ZTF21aaa", {"jd": JD0, "fid": 1, "candid": 1, "magpsf": 19.0,
                                   "sigmapsf": 0.1})  # fmt: skip
    second = ztf_alert(
        "ZTF21aaa",
        {"jd": JD0 + 2, "fid": 1, "candid": 2, "magpsf": 18.0, "sigmapsf": 0.1},
        prv=[{"jd": JD0, "fid": 1, "candid": 1, "isdiffpos": "t", "magpsf": 19.0,
              "sigmapsf": 0.1}, {"jd": JD0 + 1, "fid": 2, "diffmaglim": 20.0}],
    )  # fmt: skip
    other = ztf_alert("ZTF21bbb", {"jd": JD0, "fid": 2, "candid": 3, "magpsf": 17.0,
                                   "sigmapsf": 0.1})  # fmt: skip
    for name, alert in (("1.avro", first), ("2.avro", second), ("3.avro", other)):
        write_container(tmp_path / name, ztf_schema(), [alert])
    sne = read_supernovae(tmp_path)
    assert [sn.id for sn in sne] == ["ZTF21aaa", "ZTF21bbb"]
    assert sne.joined == {"ZTF21aaa": 2}
    lc = sne[0].lightcurve
    assert lc.time.tolist() == [59000.0, 59001.0, 59002.0]
    assert lc.detected.tolist() == [True, False, True]
    assert sne[0].skipped == {"photometric point repeated in another file of the object": 1}
    assert sne[0].source == "ztf_alert:1.avro; ztf_alert:2.avro"
    # the same alerts in one file give the same records
    both = read_supernovae(write_container(tmp_path / "all.avro", ztf_schema(),
                                           [first, second, other]))  # fmt: skip
    assert [sn.id for sn in both] == ["ZTF21aaa", "ZTF21bbb"]
    assert both[0].lightcurve.equals(lc)
    back = read_dataset(write_dataset(sne, tmp_path / "ds"))  # joined records round-trip
    assert all(a.equals(b) for a, b in zip(sne, back, strict=True))


def test_diff_sign():
    assert [diff_sign(v) for v in ("t", "1", 1, True, "f", "0", 0, -1, False)] == [1.0] * 4 + [
        -1.0
    ] * 5
    assert [diff_sign(v) for v in (None, "", "x", 2, float("nan"))] == [None] * 5


# --- Rubin alert packets ------------------------------------------------------------------


def _rubin(schema, object_id=42, t0=60500.0, band="g"):
    names = schema.definition["name"]
    old = names.startswith(("lsst.v3_", "lsst.v4_"))
    t, b, f, fe = (
        ("midPointTai", "filterName", "psFlux", "psFluxErr")
        if old
        else ("midpointMjdTai", "band", "psfFlux", "psfFluxErr")
    )
    src = {"diaSourceId": 10, "diaObjectId": object_id, t: t0 + 2, b: band, f: 5000.0, fe: 100.0}
    prv = [{"diaSourceId": 9, "diaObjectId": object_id, t: t0 + 1, b: "r", f: -3000.0, fe: 90.0}]
    forced = [
        {"diaForcedSourceId": 1, "diaObjectId": object_id, t: t0, b: "i", f: 400.0, fe: 100.0},
        {"diaForcedSourceId": 2, "diaObjectId": object_id, t: t0 + 2, b: band, f: 4000.0,
         fe: 100.0},  # the same visit as the detection: the detection wins
    ]  # fmt: skip
    limits = [{"ccdVisitId": 1, t: t0 - 1, b: "z", "diaNoise": 50.0}]
    obj = {"diaObjectId": object_id, "ra": 10.5, ("decl" if old else "dec"): -30.25}
    return rubin_alert(schema, src, obj, prv, forced, limits)


@needs_lsst
@pytest.mark.parametrize("version", [(3, 0), (7, 4), (11, 1)])
def test_rubin_packet_every_schema_generation(tmp_path, version):
    schema = rubin_schema(*version)
    f = tmp_path / "alert.avro"
    with open(f, "wb") as fh:
        schema.store_alerts(fh, [_rubin(schema)])
    assert guess_format(f) == "rubin_alert"
    (sn,) = read_supernovae(f)
    assert sn.id == "42" and (sn.ra, sn.dec) == (10.5, -30.25)
    lc = sn.lightcurve
    has_limits = version[0] < 8
    expected = [("lsst::z", 0.0, 0.05, False)] if has_limits else []
    expected += [
        ("lsst::i", 0.4, 0.1, True),  # forced, 4 sigma
        ("lsst::r", -3.0, 0.09, True),  # negative difference flux
        ("lsst::g", 5.0, 0.1, True),
    ]
    got = list(zip(lc.band, lc.flux, lc.flux_err, lc.detected, strict=True))
    assert [g[0] for g in got] == [e[0] for e in expected]
    np.testing.assert_allclose([g[1:3] for g in got], [e[1:3] for e in expected], rtol=1e-6)
    assert [bool(g[3]) for g in got] == [e[3] for e in expected]
    assert sn.skipped == {"photometric point repeated (same band and epoch)": 1}


@needs_lsst
def test_rubin_kafka_wire_message_and_unknown_schema_id(tmp_path):
    schema = rubin_schema(7, 1)
    f = write_rubin_wire(tmp_path / "msg.avro", schema, _rubin(schema, object_id=7))
    assert guess_format(f) == "rubin_alert"
    (sn,) = read_supernovae(f)
    assert sn.id == "7" and len(sn.lightcurve) == 4
    f.write_bytes(b"\x00\x00\x00\x27\x0f" + f.read_bytes()[5:])  # id 9999: no such schema
    with pytest.raises(FormatError, match="msg.avro: .*schema id .*9999"):
        read_supernovae(f)


@needs_lsst
def test_rubin_flagged_sources_solar_system_alerts_and_merging(tmp_path):
    schema = rubin_schema(11, 1)
    a = _rubin(schema, object_id=5)
    a["prvDiaSources"][0]["psfFlux_flag"] = True
    b = _rubin(schema, object_id=5, t0=60510.0)
    ss = _rubin(schema, object_id=None)
    ss.update(diaObject=None, prvDiaForcedSources=None)
    f = tmp_path / "night.avro"
    with open(f, "wb") as fh:
        schema.store_alerts(fh, [a, b, ss])
    (sn,) = read_supernovae(f)
    assert sn.id == "5" and len(sn.lightcurve) == 5
    assert sn.skipped["Rubin source with psfFlux_flag set"] == 1
    assert sn.skipped["alert of a solar-system object (no diaObjectId)"] == 1
    only_ss = tmp_path / "ss.avro"
    with open(only_ss, "wb") as fh:
        schema.store_alerts(fh, [ss])
    with pytest.raises(FormatError, match="ss.avro: no supernova photometry"):
        read_supernovae(only_ss)


@needs_lsst
def test_rubin_package_sample_packets():
    """lsst-alert-packet's samples: v8+ read; v3-v7 carry a Unix time as MJD, a clear error."""
    from lsst.alert.packet import get_schema_root

    samples = sorted(glob.glob(f"{get_schema_root()}/*/*/sample_data/*.avro"))
    assert len(samples) >= 10
    for f in samples:
        major = int(Path(f).parts[-4])
        if major >= 8:
            (sn,) = read_supernovae(f)
            assert sn.id == "281323062375219201" and sn.lightcurve.bands == ["lsst::r"]
            np.testing.assert_allclose(sn.lightcurve.flux, 1.241)  # 1241 nJy
        else:
            with pytest.raises(FormatError, match="fakeAlert.avro: .*'lightcurve.time'"):
                read_supernovae(f)


# --- broker tables --------------------------------------------------------------------------


def test_alerce_csv_of_the_issue_reads(tmp_path):
    f = tmp_path / "alerce.csv"
    f.write_text(
        "oid,candid,mjd,fid,magpsf,sigmapsf\n"
        "ZTF20aaelulu,111,59000.25,1,19.0,0.1\nZTF20aaelulu,112,59001.25,2,18.5,0.05\n"
    )
    assert guess_format(f) == "alerce"
    (sn,) = read_supernovae(f)
    assert sn.id == "ZTF20aaelulu" and sn.lightcurve.band.tolist() == ["ztf::g", "ztf::r"]
    np.testing.assert_allclose(sn.lightcurve.flux, mag_to_flux([19.0, 18.5]))
    assert sn.lightcurve.detected.all() and sn.source == "alerce:alerce.csv"


def test_alerce_detections_non_detections_and_several_objects(tmp_path):
    f = tmp_path / "lc.csv"
    f.write_text(
        "oid,mjd,fid,magpsf,sigmapsf,isdiffpos,diffmaglim,ra,dec\n"
        "ZTF1,59000,1,19.0,0.1,1,20.5,10.0,20.0\n"
        "ZTF1,59001,1,19.0,0.1,-1,20.5,10.0,20.0\n"
        "ZTF1,58990,2,,,,20.0,,\n"
        "ZTF2,59000,3,18.0,0.1,t,20.0,,\n"
        "ZTF2,59002,7,18.0,0.1,t,20.0,,\n"
        ",59000,1,18.0,0.1,t,20.0,,\n"
    )
    one, two = read_supernovae(f)
    assert (one.id, two.id) == ("ZTF1", "ZTF2")
    assert (one.ra, one.dec) == (10.0, 20.0) and two.ra is None
    assert one.lightcurve.detected.tolist() == [False, True, True]
    assert one.lightcurve.flux[0] == 0.0
    assert one.lightcurve.flux_err[0] == pytest.approx(mag_to_flux(20.0) / 5)
    assert one.lightcurve.flux[2] == pytest.approx(-mag_to_flux(19.0))
    assert two.lightcurve.band.tolist() == ["ztf::i"]
    assert two.skipped == {"unplaceable band": 1}
    assert one.skipped == {"row without oid": 1}


def test_fink_csv_tags_and_julian_dates(tmp_path):
    f = tmp_path / "fink.csv"
    f.write_text(
        "i:objectId,i:jd,i:fid,i:magpsf,i:sigmapsf,i:isdiffpos,i:diffmaglim,d:tag\n"
        "ZTF26b,2460000.5,1,,,,20.4,upperlim\n"
        "ZTF26b,2460001.5,2,19.0,0.1,t,20.5,valid\n"
        "ZTF26b,2460002.5,1,18.7,0.1,t,20.5,badquality\n"
        "ZTF26b,2460003.5,2,18.5,0.1,f,20.5,valid\n"
    )
    assert guess_format(f) == "fink"
    (sn,) = read_supernovae(f)
    lc = sn.lightcurve
    assert sn.id == "ZTF26b" and lc.time.tolist() == [60000.0, 60001.0, 60003.0]
    assert lc.detected.tolist() == [False, True, True] and lc.flux[2] < 0
    assert sn.skipped == {"fink row tagged badquality": 1}


def test_antares_csv_ztf_and_rubin_rows(tmp_path):
    f = tmp_path / "ANT2020abc.csv"
    f.write_text(
        "alert_id,ant_mjd,ant_survey,ant_passband,ant_mag,ant_magerr,ant_maglim,ztf_isdiffpos,"
        "ztf_object_id\n"
        "ztf_candidate:1,59000.0,1,R,18.0,0.1,20.0,t,ZTF20abc\n"
        "ztf_candidate:2,59001.0,1,g,18.5,0.1,20.0,f,ZTF20abc\n"
        "ztf_upper_limit:3,58999.0,2,g,,,20.25,,ZTF20abc\n"
        "lsst:4,61000.0,4,y,21.0,0.2,,,ZTF20abc\n"
        "x:5,59002.0,1,H?,18.0,0.1,,t,ZTF20abc\n"
    )
    assert guess_format(f) == "antares"
    (sn,) = read_supernovae(f)
    lc = sn.lightcurve
    assert sn.id == "ZTF20abc"
    assert lc.band.tolist() == ["ztf::g", "ztf::r", "ztf::g", "lsst::y"]
    assert lc.detected.tolist() == [False, True, True, True]
    assert lc.flux[2] == pytest.approx(-mag_to_flux(18.5))
    assert sn.meta["unplaceable_bands"] == {"H?": 1}


def test_broker_table_without_usable_rows(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("oid,mjd,fid,magpsf,sigmapsf\nZTF1,abc,1,x,y\nZTF1,59000,1,,\n")
    with pytest.raises(FormatError, match="bad.csv: no usable photometry in 2 rows"):
        read_supernovae(f)
    f.write_text("oid,mjd,fid,magpsf,sigmapsf\n")
    with pytest.raises(FormatError, match="bad.csv: no rows"):
        read_supernovae(f)


def test_broker_detection_and_non_detection_tables_of_one_object_join(tmp_path):
    (tmp_path / "det.csv").write_text("oid,mjd,fid,magpsf,sigmapsf\nZTF1,59000,1,19,0.1\n")
    (tmp_path / "nondet.csv").write_text("oid,mjd,fid,diffmaglim\nZTF1,58995,1,20.5\n")
    (sn,) = read_supernovae(tmp_path)
    assert sn.lightcurve.detected.tolist() == [False, True]
    assert sn.source == "alerce:det.csv; alerce:nondet.csv"


# --- joining the files of one object ---------------------------------------------------------


def test_spectrum_file_and_light_curve_of_one_object_become_one_record(tmp_path):
    (tmp_path / "SN2020abc.txt").write_text(
        "".join(f"{w} {1e-16 * (1 + 0.01 * i)}\n" for i, w in enumerate(range(4000, 8000, 10)))
    )
    (tmp_path / "lc.csv").write_text(
        "oid,mjd,fid,magpsf,sigmapsf\nsn 2020abc,59000,1,19,0.1\nZTF9,59000,1,19,0.1\n"
    )
    sne = read_supernovae(tmp_path)
    assert sorted(sne.formats) == ["alerce", "ascii_spectrum"]
    assert [sn.id for sn in sne] == ["SN2020abc", "ZTF9"]  # the first file's name
    joined = sne[0]
    assert joined.modalities == ("photometry", "spectrum") and joined.aliases == ["sn 2020abc"]
    assert sne.joined == {"SN2020abc": 2}


def test_light_curves_of_one_name_from_two_formats_stay_apart(tmp_path):
    (tmp_path / "SN2020abc.csv").write_text("time,mag,magerr,band\n59000,19,0.1,g\n")
    (tmp_path / "alerce.csv").write_text("oid,mjd,fid,magpsf,sigmapsf\nSN2020abc,59000,1,19,0.1\n")
    sne = read_supernovae(tmp_path)
    assert [sn.source.split(":")[0] for sn in sne] == ["ztf_bts", "alerce"]
    assert sne.joined == {}


def _sn(name, t, flux, detected=True, **kw):
    n = len(t)
    lc = LightCurve(t, ["ztf::g"] * n, flux, [1.0] * n, [detected] * n)
    return Supernova(id=name, lightcurve=lc, **kw)


def test_merge_keeps_first_scalars_and_lists_conflicts():
    a = _sn("SN 2011fe", [1.0], [5.0], type_raw="Ia", redshift=0.001, meta={"k": 1})
    b = _sn("2011fe", [1.0, 2.0], [5.5, 6.0], type_raw="II", redshift=0.002, ra=10.0,
            meta={"k": 2, "j": "x"})  # fmt: skip
    c = _sn("other", [1.0], [1.0])
    out, joined = merge_by_name([a, c, b])
    assert [sn.id for sn in out] == ["SN 2011fe", "other"] and joined == {"SN 2011fe": 2}
    sn = out[0]
    assert (sn.type, sn.redshift, sn.ra) == ("Ia", 0.001, 10.0)
    assert sn.aliases == ["2011fe"]
    assert sn.meta == {
        "k": [1, 2],
        "j": "x",
        "merge_conflicts": {"type_raw": ["Ia", "II"], "redshift": [0.001, 0.002]},
    }
    assert sn.lightcurve.flux.tolist() == [5.0, 6.0]  # the first record's point at t=1 wins
    with pytest.raises(MavenError, match="2 formats for 3 records"):
        merge_by_name([a, b, c], ["x", "y"])


def test_unique_points_priority_and_epochs():
    tol = SAME_EPOCH_DAYS
    t = [1.0, 1.0 + tol / 2, 1.0, 2.0, 2.0, 5.0, 5.0, 5.0 + 3 * tol, np.nan, np.nan]
    band = ["g", "g", "r", "g", "g", "g", "g", "g", "g", "g"]
    flux = [0.0, 3.0, 1.0, 0.0, 2.0, 1.0, 9.0, 1.0, 1.0, 1.0]
    err = [1.0, 1.0, 1.0, 1.0, 1.0, np.nan, 1.0, 1.0, 1.0, 1.0]
    det = [False, False, True, False, False, True, False, True, True, True]
    keep = unique_points(t, band, flux, err, det)
    # t=1 g: forced (measured) over limit-only; r apart; t=2: forced over limit; t=5: the usable
    # non-detection over an unusable detection; 3 s later is another epoch; NaN times stay apart
    assert keep.tolist() == [1, 2, 4, 6, 7, 8, 9]


# --- the real ZTF packets ---------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.skipif(not ZTF_PACKETS.is_dir(), reason=f"no real ZTF alert packets at {ZTF_PACKETS}")
def test_real_ztf_packets_of_every_schema_version():
    files = sorted(ZTF_PACKETS.glob("*.avro"))
    assert len(files) == 31
    read, failed = [], []
    for f in files:
        try:
            read.append(read_supernovae(f)[0])
        except FormatError as exc:
            failed.append((f.name, str(exc)))
    assert len(read) == 28 and len(failed) == 3
    assert all("not an Avro object-container file" in reason for _, reason in failed)
    assert {f[:14] for f, _ in failed} == {"87704463155000", "87704463155001", "87704463155002"}
    versions = {sn.meta.get("ztf_schema") for sn in read}
    assert versions == {None, "1.1", "1.7", "1.8", "2.0", "3.0", "3.1", "3.2", "3.3", "3.5"}
    lcs = [sn.lightcurve for sn in read]
    assert all(set(lc.bands) <= {"ztf::g", "ztf::r", "ztf::i"} for lc in lcs)
    assert sum(len(lc) for lc in lcs) == 486
    assert sum(int(lc.detected.sum()) for lc in lcs) == 122
    assert sum(int((~lc.detected & (lc.flux == 0)).sum()) for lc in lcs) == 328  # upper limits
    # forced photometry below 3 sigma, from the 3.5 forced-photometry test packets
    assert sum(int((~lc.detected & (lc.flux != 0)).sum()) for lc in lcs) == 36
    sne = read_supernovae(ZTF_PACKETS)
    assert len(sne) == 21 and sne.joined["ZTF17aaajnnn"] == 5
    (aaajnnn,) = [sn for sn in sne if sn.id == "ZTF17aaajnnn"]
    assert len(aaajnnn.lightcurve) == 74
