import numpy as np
import pytest
from astropy.table import Table

from maven import FormatError
from maven.data.bands import get_band
from maven.data.photometry import mag_to_flux
from maven.io import guess_format, read_supernovae
from maven.io.tables import from_table, to_table, write_table

BTS_CATALOGUE = (
    "ZTFID,IAUID,RA,Dec,peakt,peakfilt,peakmag,peakabs,duration,rise,fade,type,redshift,b,A_V\n"
    "ZTF20aaaaaaa,SN2020abc,08:29:47.59,+33:54:22.8,879.69,g,17.9,-19.3,25.1,10.9,14.1,SN Ia,"
    "0.062,34.1,0.31\n"
)


def test_bts_csv_with_catalogue(tmp_path):
    (tmp_path / "bts.csv").write_text(BTS_CATALOGUE)
    lcdir = tmp_path / "light-curves"
    lcdir.mkdir()
    f = lcdir / "ZTF20aaaaaaa.csv"
    f.write_text(
        "time,mag,magerr,band\n58685.5,19.0,0.1,R\n58680.0,19.5,0.2,g\n58690.0,18.8,0.05,X\n"
    )
    assert guess_format(f) == "ztf_bts"
    (sn,) = read_supernovae(f)
    assert sn.id == "SN2020abc" and sn.aliases == ["ZTF20aaaaaaa"]
    assert sn.type == "Ia" and sn.redshift == 0.062
    assert sn.ra == pytest.approx(127.448292, abs=1e-5) and sn.dec == pytest.approx(
        33.906333, abs=1e-5
    )
    assert sn.mwebv == pytest.approx(0.1)
    lc = sn.lightcurve
    assert lc.band.tolist() == ["ztf::g", "ztf::r"]
    f_r, e_r = mag_to_flux(19.0, 0.1)
    assert lc.flux[1] == pytest.approx(f_r) and lc.flux_err[1] == pytest.approx(e_r)
    assert sn.skipped == {"unplaceable band": 1}
    assert sn.meta["unplaceable_bands"] == {"X": 1}


def test_forced_photometry_jd_and_zero_points(tmp_path):
    f = tmp_path / "ZTF18abcdefg.csv"
    f.write_text(
        "time,band,flux,flux_err,zp,flags,zpsys\n"
        "2458431.5,p48g,1000.0,10.0,26.0,0,ab\n"
        "2458432.5,p48r,20.0,10.0,25.0,0,ab\n"
    )
    assert guess_format(f) == "ztf_forced"
    (sn,) = read_supernovae(f)
    lc = sn.lightcurve
    np.testing.assert_allclose(lc.time, [58431.0, 58432.0])
    assert lc.flux[0] == pytest.approx(1000 * 10 ** (-0.4 * (26.0 - 23.9)))
    assert lc.detected.tolist() == [True, False]  # 100 sigma, 2 sigma
    assert sn.meta["time_input"] == "JD"


def test_sncosmo_example_and_vega_tables(tmp_path):
    import sncosmo

    t = sncosmo.load_example_data()
    sn = from_table(t, object_id="ex")
    i = int(np.argmin(t["time"]))
    assert sn.lightcurve.flux[0] == pytest.approx(t["flux"][i] * 10 ** (-0.4 * (25 - 23.9)))
    vega = Table(
        {
            "time": [55000.0],
            "band": ["bessellb"],
            "flux": [1.0],
            "fluxerr": [0.1],
            "zp": [20.0],
            "zpsys": ["vega"],
        },
        meta={"name": "V1", "z": 0.1},
    )
    sn = from_table(vega)
    off = get_band("bessell::B").vega_to_ab
    assert sn.id == "V1" and sn.redshift == 0.1
    assert sn.lightcurve.flux[0] == pytest.approx(mag_to_flux(20.0 + off))
    with pytest.raises(FormatError):
        from_table(Table({"time": [1.0], "flux": [1.0]}), object_id="x")
    with pytest.raises(FormatError, match="object name"):
        from_table(vega.__class__(vega, meta={}))


@pytest.mark.parametrize("suffix", [".ecsv", ".fits"])
def test_table_file_round_trip(tmp_path, suffix):
    import sncosmo

    sn = from_table(sncosmo.load_example_data(), object_id="ex")
    sn.redshift, sn.type_raw, sn.aliases = 0.5, "SN Ia", ["alias1"]
    sn.meta["note"] = "hello"
    path = write_table(sn, tmp_path / f"ex{suffix}")
    assert guess_format(path) == "sncosmo_table"
    (back,) = read_supernovae(path)
    assert back.lightcurve.equals(sn.lightcurve)
    assert (back.id, back.redshift, back.type_raw, back.aliases) == ("ex", 0.5, "SN Ia", ["alias1"])
    assert back.meta["note"] == "hello"
    assert to_table(back)["flux"].tolist() == sn.lightcurve.flux.tolist()


def test_unreadable_inputs(tmp_path):
    with pytest.raises(FormatError, match="no such"):
        read_supernovae(tmp_path / "missing")
    (tmp_path / "notes.bin").write_bytes(b"\x00\x01\x02")
    with pytest.raises(FormatError, match="not recognised"):
        read_supernovae(tmp_path / "notes.bin")
    with pytest.raises(FormatError, match="unknown format"):
        read_supernovae(tmp_path, format="nope")
    sne = read_supernovae(tmp_path)
    assert sne == [] and len(sne.skipped_files) == 1
