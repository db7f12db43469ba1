"""Typed checks of configuration values, and reading a config from YAML.

Each check returns the value (``check_number`` as a float) or raises :class:`ConfigError`
whose message names the config, the field and the bad value, e.g.
``training config: batch_size must be a positive integer, got True``. Booleans are never
integers or numbers here, and numbers are always finite.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from maven.errors import ConfigError

__all__ = [
    "check_bool",
    "check_choice",
    "check_int",
    "check_keys",
    "check_mapping",
    "check_number",
    "check_path",
    "config_from_yaml",
    "fail",
    "read_yaml",
]


def fail(config: str, name: str, requirement: str, value: Any) -> NoReturn:
    """Raise ``ConfigError("<config> config: <name> must be <requirement>, got <value>")``."""
    raise ConfigError(f"{config} config: {name} must be {requirement}, got {value!r}")


def _bounds(minimum, maximum, above, below) -> str:
    """``>= 0``, ``> 0``, ``in [0, 1)``, or ``""`` for no bound."""
    lo = (f"[{minimum}", minimum) if minimum is not None else (f"({above}", above)
    hi = (f"{maximum}]", maximum) if maximum is not None else (f"{below})", below)
    if lo[1] is not None and hi[1] is not None:
        return f" in {lo[0]}, {hi[0]}"
    if lo[1] is not None:
        return f" >= {minimum}" if minimum is not None else f" > {above}"
    if hi[1] is not None:
        return f" <= {maximum}" if maximum is not None else f" < {below}"
    return ""


def _within(v: float, minimum, maximum, above, below) -> bool:
    return (
        (minimum is None or v >= minimum)
        and (maximum is None or v <= maximum)
        and (above is None or v > above)
        and (below is None or v < below)
    )


def check_int(
    config: str,
    name: str,
    value: Any,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    optional: bool = False,
) -> int | None:
    """An integer (not a bool) in ``[minimum, maximum]``; ``None`` too when ``optional``."""
    if value is None and optional:
        return None
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok or not _within(value, minimum, maximum, None, None):
        what = (
            "a positive integer"
            if minimum == 1 and maximum is None
            else "an integer" + _bounds(minimum, maximum, None, None)
        )
        fail(config, name, what + (" or null" if optional else ""), value)
    return value


def check_number(
    config: str,
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    optional: bool = False,
) -> float | None:
    """A finite int or float (not a bool), as a float, within the inclusive bounds
    ``minimum``/``maximum`` and the exclusive ``above``/``below``; ``None`` too when
    ``optional``."""
    if value is None and optional:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not _within(value, minimum, maximum, above, below):
        what = "a finite number" + _bounds(minimum, maximum, above, below)
        fail(config, name, what + (" or null" if optional else ""), value)
    return float(value)


def check_bool(config: str, name: str, value: Any) -> bool:
    """``True`` or ``False`` (not 0, 1 or a string)."""
    if not isinstance(value, bool):
        fail(config, name, "a bool (true or false)", value)
    return value


def check_choice(config: str, name: str, value: Any, choices: Collection) -> Any:
    """One of ``choices``."""
    try:
        ok = value in choices
    except TypeError:  # unhashable
        ok = False
    if not ok:
        fail(config, name, f"one of {list(choices)}", value)
    return value


def check_path(
    config: str, name: str, value: Any, *, exists: bool = False, optional: bool = False
) -> Any:
    """A path (a non-empty string or ``os.PathLike``), which must exist when ``exists``;
    ``None`` too when ``optional``."""
    if value is None and optional:
        return None
    if not (isinstance(value, os.PathLike) or (isinstance(value, str) and value)):
        fail(config, name, "a path" + (" or null" if optional else ""), value)
    if exists and not Path(value).exists():
        fail(config, name, "an existing path", str(value))
    return value


def check_keys(config: str, given: Iterable[str], known: Iterable[str], name: str = "") -> None:
    """Raise :class:`ConfigError` naming the keys of ``given`` not in ``known``."""
    known = sorted(known)
    unknown = sorted(set(given) - set(known))
    if unknown:
        where = f"{config} config" + (f": {name}" if name else "")
        raise ConfigError(f"{where}: unknown keys {unknown}; known: {known}")


def check_mapping(
    config: str,
    name: str,
    value: Any,
    *,
    known: Iterable[str] | None = None,
    optional: bool = False,
) -> dict | None:
    """A mapping with string keys (only ``known`` ones, if given); ``None`` too when
    ``optional``."""
    if value is None and optional:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        fail(config, name, "a mapping" + (" or null" if optional else ""), value)
    if known is not None:
        check_keys(config, value, known, name)
    return value


def read_yaml(path: str | Path, config: str) -> dict:
    """The mapping at the top of a YAML file (empty file: ``{}``).

    Raises:
        ConfigError: unreadable file, bad YAML, or not a mapping at the top level.
    """
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {config} config {path}: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise ConfigError(f"{config} config {path}: expected a mapping at the top level")
    return raw


def config_from_yaml(cls: type, path: str | Path, config: str, overrides: Mapping[str, Any]):
    """A dataclass ``cls`` from a YAML file, the ``overrides`` that are not ``None``
    replacing its keys; unknown keys raise :class:`ConfigError`."""
    from dataclasses import fields

    raw = {**read_yaml(path, config), **{k: v for k, v in overrides.items() if v is not None}}
    check_keys(config, raw, [f.name for f in fields(cls)], str(path))
    return cls(**raw)
