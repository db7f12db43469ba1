import pytest

from maven import ConfigError
from maven.data.types import TypeMapping, map_type, normalise_type


@pytest.mark.parametrize(
    "raw, cls",
    [
        ("Ia", "Ia"),
        ("SN Ia-91T-like", "Ia"),
        ("Ia Pec", "Ia"),
        ("Iax", "Ia"),
        ("Ia-CSM", "Ia"),
        ("Ia?", "Ia"),
        (".Ia", "Ia"),
        ("SN Iax[02cx-like]", "Ia"),
        ("II P", "II"),
        ("SN IIP", "II"),
        ("IIL", "II"),
        ("II Pec", "II"),
        ("Ic BL", "Ibc"),
        ("SN Ic-BL", "Ibc"),
        ("IIb", "Ibc"),
        ("Ib/c", "Ibc"),
        ("Ibn", "Ibc"),
        ("IIn", "IIn"),
        ("IIn?", "IIn"),
        ("SN IIn-pec", "IIn"),
        ("SLSN-I", "SLSN-I"),
        ("SLSN-I-R", "SLSN-I"),
        ("SLSN-II", "other"),
        ("SLSN", "other"),
        ("SN Ib - Ca-rich", "other"),
        ("TDE", "other"),
        ("I", "other"),
        ("SN", "other"),
        ("LBV to IIn", "other"),
    ],
)
def test_default_mapping(raw, cls):
    assert map_type(raw) == cls


def test_none_stays_none_and_normalisation():
    assert map_type(None) is None
    assert normalise_type("SN Ia-91T-like") == "ia-91t-like"


def test_custom_mapping_and_bad_config(tmp_path):
    m = TypeMapping(rules=[(r"ia.*", "Ia"), (r"ii.*", "II")], classes=("Ia", "II"))
    assert m("Ia-91bg") == "Ia" and m("IIn") == "II" and m("Ic") == "other"
    with pytest.raises(ConfigError):
        TypeMapping(rules=[(r"ia", "Ia-weird")], classes=("Ia",))
    with pytest.raises(ConfigError):
        TypeMapping(rules=[(r"(", "Ia")], classes=("Ia",))
    f = tmp_path / "types.yaml"
    f.write_text("classes: [Ia, CC]\nrules:\n  - ['ia.*', Ia]\n  - ['i.*', CC]\n")
    m = TypeMapping.from_yaml(f)
    assert m("IIP") == "CC" and m("AGN") == "other"
    (tmp_path / "bad.yaml").write_text("just a string")
    with pytest.raises(ConfigError):
        TypeMapping.from_yaml(tmp_path / "bad.yaml")


def test_matches_the_index_of_real_data(real_data):
    import csv

    for index in (real_data / "index.csv", real_data / "wiserep" / "index.csv"):
        for row in csv.DictReader(open(index)):
            expected = "other" if row["type_coarse"] == "SLSN-II" else row["type_coarse"]
            assert map_type(row["type_raw"]) == expected, row["type_raw"]
