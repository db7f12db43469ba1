"""Random malformed input never raises anything but MavenError, and what is read is finite."""

import gzip
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maven import FormatError, MavenError
from maven.data.records import LightCurve, Spectrum
from maven.io import read_dataset, read_supernovae, write_dataset
from maven.io.common import MAX_TEXT_BYTES, read_text
from maven.models import MavenProcessor

from .fuzzing import SEEDS, bomb, check, check_records, mutate, random_records, seed

PROCESSOR = MavenProcessor()

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=8)
)
_json = st.recursive(
    _json_scalars,
    lambda c: st.one_of(
        st.lists(c, max_size=4), st.dictionaries(st.text(max_size=6), c, max_size=4)
    ),
    max_leaves=20,
)
_osc_fields = st.fixed_dictionaries(
    {"name": st.one_of(st.text(max_size=6), st.integers())},
    optional={
        "photometry": st.lists(
            st.dictionaries(
                st.sampled_from(
                    [
                        "time",
                        "band",
                        "magnitude",
                        "e_magnitude",
                        "upperlimit",
                        "telescope",
                        "system",
                        "countrate",
                        "zeropoint",
                        "u_time",
                        "frequency",
                    ]
                ),
                _json_scalars,
                max_size=8,
            ),
            max_size=5,
        ),
        "spectra": st.lists(
            st.dictionaries(
                st.sampled_from(
                    ["time", "data", "u_fluxes", "u_wavelengths", "deredshifted", "redshift"]
                ),
                _json,
                max_size=6,
            ),
            max_size=3,
        ),
        "claimedtype": _json,
        "redshift": _json,
        "ra": _json,
        "dec": _json,
        "ebv": _json,
        "alias": _json,
    },
)
_csv_cell = st.one_of(
    st.floats(allow_nan=True).map(str), st.text(alphabet="gRi-xe.0123 ", max_size=5)
)


