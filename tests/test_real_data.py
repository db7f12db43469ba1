"""The whole of ../shared/data/real reads (or files are skipped with a stated reason), and what
is read agrees with its index. Skipped when the data are absent."""

import csv

import pytest

from maven.io import read_supernovae

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def real(real_data):
    return read_supernovae(real_data, progress=False)


@pytest.fixture(scope="module")
def index(real_data):
    rows = list(csv.DictReader(open(real_data / "index.csv")))
    wiserep = list(csv.DictReader(open(real_data / "wiserep" / "index.csv")))
    return rows, wiserep


def test_every_file_reads_or_has_a_reason(real, index):
    rows, wiserep = index
    # a WISeREP spectrum file and the BTS light curve of one supernova join into one record
    n_joined = sum(n - 1 for n in real.joined.values())
    assert len(real) + n_joined + len(real.skipped_files) == len(rows) + len(wiserep)
    for path, reason in real.skipped_files:
        assert reason and path in reason or reason  # a stated reason for every file
    # the bulk reads: at least 80% of the objects (OSC objects without photometric errors do not)
    assert len(real) >= 0.8 * (len(rows) + len(wiserep))


def test_types_and_redshifts_agree_with_index(real, index):
    rows, wiserep = index
    by_name: dict[str, list[dict]] = {}
    for r in rows + wiserep:  # a name can be in two sets (BTS and OSC) with other values
        by_name.setdefault(r["name"], []).append(r)

    def agrees(sn, row):
        expected = "other" if row["type_coarse"] == "SLSN-II" else row["type_coarse"]
        z_ok = not row["redshift"] or sn.redshift == pytest.approx(float(row["redshift"]), rel=1e-6)
        return sn.type == expected and z_ok

    matched = 0
    for sn in real:
        candidates = by_name.get(sn.id, []) + [r for a in sn.aliases for r in by_name.get(a, [])]
        if not candidates:
            continue
        matched += 1
        assert any(agrees(sn, row) for row in candidates), (sn.id, sn.type, sn.redshift)
    assert matched >= 0.95 * len(real)


def test_every_format_round_trips_through_the_dataset(real, tmp_path_factory):
    """OSC, SNANA/ASCII containers, WISeREP, BTS and forced photometry -> parquet -> records."""
    from maven.io import read_dataset, write_dataset

    out = write_dataset(real, tmp_path_factory.mktemp("real") / "ds", shard_size=2000)
    back = read_dataset(out)
    assert len(back) == len(real)
    assert all(a.equals(b) for a, b in zip(real, back, strict=True))
    assert set(real.formats) >= {"osc", "pplus_wiserep", "wiserep", "ztf_bts", "ztf_forced"}
