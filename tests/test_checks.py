import math

import pytest

from maven.errors import ConfigError
from maven.utils.checks import (
    check_bool,
    check_choice,
    check_int,
    check_keys,
    check_mapping,
    check_number,
    check_path,
    config_from_yaml,
    read_yaml,
)


@pytest.mark.parametrize(
    "check, value, options, match",
    [
        (check_int, True, {"minimum": 1}, "demo config: f must be a positive integer, got True"),
        (check_int, 1.0, {}, "must be an integer, got 1.0"),
        (check_int, -1, {"minimum": 0, "optional": True}, r"an integer >= 0 or null, got -1"),
        (check_int, 9, {"minimum": 0, "maximum": 8}, r"in \[0, 8\], got 9"),
        (check_number, "x", {"above": 0}, "must be a finite number > 0, got 'x'"),
        (check_number, math.inf, {}, "finite number, got inf"),
        (check_number, math.nan, {"minimum": 0}, "got nan"),
        (check_number, False, {}, "got False"),
        (check_number, 1, {"minimum": 0, "below": 1}, r"in \[0, 1\), got 1"),
        (check_bool, 1, {}, "must be a bool"),
        (check_choice, "fp8", {"choices": ("no", "bf16")}, r"one of \['no', 'bf16'\], got 'fp8'"),
        (check_choice, ["no"], {"choices": {"no"}}, "one of"),
        (check_path, "", {}, "must be a path, got ''"),
        (check_path, "/no/such/place", {"exists": True}, "an existing path"),
        (check_mapping, [1], {}, "must be a mapping"),
        (check_mapping, {"b": 1}, {"known": ["a"]}, r"demo config: f: unknown keys \['b'\]"),
    ],
)
def test_checks_name_config_field_and_value(check, value, options, match):
    with pytest.raises(ConfigError, match=match):
        check("demo", "f", value, **options)


def test_checks_return_good_values(tmp_path):
    assert check_int("demo", "f", 3, minimum=1) == 3
    assert check_int("demo", "f", None, optional=True) is None
    assert check_number("demo", "f", 2, above=0) == 2.0
    assert isinstance(check_number("demo", "f", 2), float)
    assert check_bool("demo", "f", False) is False
    assert check_choice("demo", "f", "no", ("no", "bf16")) == "no"
    assert check_path("demo", "f", tmp_path, exists=True) == tmp_path
    assert check_mapping("demo", "f", {"a": 1}, known=["a"]) == {"a": 1}
    check_keys("demo", ["a"], ["a", "b"])


def test_read_yaml_and_config_from_yaml(tmp_path):
    from dataclasses import dataclass

    @dataclass
    class Demo:
        a: int = 1
        b: str = "x"

    (tmp_path / "empty.yaml").write_text("")
    assert read_yaml(tmp_path / "empty.yaml", "demo") == {}
    (tmp_path / "list.yaml").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="expected a mapping"):
        read_yaml(tmp_path / "list.yaml", "demo")
    (tmp_path / "bad.yaml").write_text("[1, 2")
    with pytest.raises(ConfigError, match="cannot read demo config"):
        read_yaml(tmp_path / "bad.yaml", "demo")
    with pytest.raises(ConfigError, match="cannot read demo config"):
        read_yaml(tmp_path / "missing.yaml", "demo")
    (tmp_path / "ok.yaml").write_text("a: 2\n")
    assert config_from_yaml(Demo, tmp_path / "ok.yaml", "demo", {"b": "y", "a": None}) == Demo(
        2, "y"
    )
    (tmp_path / "extra.yaml").write_text("c: 2\n")
    with pytest.raises(ConfigError, match=r"unknown keys \['c'\]"):
        config_from_yaml(Demo, tmp_path / "extra.yaml", "demo", {})