def _read(text: str | bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        try:
            read_supernovae(p)
        except MavenError:
            pass


@SETTINGS
@given(event=_osc_fields)
def test_osc_like_json(event):
    _read(json.dumps({"SNX": event}), "x.json")


@SETTINGS
@given(
    rows=st.lists(st.lists(_csv_cell, min_size=4, max_size=4), max_size=6),
    header=st.sampled_from(
        [
            "time,mag,magerr,band",
            "time,band,flux,flux_err,zp,zpsys",
            "time,band,flux,fluxerr,zp,zpsys",
        ]
    ),
)
def test_csv_tables(rows, header):
    _read(header + "\n" + "\n".join(",".join(r) for r in rows), "ZTF00x.csv")


@SETTINGS
@given(data=st.binary(max_size=300))
def test_random_bytes(data):
    _read(data, "blob.dat")


@SETTINGS
@given(n=st.integers(0, 6), data=st.data())
def test_records_from_random_arrays(n, data):
    floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
    arr = lambda: np.array(data.draw(st.lists(floats, min_size=n, max_size=n)))  # noqa: E731
    try:
        LightCurve(arr(), ["ztf::g"] * n, arr(), arr(), object_id="f")
    except MavenError:
        pass
    try:
        Spectrum(arr(), arr(), arr(), object_id="f")
    except MavenError:
        pass


# ----------------------------------------------------------------- the fault campaign, bounded
# tests/fuzzing.py damages a valid seed file of every format; the reader must answer with
# records that are finite, round-trip through the dataset format and process to finite
# tensors, or with a MavenError. benchmarks/fuzz_campaign.py runs the same on >= 10,000 cases.

CAMPAIGN = settings(max_examples=40, deadline=None, derandomize=True, database=None)


@pytest.mark.parametrize("fmt", sorted(SEEDS))
@CAMPAIGN
@given(rng=st.randoms(use_true_random=False))
def test_damaged_files_of_every_format(fmt, rng):
    name, data = mutate(fmt, rng)
    outcome, why = check(fmt, name, data, PROCESSOR)
    assert outcome in ("ok", "error"), why


@settings(max_examples=50, deadline=None, derandomize=True, database=None)
@given(rng=st.randoms(use_true_random=False))
def test_processor_output_is_finite_for_any_valid_record(rng):
    outcome, why = check_records(random_records(rng), PROCESSOR)
    assert outcome == "ok", why


def test_gzip_bomb_is_refused_without_unpacking_it(tmp_path):
    path = tmp_path / "SN1.json.gz"
    head = gzip.compress(b'{"SN1": {"name": "SN1", "photometry": [')  # sniffed as OSC
    path.write_bytes(head + bomb(1024))  # 1 MB that unpacks to 1 GiB
    tracemalloc.start()
    t = time.perf_counter()
    with pytest.raises(FormatError, match="decompression bomb"):
        read_text(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.perf_counter() - t < 20 and peak < 2 * MAX_TEXT_BYTES + 2**26
    assert "decompression bomb" in dict(read_supernovae(tmp_path).skipped_files)[str(path)]


def test_truncated_gzip_is_named_as_such(tmp_path):
    data = gzip.compress(seed("osc"))
    (tmp_path / "a.json.gz").write_bytes(data[:40])  # cut inside the first 4 kB
    (tmp_path / "b.json.gz").write_bytes(data[:-12])  # cut at the end
    skipped = dict(read_supernovae(tmp_path).skipped_files)
    assert all("truncated gzip" in r for r in skipped.values()) and len(skipped) == 2


@pytest.mark.parametrize("depth", [100, 1000, 100_000])
def test_deeply_nested_json_is_a_format_error(tmp_path, depth):
    event = json.loads(seed("osc"))["SN2099a"]
    text = json.dumps({"SN2099a": {**event, "extra": "@@"}})
    (tmp_path / "x.json").write_text(text.replace('"@@"', "[" * depth + "]" * depth))
    with pytest.raises(FormatError, match="nested more than"):
        read_supernovae(tmp_path / "x.json")


def test_huge_osc_numbers_are_dropped_and_counted(tmp_path):
    event = json.loads(seed("osc"))["SN2099a"]
    event["photometry"][0]["magnitude"] = 10**400  # a JSON integer Python holds, no float can
    event["redshift"] = [{"value": 10**400}]
    (tmp_path / "x.json").write_text(json.dumps({"SN2099a": event}))
    (sn,) = read_supernovae(tmp_path / "x.json")
    assert sn.redshift is None and sn.skipped["unreadable redshift"] == 1
    assert len(sn.lightcurve) == 6  # the huge magnitude is dropped, the rest is read


def test_non_string_types_and_names_are_not_stored(tmp_path):
    pplus = json.loads(seed("pplus_wiserep"))
    pplus["type"] = -1  # the campaign's convert failure: an int type made ArrowTypeError
    pplus["spectra"][0]["err_kind_guess"] = 3
    (tmp_path / "SN2099c.json").write_text(json.dumps(pplus))
    (sn,) = read_supernovae(tmp_path / "SN2099c.json")
    assert sn.type_raw is None and sn.spectra
    write_dataset([sn], tmp_path / "ds")
    assert read_dataset(tmp_path / "ds")[0].equals(sn)


def test_a_reader_bug_skips_that_file_and_the_folder_run_goes_on(tmp_path, monkeypatch):
    from maven.io import get_formats, snana

    for fmt in ("osc", "snana"):
        name, _ = SEEDS[fmt]
        (tmp_path / name).write_bytes(seed(fmt))

    def broken(path):
        raise TypeError("a bug")

    monkeypatch.setitem(get_formats(), "snana", get_formats()["snana"].__class__(
        "snana", snana.sniff, broken, "broken"))  # fmt: skip
    sne = read_supernovae(tmp_path)
    assert [sn.id for sn in sne] == ["SN2099a"]
    ((path, reason),) = sne.skipped_files
    assert path.endswith("SN1234.dat") and "snana reader failed: TypeError: a bug" in reason
    with pytest.raises(FormatError, match="SN1234.dat"):
        read_supernovae(tmp_path / "SN1234.dat")


def test_huge_integers_in_an_osc_spectrum_are_dropped(tmp_path):
    event = json.loads(seed("osc"))["SN2099a"]
    event["spectra"][0]["data"][3][1] = 10**400  # np.array(..., float64) raised OverflowError
    (tmp_path / "x.json").write_text(json.dumps({"SN2099a": event}))
    (sn,) = read_supernovae(tmp_path / "x.json")
    assert len(sn.spectra[0]) == 39
    assert sn.skipped["spectrum pixel with non-finite wavelength or flux"] == 1


@pytest.mark.parametrize("key", ["photometry", "spectra"])
def test_osc_photometry_or_spectra_that_are_not_lists(tmp_path, key):
    event = json.loads(seed("osc"))["SN2099a"]
    event[key] = 1e300  # iterating it raised TypeError
    (tmp_path / "x.json").write_text(json.dumps({"SN2099a": event}))
    with pytest.raises(FormatError, match=f"'{key}' must be a list, got float"):
        read_supernovae(tmp_path / "x.json")
