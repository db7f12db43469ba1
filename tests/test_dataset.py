import json

import numpy as np
import pytest

from maven import FormatError, MavenError, ValidationError
from maven.data.records import LightCurve, Spectrum, Supernova
from maven.io.dataset import (
    iter_supernovae,
    load_dataset,
    read_dataset,
    row_to_supernova,
    supernova_to_row,
    write_dataset,
)


def make_sn(i: int, spectra: bool = True, photometry: bool = True) -> Supernova:
    rng = np.random.default_rng(i)
    n = 5 + i
    lc = None
    if photometry:
        lc = LightCurve(
            np.sort(rng.uniform(58000, 58100, n)),
            rng.choice(["ztf::g", "ztf::r", "lsst::y"], n),
            rng.normal(100, 30, n),
            rng.uniform(1, 5, n),
            rng.random(n) > 0.3,
            object_id=f"SN{i}",
        )
    specs = []
    if spectra:
        w = np.linspace(3500, 9000, 50 + i)
        specs = [
            Spectrum(
                w,
                rng.normal(1, 0.1, w.size),
                rng.uniform(0.01, 0.1, w.size),
                mjd=58050.5,
                instrument="SEDM",
                meta={"file": f"s{i}.ascii"},
            ),
            Spectrum(
                w * 1.01, rng.normal(1, 0.1, w.size), None, mjd=None, flux_unit="uncalibrated"
            ),
        ]
    return Supernova(
        id=f"SN{i}",
        lightcurve=lc,
        spectra=specs,
        aliases=[f"ZTF{i}"],
        type_raw="SN Ia-91T",
        redshift=0.01 * (i + 1),
        ra=10.0 + i,
        dec=-5.5,
        mwebv=None,
        source="test",
        meta={"truth": {"t0": 58010.25 + i, "x1": [0.1, -1.5]}, "n": i},
        skipped={"unplaceable band": i},
    )


def test_round_trip_is_exact(tmp_path):
    sne = [make_sn(0), make_sn(1, spectra=False), make_sn(2, photometry=False), make_sn(3)]
    out = write_dataset(sne, tmp_path / "ds", shard_size=3)
    assert sorted(p.name for p in out.glob("*.parquet")) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    manifest = json.loads((out / "maven_dataset.json").read_text())
    assert manifest["n_supernovae"] == 4 and manifest["counts_per_type"] == {"Ia": 4}
    back = read_dataset(out)
    assert len(back) == 4
    for a, b in zip(sne, back, strict=True):
        assert a.equals(b), a.id
    assert back[1].spectra == [] and back[2].lightcurve is None
    assert back[0].spectra[1].flux_err is None and back[0].spectra[1].mjd is None


def test_huggingface_datasets_and_streaming(tmp_path):
    sne = [make_sn(i) for i in range(5)]
    out = write_dataset(sne, tmp_path / "ds")
    ds = load_dataset(out)
    assert ds.num_rows == 5
    assert row_to_supernova(ds[2]).equals(sne[2])
    stream = load_dataset(out, streaming=True)
    rows = list(stream)
    assert [r["id"] for r in rows] == [s.id for s in sne]
    assert row_to_supernova(rows[4]).equals(sne[4])


def test_overwrite_protection_and_bad_inputs(tmp_path):
    out = write_dataset([make_sn(0)], tmp_path / "ds")
    with pytest.raises(MavenError, match="already holds"):
        write_dataset([make_sn(1)], out)
    write_dataset([make_sn(1)], out, overwrite=True)
    assert [s.id for s in read_dataset(out)] == ["SN1"]
    with pytest.raises(MavenError):
        write_dataset([make_sn(0)], tmp_path / "x", shard_size=0)
    bad = make_sn(0)
    bad.meta["x"] = object()
    with pytest.raises(ValidationError, match="meta"):
        supernova_to_row(bad)
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(FormatError):
        list(iter_supernovae(tmp_path / "junk.parquet"))
    with pytest.raises(FormatError):
        read_dataset(tmp_path / "empty_dir_missing")


def test_malformed_row_raises_format_error():
    row = supernova_to_row(make_sn(0))
    row["lc_flux"] = row["lc_flux"][:-1]
    with pytest.raises(MavenError):
        row_to_supernova(row)
    del row["spectra"]
    row["lc_flux"] = None
    with pytest.raises(MavenError):
        row_to_supernova(row)
