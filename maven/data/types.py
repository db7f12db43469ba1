"""Supernova type strings -> maven's classes.

Real catalogues write types many ways (``"SN Ia-91T-like"``, ``"Ia Pec"``, ``"II P"``,
``"Ic BL"``, ``"SLSN-I"``). :func:`map_type` normalises a raw string and maps it with an
ordered list of regular-expression rules (first match wins) onto the default classes

=========  ===============================================================================
class      raw types (examples)
=========  ===============================================================================
Ia         Ia, Ia-norm, Ia-91T, Ia-91bg, Ia-pec, Iax/02cx, Ia-CSM, Ia-SC/03fg, Ia-HV, .Ia
II         II, IIP, IIL, II-pec
Ibc        Ib, Ic, Ic-BL, Ib/c, IIb, Ibn, Icn (stripped envelope, IIb included)
IIn        IIn, IIn-pec, IIn/Ibn
SLSN-I     SLSN-I (incl. SLSN-I-R)
other      everything else: SLSN-II, ambiguous "SLSN", "I", "SN", Ca-rich, LBV, TDE, AGN, CV,
           stars, novae, X-ray binaries, ...
=========  ===============================================================================

These match the ``type_coarse`` column of ``../shared/data/real`` (where SLSN-II is its own
column but falls in ``other`` here). A trailing ``?`` is ignored (``"Ia?"`` -> Ia); Ia-CSM stays
Ia by convention although its light curve is IIn-like. Pass your own :class:`TypeMapping` (or
``rules=`` YAML via :meth:`TypeMapping.from_yaml`) to change any of this.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from maven.errors import ConfigError
from maven.utils.checks import check_keys, fail, read_yaml

__all__ = ["DEFAULT_CLASSES", "DEFAULT_RULES", "TypeMapping", "map_type", "normalise_type"]

DEFAULT_CLASSES = ("Ia", "II", "Ibc", "IIn", "SLSN-I")
OTHER = "other"

#: (regex on the normalised string, class), first match wins.
DEFAULT_RULES: tuple[tuple[str, str], ...] = (
    (r"^(ca-rich|ib-ca-rich|ib - ca-rich).*", OTHER),
    (r".*ca-rich.*", OTHER),
    (r"^slsn-i(-r)?$", "SLSN-I"),
    (r"^slsn.*", OTHER),
    (r"^lbv.*", OTHER),
    (r"^iin(-?pec)?$|^iin/ibn$", "IIn"),
    (r"^ia(x|-.*|\s.*|pec|\*)?$|^\.ia.*$|^lensed ia$", "Ia"),
    (r"^ii(p|l|-?pec|-p|-l)?$", "II"),
    (r"^(iib|ib|ic|ibc|ib/c|ic-?bl|bl-ic|ibn|icn|ibn/icn|iib/ib/ic|ib-?pec|ic-?pec)$", "Ibc"),
)


def normalise_type(raw: str) -> str:
    """Lower-case, drop a leading ``SN``, question marks and brackets; unify separators.

    >>> normalise_type("SN Ia-91T-like")
    'ia-91t-like'
    >>> normalise_type("II P")
    'iip'
    >>> normalise_type("Ic BL")
    'ic-bl'
    """
    s = str(raw).strip().lower()
    s = re.sub(r"[?]", "", s)
    s = re.sub(r"\[.*?\]", "", s).strip()
    s = re.sub(r"^sn\s*", "", s)
    s = re.sub(r"^lensed\s+sn\s+", "lensed ", s)
    s = re.sub(r"\s+", " ", s).strip()
    # "ii p" -> "iip", "ii l" -> "iil", "ic bl" -> "ic-bl", "ia pec" -> "ia-pec"
    s = re.sub(r"^(ii) ([pl])$", r"\1\2", s)
    s = re.sub(r"^(i[abcn]*|ii[bn]?) (bl|pec)$", r"\1-\2", s)
    s = re.sub(r"^ia (\d)", r"ia-\1", s)
    s = s.replace("ia csm", "ia-csm")
    return s


@dataclass(frozen=True)
class TypeMapping:
    """Ordered rules mapping raw type strings to classes.

    Args:
        rules: ``(regex, class)`` pairs tried in order on :func:`normalise_type` output.
        classes: the classes a model predicts; anything else maps to ``other``.
        other: the label for unmatched strings.
    """

    rules: Sequence[tuple[str, str]] = DEFAULT_RULES
    classes: Sequence[str] = DEFAULT_CLASSES
    other: str = OTHER
    _compiled: tuple = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = []
        for i, rule in enumerate(self.rules):
            if len(rule) != 2:
                raise ConfigError(f"type rule {i} must be (regex, class), got {rule!r}")
            pattern, cls = rule
            if cls != self.other and cls not in self.classes:
                raise ConfigError(
                    f"type rule {i} maps to {cls!r}, which is not one of {list(self.classes)} "
                    f"or {self.other!r}"
                )
            try:
                compiled.append((re.compile(pattern), cls))
            except re.error as exc:
                raise ConfigError(f"type rule {i}: bad regex {pattern!r}: {exc}") from None
        object.__setattr__(self, "_compiled", tuple(compiled))

    def __call__(self, raw: str | None) -> str | None:
        """Map one raw string; ``None`` stays ``None``."""
        if raw is None:
            return None
        s = normalise_type(raw)
        for pattern, cls in self._compiled:
            if pattern.fullmatch(s):
                return cls
        return self.other

    @classmethod
    def from_yaml(cls, path: str | Path) -> TypeMapping:
        """Load ``{classes: [...], rules: [[regex, class], ...], other: str}`` from YAML."""
        data = read_yaml(path, "type mapping")
        check_keys("type mapping", data, ("classes", "rules", "other"), str(path))
        rules = data.get("rules")
        if not isinstance(rules, list) or not all(isinstance(r, list) for r in rules):
            fail("type mapping", "rules", "a list of [regex, class] pairs", rules)
        classes = data.get("classes", list(DEFAULT_CLASSES))
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            fail("type mapping", "classes", "a list of class names", classes)
        other = data.get("other", OTHER)
        if not isinstance(other, str):
            fail("type mapping", "other", "a class name", other)
        return cls(rules=[tuple(r) for r in rules], classes=tuple(classes), other=other)


_DEFAULT = TypeMapping()


def map_type(raw: str | None, mapping: TypeMapping | None = None) -> str | None:
    """Map a raw type string with ``mapping`` (the default rules when ``None``)."""
    return (mapping or _DEFAULT)(raw)
