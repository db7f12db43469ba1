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


# ------------------------------------------------------------------ integrity (issue 15)


def _flip(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_failed_write_keeps_the_previous_dataset(tmp_path):
    old = [make_sn(i) for i in range(5)]
    out = write_dataset(old, tmp_path / "conv", shard_size=1)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = make_sn(9)
    bad.type_raw = -1  # an int where the schema holds a string: the campaign's ArrowTypeError
    with pytest.raises(ValidationError, match="object 'SN9', field 'type_raw'"):
        write_dataset([make_sn(7), make_sn(8), bad], out, shard_size=1, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [s.id for s in read_dataset(out)] == [s.id for s in old]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".conv.lock", "conv"]


def test_a_folder_with_other_files_is_not_replaced(tmp_path):
    (tmp_path / "notes.md").write_text("mine")
    with pytest.raises(MavenError, match="holds other files"):
        write_dataset([make_sn(0)], tmp_path, overwrite=True)
    assert (tmp_path / "notes.md").read_text() == "mine"


def test_manifest_checksums_catch_flipped_bytes(tmp_path):
    out = write_dataset([make_sn(i) for i in range(3)], tmp_path / "ds")
    manifest = json.loads((out / "maven_dataset.json").read_text())
    assert manifest["files"]["part-00000.parquet"]["rows"] == 3
    shard = out / "part-00000.parquet"
    _flip(shard, shard.stat().st_size // 2)
    for load in (read_dataset, load_dataset):
        with pytest.raises(FormatError, match="sha256 checksum mismatch"):
            load(out)
    with pytest.raises(FormatError, match="sha256"):
        read_dataset(shard)  # a shard read alone is checked against its folder's manifest


def test_page_checksums_guard_a_shard_without_its_manifest(tmp_path):
    out = write_dataset([make_sn(i) for i in range(3)], tmp_path / "ds")
    (out / "maven_dataset.json").unlink()
    shard = out / "part-00000.parquet"
    size = shard.stat().st_size
    caught = 0
    for offset in range(8, size - 200, max(1, size // 60)):  # data pages, not the footer
        _flip(shard, offset)
        try:
            back = read_dataset(shard)
        except FormatError:
            caught += 1
        else:  # a flip the format does not see must not change a value
            assert len(back) == 3 and all(a.equals(make_sn(i)) for i, a in enumerate(back))
        _flip(shard, offset)
    assert caught > 0


def test_shards_must_match_the_manifest(tmp_path):
    out = write_dataset([make_sn(i) for i in range(4)], tmp_path / "ds", shard_size=2)
    (out / "part-00001.parquet").rename(tmp_path / "away.parquet")
    with pytest.raises(FormatError, match="missing"):
        read_dataset(out)
    (tmp_path / "away.parquet").rename(out / "part-00001.parquet")
    (out / "part-00009.parquet").write_bytes((out / "part-00000.parquet").read_bytes())
    with pytest.raises(FormatError, match="unlisted"):
        read_dataset(out)


def test_an_older_manifest_with_another_shard_count_is_refused(tmp_path):
    # the campaign's data loss: 4 new shards beside a manifest of 13 (old write_dataset)
    out = write_dataset([make_sn(i) for i in range(4)], tmp_path / "ds", shard_size=1)
    manifest = json.loads((out / "maven_dataset.json").read_text())
    del manifest["files"]
    manifest.update(n_shards=13, n_supernovae=63)
    (out / "maven_dataset.json").write_text(json.dumps(manifest))
    with pytest.raises(FormatError, match="lists 13 shards but the folder holds 4"):
        read_dataset(out)


def test_null_detection_flag_and_non_canonical_band_are_refused(tmp_path):
    row = supernova_to_row(make_sn(0))
    row["lc_detected"][1] = None  # parquet null: used to read as False
    with pytest.raises(ValidationError, match="object 'SN0', field 'lc_detected'"):
        row_to_supernova(row)
    row = supernova_to_row(make_sn(0))
    row["lc_band"] = ["[1]"] * len(row["lc_band"])
    with pytest.raises(ValidationError, match=r"field 'lc_band'.*\[1\]"):
        row_to_supernova(row)
    sn = make_sn(0)
    sn.lightcurve.band[:] = "[1]"
    with pytest.raises(ValidationError, match="lightcurve.band"):
        write_dataset([sn], tmp_path / "ds")
    bad = supernova_to_row(make_sn(1))
    bad["lc_detected"][0] = None
    import pyarrow as pa
    import pyarrow.parquet as pq

    from maven.io.dataset import SCHEMA

    pq.write_table(pa.Table.from_pylist([bad], schema=SCHEMA), tmp_path / "x.parquet")
    with pytest.raises(FormatError, match=r"x.parquet: row 0: object 'SN1'.*lc_detected"):
        read_dataset(tmp_path / "x.parquet")
