"""Grouping duplicate objects across catalogues and grouped, stratified cross-validation folds."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from maven.data.folds import (
    UNKNOWN,
    assign_folds,
    fold_counts,
    group_supernovae,
    normalize_name,
)
from maven.data.records import LightCurve, Supernova
from maven.errors import MavenError

ARCSEC = 1.0 / 3600.0


def make(
    sn_id: str,
    aliases: tuple[str, ...] = (),
    ra: float | None = None,
    dec: float | None = None,
    z: float | None = None,
    type_raw: str | None = "Ia",
) -> Supernova:
    lc = LightCurve([58000.0, 58001.0], ["ztf::g", "ztf::r"], [10.0, 12.0], [1.0, 1.0])
    return Supernova(
        sn_id, lightcurve=lc, aliases=list(aliases), ra=ra, dec=dec, redshift=z, type_raw=type_raw
    )


def assert_groups_not_split(groups: np.ndarray, folds: np.ndarray) -> None:
    for g in np.unique(groups):
        assert np.unique(folds[groups == g]).size == 1, f"group {g} spans folds"


# --- normalize_name --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("SN 2011fe", "2011fe"),
        ("sn2011fe", "2011fe"),
        ("SN2011FE", "2011fe"),
        ("2011fe", "2011fe"),
        (" SN_2011fe ", "2011fe"),
        ("AT2018abc", "2018abc"),
        ("AT 2018abc", "2018abc"),
        ("SN1987A", "1987a"),
        ("ZTF18abcdefg", "ztf18abcdefg"),
        ("PTF11kly", "ptf11kly"),
        ("ASASSN-14lp", "asassn-14lp"),
        ("iPTF13bvn", "iptf13bvn"),
        ("PS1-10afx", "ps1-10afx"),
        ("SNLS-06D4ba", "snls-06d4ba"),  # "SN" of a survey name is not an IAU prefix
        ("SNF20080514-002", "snf20080514-002"),
        ("ATLAS17bas", "atlas17bas"),
        ("PSN J13471211-2422171", "psnj13471211-2422171"),
    ],
)
def test_normalize_name(name, expected):
    assert normalize_name(name) == expected


def test_normalize_name_keeps_distinct_surveys_distinct():
    assert normalize_name("iPTF13bvn") != normalize_name("PTF13bvn")
    assert normalize_name("SN2011fe") != normalize_name("SN2011fa")


# --- group_supernovae ------------------------------------------------------------------------


def test_grouping_by_alias_and_name_variants():
    sns = [
        make("SN2018xyz", aliases=("ZTF18abcdefg",)),  # BTS style
        make("ZTF18abcdefg"),  # forced-photometry style, no alias
        make("2011fe"),  # Pantheon+ style
        make("SN 2011fe"),
        make("AT2019abc"),
        make("SN2019abc"),
        make("PTF11kly", aliases=("SN2011fe",)),  # joins the 2011fe group through an alias
        make("SN2019abd"),
    ]
    g = group_supernovae(sns)
    assert g.tolist() == [0, 0, 1, 1, 2, 2, 1, 3]


def test_grouping_chains_links():
    sns = [make("A1", aliases=("B1",)), make("C1"), make("B1", aliases=("C1",))]
    assert group_supernovae(sns).tolist() == [0, 0, 0]


def test_grouping_by_position_and_redshift():
    ra, dec = 150.0, 30.0
    sns = [
        make("a", ra=ra, dec=dec, z=0.05),
        make("b", ra=ra, dec=dec + 1 * ARCSEC, z=0.052),  # 1" away, similar z: same object
        make("c", ra=ra + 10 * ARCSEC / np.cos(np.radians(dec)), dec=dec, z=0.05),  # 10" away
        make("d", ra=200.0, dec=-10.0, z=0.05),
        make("e", ra=200.0, dec=-10.0 + 1 * ARCSEC, z=0.25),  # 1" away but dz = 0.2
        make("f", ra=300.0, dec=45.0, z=0.05),
        make("g", ra=300.0, dec=45.0 + 1 * ARCSEC),  # no redshift: position alone links
        make("h", ra=300.0, dec=45.0 + 30 * ARCSEC),
    ]
    g = group_supernovae(sns)
    assert g.tolist() == [0, 0, 1, 2, 3, 4, 4, 5]
    # a tighter radius or redshift tolerance separates what the defaults join
    assert group_supernovae(sns, match_radius_arcsec=0.5).tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    assert group_supernovae(sns, max_dz=0.001)[:2].tolist() == [0, 1]
    # a wide radius and tolerance join c and e
    wide = group_supernovae(sns, match_radius_arcsec=15.0, max_dz=0.5)
    assert wide[0] == wide[1] == wide[2] and wide[3] == wide[4]


def test_grouping_across_ra_wrap_and_pole():
    sns = [
        make("a", ra=359.99995, dec=0.0),
        make("b", ra=0.00005, dec=0.0),  # 0.36" across RA = 0
        make("c", ra=0.0, dec=89.99995),
        make("d", ra=180.0, dec=89.99995),  # 0.36" across the pole
    ]
    assert group_supernovae(sns).tolist() == [0, 0, 1, 1]


def test_grouping_is_deterministic_and_numbered_by_first_appearance():
    rng = np.random.default_rng(1)
    sns = [make(f"SN2020{chr(97 + i % 20)}", ra=rng.uniform(0, 360), dec=0.0) for i in range(60)]
    g1, g2 = group_supernovae(sns), group_supernovae(sns)
    assert np.array_equal(g1, g2)
    assert g1.dtype.kind == "i" and g1.max() + 1 == 20
    first = [int(np.flatnonzero(g1 == k)[0]) for k in range(20)]
    assert first == sorted(first)


def test_grouping_rejects_negative_tolerances():
    with pytest.raises(MavenError):
        group_supernovae([make("a")], match_radius_arcsec=-1)


def test_grouping_scales():
    n = 7000
    rng = np.random.default_rng(0)
    sns = [
        make(f"obj{i}", ra=rng.uniform(0, 360), dec=np.degrees(np.arcsin(rng.uniform(-1, 1))))
        for i in range(n)
    ]
    sns.append(make("dup", ra=sns[0].ra, dec=sns[0].dec))
    g = group_supernovae(sns)
    assert g[-1] == g[0] and g.max() + 1 == n


# --- assign_folds ----------------------------------------------------------------------------


def synthetic_set(n: int = 300, seed: int = 0) -> list[Supernova]:
    """``n`` records, 60% Ia / 25% II / 15% Ic; every fifth record duplicates the one before."""
    rng = np.random.default_rng(seed)
    types = rng.choice(["Ia", "II", "Ic"], size=n, p=[0.6, 0.25, 0.15])
    sns = []
    for i in range(n):
        if i % 5 == 4:  # the same object again under an alias-style name
            prev = sns[-1]
            sns.append(make(f"ZTF{i:05d}", aliases=(prev.id,), type_raw=prev.type_raw))
        else:
            sns.append(make(f"SN{2000 + i // 26}{chr(97 + i % 26)}{i}", type_raw=str(types[i])))
    return sns


def test_folds_keep_groups_together_and_balance_classes():
    sns = synthetic_set()
    groups = group_supernovae(sns)
    assert groups.max() + 1 == 240  # 60 duplicates found
    folds = assign_folds(sns, n_folds=5, seed=0)
    assert folds.shape == (300,) and set(folds.tolist()) == {0, 1, 2, 3, 4}
    assert_groups_not_split(groups, folds)
    labels = [sn.type for sn in sns]
    counts = fold_counts(labels, folds)
    overall = collections.Counter(labels)
    for k, per_class in counts.items():
        size = sum(per_class.values())
        assert 50 <= size <= 70, (k, size)
        for c, m in per_class.items():
            assert abs(m / size - overall[c] / len(sns)) < 0.06, (k, c, per_class)


def test_folds_are_deterministic_for_a_seed():
    sns = synthetic_set()
    a = assign_folds(sns, seed=3)
    assert np.array_equal(a, assign_folds(sns, seed=3))
    assert not np.array_equal(a, assign_folds(sns, seed=4))


def test_folds_with_given_labels_groups_and_unknown_types():
    sns = [make(f"obj{i}", type_raw=None if i % 3 == 0 else "Ia") for i in range(30)]
    folds = assign_folds(sns, n_folds=3)
    counts = fold_counts([sn.type for sn in sns], folds)
    assert sorted(counts) == [0, 1, 2]
    assert all(c[UNKNOWN] in (3, 4) for c in counts.values())
    assert sum(c[UNKNOWN] for c in counts.values()) == 10
    groups = np.repeat(np.arange(10), 3)  # explicit groups override name matching
    folds = assign_folds(sns, n_folds=2, labels=["x"] * 30, groups=groups)
    assert_groups_not_split(groups, folds)


@pytest.mark.parametrize("n_folds", [1, 0, -2, 2.5, True])
def test_bad_n_folds(n_folds):
    with pytest.raises(MavenError, match="n_folds"):
        assign_folds(synthetic_set(20), n_folds=n_folds)


def test_too_few_groups_and_wrong_lengths():
    same = [make("SN2011fe"), make("2011fe"), make("ZTF11aaa", aliases=("SN 2011fe",))]
    with pytest.raises(MavenError, match="1 group"):
        assign_folds(same, n_folds=2)
    sns = synthetic_set(20)
    with pytest.raises(MavenError, match="labels"):
        assign_folds(sns, labels=["Ia"] * 19)
    with pytest.raises(MavenError, match="groups"):
        assign_folds(sns, groups=np.arange(21))
    with pytest.raises(MavenError, match="labels"):
        fold_counts(["Ia"] * 3, [0, 1])


def test_fold_counts_lists_every_class_in_every_fold():
    counts = fold_counts(["Ia", "II", "Ia", None], [1, 0, 1, 1])
    assert counts == {0: {"II": 1, "Ia": 0, UNKNOWN: 0}, 1: {"II": 0, "Ia": 2, UNKNOWN: 1}}


# --- the real data ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(real_data):
    from maven.io import read_supernovae

    return read_supernovae(real_data, progress=False)


@pytest.mark.realdata
def test_real_duplicates_are_grouped_and_never_split(real):
    sns = list(real)
    source = [(sn.source or "?").split(":")[0] for sn in sns]
    groups = group_supernovae(sns)
    sizes = np.bincount(groups)
    multi = np.flatnonzero(sizes > 1)
    composition = collections.Counter(
        " + ".join(sorted(source[i] for i in np.flatnonzero(groups == k))) for k in multi
    )
    folds = assign_folds(sns, n_folds=5, seed=0, groups=groups)
    print(f"\n{len(sns)} records, {sizes.size} groups, {multi.size} with several records")
    for combo, n in composition.most_common():
        print(f"  {n:4d}  {combo}")
    for k, c in fold_counts([sn.type for sn in sns], folds).items():
        print(f"  fold {k}: {sum(c.values())} {c}")

    assert_groups_not_split(groups, folds)
    assert multi.size >= 50  # ZTF BTS x DR1 and BTS x OSC 2020-21 overlap (PROVENANCE 3)

    # a record joined from several files (maven.io.merge) is found under each of its formats
    where = {
        (part.split(":")[0], sn.id): i
        for i, sn in enumerate(sns)
        for part in (sn.source or "?").split("; ")
    }

    def group_of(src: str, sn_id: str) -> int:
        assert (src, sn_id) in where, f"{sn_id} from {src} not in the real data"
        return int(groups[where[(src, sn_id)]])

    # a ZTF id in both ZTF sets (BTS under its IAU name), plus the WISeREP spectra of the IAU name
    assert group_of("ztf_forced", "ZTF18aarcypa") == group_of("ztf_bts", "SN2018bil")
    assert group_of("wiserep", "SN2018bil") == group_of("ztf_bts", "SN2018bil")
    # "AT" in the OSC and "SN" in BTS
    assert group_of("osc", "AT2020nqw") == group_of("ztf_bts", "SN2020nqw")
    # a survey name in WISeREP that is an alias of a Pantheon+ SN
    assert group_of("wiserep", "ATLAS17bas") == group_of("pplus_wiserep", "SN2017awz")
    # two SNe of one host galaxy 5" apart stay apart
    assert group_of("ztf_bts", "SN2020jdq") != group_of("ztf_bts", "SN2021meh")
