"""The band registry: band names as real data write them -> transmission curves.

Every band a fresh install knows ships with it: from speclite (a dependency), or as package data
in ``maven/data/filters`` (copied from the piscola 3.1.0 wheel, MIT; source, licence and
citation per system in ``maven/data/filters/PROVENANCE.md``):

=============================  ================================================  =========
bands (canonical names)        curve source (package: files)                      default
=============================  ================================================  =========
lsst::u g r i z y              speclite ``lsst2023-*`` (Rubin baseline v1.9)      AB
ps1::g r i z y w               speclite ``panstarrs-*`` (Tonry+12)                AB
sdss::u g r i z                speclite ``sdss2010-*`` (Doi+10)                   AB
bessell::U B V R I             speclite ``bessell-*`` (Bessell 1990)              Vega
2mass::J H Ks                  speclite ``twomass-*`` (Cohen+03)                  Vega
gaia::G BP RP                  speclite ``gaiadr3-*``                             Vega
galex::FUV NUV                 speclite ``galex-*``                               AB
des::g r i z Y                 maven ``DES/des_*``                                AB
ztf::g r i                     maven ``ZTF/ztf_*`` (SNooPy: SVO + atmosphere)     AB
atlas::c o                     ``$MAVEN_TEMPLATE_DIR/filters/atlas/ATLAS_*.dat``  AB
                               (SVO; not redistributed: absent without it)
swift::uvw2 uvm2 uvw1 u b v    maven ``Swift/uvot_*`` (SVO)                       Vega
csp::u g r i B V V3009 V3014   maven ``CSP/csp_*`` (Swope, Stritzinger+11)        AB ugri,
csp::Y J H (RetroCam/Swope)    maven ``Swope/*``, ``Dupont/*`` (du Pont:          Vega rest
csp::Yd Jd Hd (du Pont)        ``Yd Jd Hd``)
keplercam::U B V r i           maven ``Keplercam/*`` (CfA3/4)                     Vega UBV
4shooter::U B V R I            maven ``4Shooter2/*`` (CfA1-3)                     Vega
cfa4p1::U B V r i, cfa4p2::..  maven ``CFA4/p1_*``, ``p2_*``                      Vega UBV
megacam::g r i z               maven ``Megacam/*`` (SNLS3)                        AB
usno40::u g r i z              maven ``USNO40/*`` (SDSS photometric telescope)    AB
kait::B V R I                  Bessell curves (KAIT/Nickel natural BVRI are        Vega
                               close to Johnson-Cousins; documented approximation)
=============================  ================================================  =========

``vega_to_ab`` (m_AB - m_Vega) of every band is computed by synthetic photometry of the
CALSPEC Vega spectrum ``alpha_lyr_stis_005`` (shipped in ``maven/data/filters/CALSPEC``),
Vega = 0 in all bands.

:func:`resolve_band` places a band as data write it (``"R"`` from telescope ``"P48"``,
``"UVW1"``, ``"c"``, ``"w"``, ``"r'"``) using telescope/instrument/survey context; a band that
cannot be placed raises :class:`maven.UnknownBandError` (readers count it as a skip), never a
silent guess. Bare Johnson-Cousins letters are read as the standard system (Bessell curves) and
bare ``ugriz`` / primed ``u'g'r'i'z'`` as SDSS, as catalogues publish standard-system
magnitudes when no instrument is named; everything else needs context.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from maven.errors import UnknownBandError

__all__ = [
    "Band",
    "get_band",
    "resolve_band",
    "ab_offset",
    "list_bands",
    "vega_spectrum",
]

_C_ANGSTROM_S = 2.99792458e18
_AB_FNU = 3631e-23  # erg/s/cm^2/Hz


@dataclass(frozen=True, eq=False)
class Band:
    """A photometric band: photon-counting transmission on an Angstrom grid.

    Attributes:
        name: canonical name, ``"<system>::<band>"`` (e.g. ``"ztf::r"``).
        wavelength: Angstrom, strictly increasing. Shape ``(n,)``.
        transmission: photon response, >= 0, peak 1. Shape ``(n,)``.
        magsys: ``"AB"`` or ``"Vega"``: the system of a magnitude in this band when the source
            states none.
        source: where the curve comes from (package and file).
        note: caveats (approximations).
    """

    name: str
    wavelength: np.ndarray
    transmission: np.ndarray
    magsys: str
    source: str
    note: str = ""
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def wave_eff(self) -> float:
        """Transmission-weighted mean wavelength (Angstrom)."""
        w, t = self.wavelength, self.transmission
        return float(np.trapezoid(w * t, w) / np.trapezoid(t, w))

    @property
    def width(self) -> float:
        """Equivalent width ``int T dlambda / max T`` (Angstrom)."""
        return float(np.trapezoid(self.transmission, self.wavelength))

    @property
    def vega_to_ab(self) -> float:
        """m_AB - m_Vega in this band (Vega = 0 in all bands, CALSPEC alpha_lyr_stis_005)."""
        if "vega_to_ab" not in self._cache:
            w, f = vega_spectrum()
            self._cache["vega_to_ab"] = synthetic_ab_mag(self, w, f)
        return self._cache["vega_to_ab"]

    def to_sncosmo(self):
        """The same curve as an ``sncosmo.Bandpass`` (for the simulator)."""
        import sncosmo

        return sncosmo.Bandpass(self.wavelength, self.transmission, name=self.name)

    def __repr__(self) -> str:
        return (
            f"Band({self.name!r}, wave_eff={self.wave_eff:.0f} A, width={self.width:.0f} A, "
            f"magsys={self.magsys})"
        )


def synthetic_ab_mag(band: Band, wavelength, flux) -> float:
    """AB magnitude of an F_lambda spectrum (erg/s/cm^2/A) through a photon-counting band."""
    w = band.wavelength
    f = np.interp(w, np.asarray(wavelength, float), np.asarray(flux, float), left=0, right=0)
    num = np.trapezoid(f * band.transmission * w, w)
    ref = np.trapezoid(_AB_FNU * _C_ANGSTROM_S / w**2 * band.transmission * w, w)
    return float(-2.5 * np.log10(num / ref))


# --------------------------------------------------------------------------- curve loaders


def _package_dir(package: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UnknownBandError(f"package {package!r}, which ships this band's curve, is missing")
    return Path(next(iter(spec.submodule_search_locations)))


def _speclite(name: str) -> tuple[np.ndarray, np.ndarray, str]:
    from astropy.table import Table

    path = _package_dir("speclite") / "data" / "filters" / f"{name}.ecsv"
    table = Table.read(path, format="ascii.ecsv")
    wave = table["wavelength"].quantity.to_value("Angstrom")
    return wave, np.asarray(table["response"], float), f"speclite:{name}"


def _shipped(relpath: str, energy: bool = False) -> tuple[np.ndarray, np.ndarray, str]:
    """A curve shipped in ``maven/data/filters`` (Angstrom; see its ``PROVENANCE.md``)."""
    data = _read_shipped(relpath)
    wave, trans = data[:, 0], data[:, 1]
    if energy:  # energy response -> photon response
        trans = trans / wave
    return wave, trans, f"maven:data/filters/{relpath}"


def _template_filter(relpath: str) -> tuple[np.ndarray, np.ndarray, str]:
    """A curve read from ``$MAVEN_TEMPLATE_DIR/filters/<relpath>`` (Angstrom): for bands whose
    curves maven may not redistribute."""
    root = os.environ.get("MAVEN_TEMPLATE_DIR")
    path = Path(root).expanduser() / "filters" / relpath if root else None
    if path is None or not path.is_file():
        raise UnknownBandError(
            f"this band's curve is not shipped: put it at $MAVEN_TEMPLATE_DIR/filters/{relpath} "
            f"(MAVEN_TEMPLATE_DIR is {root!r})"
        )
    data = np.loadtxt(path, comments="#", usecols=(0, 1))
    return data[:, 0], data[:, 1], str(path)


def _read_shipped(relpath: str) -> np.ndarray:
    with resources.as_file(resources.files("maven.data") / "filters" / relpath) as path:
        return np.loadtxt(path, comments="#", usecols=(0, 1))


def _clean_curve(wave: np.ndarray, trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(wave, kind="stable")
    wave, trans = wave[order], np.clip(trans[order], 0.0, None)
    keep = np.concatenate([[True], np.diff(wave) > 0])
    wave, trans = wave[keep], trans[keep]
    nz = np.flatnonzero(trans > 0)
    lo, hi = max(nz[0] - 1, 0), min(nz[-1] + 2, wave.size)
    return wave[lo:hi], trans[lo:hi] / trans.max()


# name -> (loader, args, default magsys, note)
_SPECS: dict[str, tuple] = {}


def _register(name: str, loader, args: tuple, magsys: str, note: str = "") -> None:
    _SPECS[name] = (loader, args, magsys, note)


for _b in "ugrizy":
    _register(f"lsst::{_b}", _speclite, (f"lsst2023-{_b}",), "AB")
for _b in "grizyw":
    _register(f"ps1::{_b}", _speclite, (f"panstarrs-{_b}",), "AB")
for _b in "ugriz":
    _register(f"sdss::{_b}", _speclite, (f"sdss2010-{_b}",), "AB")
for _b in "UBVRI":
    _register(f"bessell::{_b}", _speclite, (f"bessell-{_b}",), "Vega")
    _register(f"4shooter::{_b}", _shipped, (f"4Shooter2/4Shooter2_{_b}.dat", True), "Vega")
for _b in "BVRI":
    _register(
        f"kait::{_b}",
        _speclite,
        (f"bessell-{_b}",),
        "Vega",
        "KAIT/Nickel natural system approximated by the Bessell curve",
    )
for _b in ("J", "H", "Ks"):
    _register(f"2mass::{_b}", _speclite, (f"twomass-{_b}",), "Vega")
for _b in ("G", "BP", "RP"):
    _register(f"gaia::{_b}", _speclite, (f"gaiadr3-{_b}",), "Vega")
_register("galex::FUV", _speclite, ("galex-fuv",), "AB")
_register("galex::NUV", _speclite, ("galex-nuv",), "AB")
for _b in "griz":
    _register(f"des::{_b}", _shipped, (f"DES/des_{_b}.dat",), "AB")
    _register(f"megacam::{_b}", _shipped, (f"Megacam/Megacam_{_b}.dat",), "AB")
_register("des::Y", _shipped, ("DES/des_Y.dat",), "AB")
for _b in "gri":
    _register(f"ztf::{_b}", _shipped, (f"ZTF/ztf_{_b}.dat",), "AB")
for _b in "co":
    _register(f"atlas::{_b}", _template_filter, (f"atlas/ATLAS_{_b}.dat",), "AB")
for _b in ("uvw2", "uvm2", "uvw1", "u", "b", "v"):
    _register(f"swift::{_b}", _shipped, (f"Swift/uvot_{_b}.dat",), "Vega")
for _b in "ugri":
    _register(f"csp::{_b}", _shipped, (f"CSP/csp_{_b}.dat",), "AB")
    _register(f"usno40::{_b}", _shipped, (f"USNO40/usno_{_b}.dat",), "AB")
_register("usno40::z", _shipped, ("USNO40/usno_z.dat",), "AB")
_register("csp::B", _shipped, ("CSP/csp_B.dat",), "Vega")
_register("csp::V", _shipped, ("CSP/csp_n.dat",), "Vega", "CSP V is LC-9844 (CSP-n)")
_register("csp::V9844", _shipped, ("CSP/csp_n.dat",), "Vega")
_register("csp::V3009", _shipped, ("CSP/csp_o.dat",), "Vega")
_register("csp::V3014", _shipped, ("CSP/csp_m.dat",), "Vega")
for _b, _f in (("Y", "Swope/Swope_Y.dat"), ("J", "Swope/Swope_J.dat"), ("H", "Swope/Swope_H.dat")):
    _register(f"csp::{_b}", _shipped, (_f,), "Vega")
for _b in "YJH":
    _register(f"csp::{_b}d", _shipped, (f"Dupont/Dupont_{_b}d.dat",), "Vega")
for _b, _f in (("U", "Us"), ("B", "B"), ("V", "V"), ("r", "r"), ("i", "i")):
    _register(
        f"keplercam::{_b}",
        _shipped,
        (f"Keplercam/Keplercam_{_f}.dat",),
        "Vega" if _b in "UBV" else "AB",
    )
    for _p in ("p1", "p2"):
        _register(
            f"cfa4{_p}::{_b}", _shipped, (f"CFA4/{_p}_{_b}.dat",), "Vega" if _b in "UBV" else "AB"
        )


@cache
def get_band(name: str | Band) -> Band:
    """The :class:`Band` with canonical ``name`` (a :class:`Band` is returned unchanged).

    Raises:
        UnknownBandError: the name is not registered (the message lists close names).
    """
    if isinstance(name, Band):
        return name
    if name not in _SPECS:
        prefix, _, stem = str(name).lower().rpartition("::")
        close = [n for n in _SPECS if n.lower().startswith(prefix + "::")] if prefix else []
        close += [n for n in _SPECS if n.split("::")[-1].lower() == stem and n not in close]
        close = close[:10]
        hint = f"; close names: {close}" if close else ""
        raise UnknownBandError(f"unknown band {name!r}{hint} (see maven.data.bands.list_bands())")
    loader, args, magsys, note = _SPECS[name]
    wave, trans, source = loader(*args)
    wave, trans = _clean_curve(np.asarray(wave, float), np.asarray(trans, float))
    return Band(name, wave, trans, magsys, source, note)


def list_bands() -> list[str]:
    """All canonical band names."""
    return sorted(_SPECS)


@lru_cache(maxsize=1)
def vega_spectrum() -> tuple[np.ndarray, np.ndarray]:
    """CALSPEC ``alpha_lyr_stis_005`` (Angstrom, erg/s/cm^2/A), shipped with maven."""
    data = _read_shipped("CALSPEC/alpha_lyr_stis_005.dat.gz")
    return data[:, 0], data[:, 1]


# --------------------------------------------------------------------------- resolution

# Context rules: (regex on "telescope | instrument | survey", {band as written: canonical}).
# First rule whose context matches *and* that knows the band wins.
_UBVRI = {b: f"bessell::{b}" for b in "UBVRI"}
_CONTEXT_RULES: tuple[tuple[str, dict[str, str]], ...] = (
    # P48: ZTF, and PTF's Mould R, which is read as ZTF r (closest shipped curve).
    (
        r"\bztf\b|p48|ptf48|palomar 48|pgir",
        {"g": "ztf::g", "r": "ztf::r", "R": "ztf::r", "i": "ztf::i"},
    ),
    (r"atlas", {"c": "atlas::c", "o": "atlas::o"}),
    (r"ps1|pan-?starrs|\bgpc", {b: f"ps1::{b}" for b in "grizyw"}),
    (
        r"swift|uvot",
        {
            "UVW2": "swift::uvw2",
            "W2": "swift::uvw2",
            "UVM2": "swift::uvm2",
            "M2": "swift::uvm2",
            "UVW1": "swift::uvw1",
            "W1": "swift::uvw1",
            "U": "swift::u",
            "B": "swift::b",
            "V": "swift::v",
            "u": "swift::u",
            "b": "swift::b",
            "v": "swift::v",
        },
    ),
    (r"gaia", {"G": "gaia::G", "BP": "gaia::BP", "RP": "gaia::RP"}),
    (r"\bcsp\b|swope|eso schmidt|quest", {**{b: f"csp::{b}" for b in "ugriBVYJH"}}),
    (
        r"du ?pont",
        {"Y": "csp::Yd", "J": "csp::Jd", "H": "csp::Hd", **{b: f"csp::{b}" for b in "ugriBV"}},
    ),
    (r"kait|nickel", {b: f"kait::{b}" for b in "BVRI"}),
    (r"\bdes\b|decam|blanco", {**{b: f"des::{b}" for b in "grizY"}, "y": "des::Y"}),
    (r"megacam|cfht|snls", {b: f"megacam::{b}" for b in "griz"}),
    (
        r"keplercam|flwo",
        {
            "U": "keplercam::U",
            "B": "keplercam::B",
            "V": "keplercam::V",
            "r": "keplercam::r",
            "i": "keplercam::i",
            "r'": "keplercam::r",
            "i'": "keplercam::i",
        },
    ),
    (r"4shooter", {b: f"4shooter::{b}" for b in "UBVRI"}),
    (r"pairitel|2mass", {"J": "2mass::J", "H": "2mass::H", "Ks": "2mass::Ks", "K": "2mass::Ks"}),
    (r"galex", {"NUV": "galex::NUV", "FUV": "galex::FUV"}),
    (r"lsst|rubin", {**{b: f"lsst::{b}" for b in "ugrizy"}, "Y": "lsst::y"}),
)

# Bands that mean one thing whatever the context (the standard systems).
_CONTEXT_FREE: dict[str, str] = {
    **_UBVRI,
    "Rc": "bessell::R",
    "R_c": "bessell::R",
    "Ic": "bessell::I",
    "I_c": "bessell::I",
    **{b: f"sdss::{b}" for b in "ugriz"},
    **{f"{b}'": f"sdss::{b}" for b in "ugriz"},
    "UVW1": "swift::uvw1",
    "UVW2": "swift::uvw2",
    "UVM2": "swift::uvm2",
    "c": "atlas::c",
    "o": "atlas::o",
    "w": "ps1::w",
    "gP1": "ps1::g",
    "rP1": "ps1::r",
    "iP1": "ps1::i",
    "zP1": "ps1::z",
    "yP1": "ps1::y",
    "wP1": "ps1::w",
    "J": "2mass::J",
    "H": "2mass::H",
    "Ks": "2mass::Ks",
    "KS": "2mass::Ks",
    "NUV": "galex::NUV",
    "FUV": "galex::FUV",
    "ztfg": "ztf::g",
    "ztfr": "ztf::r",
    "ztfi": "ztf::i",
    "p48g": "ztf::g",
    "p48r": "ztf::r",
    "p48i": "ztf::i",
    "ZTF_g": "ztf::g",
    "ZTF_r": "ztf::r",
    "ZTF_i": "ztf::i",
    "atlasc": "atlas::c",
    "atlaso": "atlas::o",
    **{f"lsst{b}": f"lsst::{b}" for b in "ugrizy"},
    **{f"sdss{b}": f"sdss::{b}" for b in "ugriz"},
    **{f"bessell{b.lower()}": f"bessell::{b}" for b in "UBVRI"},
    **{f"uvot::{b}": f"swift::{b}" for b in ("uvw2", "uvm2", "uvw1", "u", "b", "v")},
}

_UNFILTERED = re.compile(r"^(C|clear|Clear|CLEAR|unfiltered|open|Open|white|none|CR|CV|N/A)$")
_PHOTOGRAPHIC = re.compile(r"^(pg|pv|bj|r[12]pg|b[12]pg|ipg|rpg|bpg|mp)$", re.I)


def resolve_band(
    band: str | None,
    *,
    telescope: str | None = None,
    instrument: str | None = None,
    system: str | None = None,
    survey: str | None = None,
) -> Band:
    """Place a band as a data source writes it, using the observation's context.

    Args:
        band: the band string as written (``"R"``, ``"UVW1"``, ``"r'"``, ``"ztf::r"``).
        telescope, instrument, survey: free-text context from the source.
        system: the magnitude system the source states (used to recognise e.g. Swift's).

    Raises:
        UnknownBandError: unfiltered/photographic data, or a band this context cannot place.
    """
    if band is None or not str(band).strip():
        raise UnknownBandError("no band given")
    b = str(band).strip()
    if b in _SPECS:
        return get_band(b)
    context = " | ".join(str(x) for x in (telescope, instrument, survey, system) if x).lower()
    if context:
        for pattern, table in _CONTEXT_RULES:
            if re.search(pattern, context) and b in table:
                return get_band(table[b])
    if b in _CONTEXT_FREE:
        return get_band(_CONTEXT_FREE[b])
    if _UNFILTERED.match(b) or _PHOTOGRAPHIC.match(b):
        raise UnknownBandError(f"band {b!r} is unfiltered or photographic: no standard curve")
    where = f" from {context!r}" if context else " without telescope/instrument context"
    raise UnknownBandError(f"cannot place band {b!r}{where}")


#: magnitude systems as sources write them -> "AB", "Vega" or "native" (the band's default)
_SYSTEMS = {
    "ab": "AB",
    "sdss": "AB",
    "ab mag": "AB",
    "vega": "Vega",
    "landolt": "Vega",
    "johnson": "Vega",
    "cousins": "Vega",
    "swift": "Vega",
    "uvot": "Vega",
    "whirc": "Vega",
    "2mass": "Vega",
    "natural": "native",
    "swope": "native",
    "csp": "native",
    "": "native",
}


def ab_offset(band: Band | str, system: str | None) -> float:
    """``m_AB - m_stated`` for a magnitude in ``band`` whose source states ``system``.

    ``None``, ``"Natural"`` or a survey's natural system (``"Swope"``) mean the band's default
    system (:attr:`Band.magsys`).

    Raises:
        UnknownBandError: a system string maven does not know (never guessed).
    """
    band = get_band(band)
    key = (system or "").strip().lower()
    if key not in _SYSTEMS:
        raise UnknownBandError(f"unknown magnitude system {system!r} for band {band.name}")
    kind = _SYSTEMS[key]
    if kind == "native":
        kind = band.magsys
    return band.vega_to_ab if kind == "Vega" else 0.0
