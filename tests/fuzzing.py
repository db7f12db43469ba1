"""The fault campaign's machinery, shared by ``tests/test_fuzz.py`` (bounded, hypothesis) and
``benchmarks/fuzz_campaign.py`` (large, by hand).

A *case* is a valid seed file of one format (:data:`SEEDS`, synthetic: nothing from
``../shared/data``), damaged by :func:`mutate` (extreme numbers, JSON subtrees replaced,
deep nesting, byte flips, truncation, lines dropped or repeated, gzip wrapping and
truncation). :func:`check` reads it with that format's reader directly (not through the folder
loop, whose safety net would hide a reader's own foreign exception) and returns the outcome:

* ``"ok"``: records came back; each is then checked to hold only finite values, to round-trip
  through the parquet dataset exactly and to give finite processor tensors (or a MavenError);
* ``"error"``: a :class:`~maven.MavenError`;
* ``"foreign"``/``"nonfinite"``/``"damaged"``/``"hang"``: a defect (with a description).
"""

from __future__ import annotations

import gzip
import json
import math
import random
import signal
import tempfile
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from maven.data.records import LightCurve, Spectrum, Supernova
from maven.errors import MavenError

EXTREMES = [
    "1e300", "-1e300", "1e-200", "-1e-200", "0", "-0", "nan", "NaN", "inf", "-inf", "1e400",
    "-1", "1" * 40, "", "null", "[]", "{}", '"x"', "true", "1e-320", "99", "-99", "1.7e308",
    "0x10", "1,5", "--", "1e", "\u00b5", "[1]",
]  # fmt: skip
_EXTREME_VALUES = [
    1e300, -1e300, 1e-200, 0, -0.0, None, True, "", "nan", "inf", 10**400, -(10**30), [], {},
    [[1, 2, 3]], "1e300", "[1]", 2**63, -1, 1e-320, "\u00b5\u00b5",
]  # fmt: skip


# ------------------------------------------------------------------------------ seeds


def _osc() -> str:
    phot = [
        {"time": str(58000 + i), "u_time": "MJD", "band": "g" if i % 2 else "r",
         "telescope": "P48", "magnitude": str(18 + 0.1 * i), "e_magnitude": "0.05",
         "system": "AB"}
        for i in range(6)
    ]  # fmt: skip
    phot.append({"time": "58010", "u_time": "MJD", "band": "V", "magnitude": "19.5",
                 "upperlimit": True, "system": "Vega"})  # fmt: skip
    spec = {"time": "58003", "u_time": "MJD", "u_wavelengths": "Angstrom",
            "u_fluxes": "erg/s/cm^2/Angstrom", "u_errors": "erg/s/cm^2/Angstrom",
            "data": [[str(4000 + 10 * i), f"{1e-15 * (1 + 0.1 * math.sin(i)):.4e}", "1e-17"]
                     for i in range(40)]}  # fmt: skip
    event = {
        "name": "SN2099a", "alias": [{"value": "SN2099a"}, {"value": "ZTF99aaa"}],
        "claimedtype": [{"value": "Ia"}], "redshift": [{"value": "0.05"}],
        "ra": [{"value": "10:40:39.3", "u_value": "hours"}], "dec": [{"value": "+41:15:08"}],
        "ebv": [{"value": "0.02"}], "photometry": phot, "spectra": [spec],
        "sources": [{"name": "test", "alias": "1"}],
    }  # fmt: skip
    return json.dumps({"SN2099a": event})


def _snana() -> str:
    rows = [f"OBS: {60000 + 2 * i:.3f} {'griz'[i % 4]} WFD {300 + 20 * i:.2f} 12.5 4096"
            for i in range(12)]  # fmt: skip
    return "\n".join(
        ["SURVEY: LSST", "SNID: 1234", "RA: 10.5", "DECL: -5.25", "MWEBV: 0.02 +- 0.001",
         "REDSHIFT_HELIO: 0.05 +- 0.001", "SNTYPE: Ia", "FILTERS: ugrizY", "",
         "VARLIST: MJD FLT FIELD FLUXCAL FLUXCALERR PHOTFLAG", *rows, "END:"]
    )  # fmt: skip


def _spectrum_lines() -> list[str]:
    return [f"{4000 + 5 * i} {2e-16 * (1 + 0.2 * math.cos(i / 5)):.5e} {3e-18 * (1 + i % 7):.3e}"
            for i in range(60)]  # fmt: skip


def _ascii() -> str:
    return "\n".join(["# object: SN2099b", "# wavelength flux flux_err", *_spectrum_lines()])


def _bts() -> str:
    rows = [f"{58000 + i}.5,{18 + 0.05 * i:.2f},0.05,{'g' if i % 2 else 'R'}" for i in range(10)]
    return "\n".join(["time,mag,magerr,band", *rows])


def _forced() -> str:
    rows = [f"{2458000.5 + i},{'ztfg' if i % 2 else 'ztfr'},{1000 + 50 * i},30,25.0,ab"
            for i in range(10)]  # fmt: skip
    return "\n".join(["time,band,flux,flux_err,zp,zpsys", *rows])


def _pplus() -> str:
    return json.dumps(
        {"name": "SN2099c", "type": "SN Ia", "redshift_helio": 0.03, "ra": 150.1, "dec": 2.2,
         "mwebv": 0.01, "t_peak_mjd": 60010.0,
         "photometry_snana": {"Pantheon+/LSST/x.dat": _snana()},
         "spectra": [{"filename": "s.txt", "mjd": 60004.0, "text": "\n".join(_spectrum_lines()),
                      "err_col": 2, "err_kind_guess": "sigma"}]}
    )  # fmt: skip


def _wiserep() -> str:
    return json.dumps(
        {"name": "SN2099d", "type_raw": "SN II", "type_coarse": "II", "redshift": 0.01,
         "ra": None, "dec": None, "coords_osc": {"ra": "10:00:00", "dec": "-10:00:00"},
         "aliases": ["PTF99x"], "n_spectra_usable": 1,
         "spectra": [{"filename": "s.txt", "mjd": 58000.0, "instrument": "SEDM",
                      "telescope": "P60", "text": "\n".join(_spectrum_lines())}]}
    )  # fmt: skip


def _alerce() -> str:
    rows = [f"ZTF20aaelulu,{100 + i},{59000.25 + i},{1 + i % 2},{19 - 0.1 * i:.2f},0.1,1,20.5"
            for i in range(8)]  # fmt: skip
    return "\n".join(["oid,candid,mjd,fid,magpsf,sigmapsf,isdiffpos,diffmaglim", *rows])


def _fink() -> str:
    rows = [f"ZTF26b,{2460000.5 + i},{1 + i % 2},{19 - 0.1 * i:.2f},0.1,t,20.5,valid"
            for i in range(8)]  # fmt: skip
    head = "i:objectId,i:jd,i:fid,i:magpsf,i:sigmapsf,i:isdiffpos,i:diffmaglim,d:tag"
    return "\n".join([head, *rows, "ZTF26b,2460010.5,1,,,,20.4,upperlim"])


def _antares() -> str:
    head = ("alert_id,ant_mjd,ant_survey,ant_passband,ant_mag,ant_magerr,ant_maglim,"
            "ztf_isdiffpos,ztf_object_id")  # fmt: skip
    rows = [f"ztf_candidate:{i},{59000.0 + i},1,{'Rg'[i % 2]},{18 + 0.1 * i:.2f},0.1,20.0,t,"
            "ZTF20abc" for i in range(8)]  # fmt: skip
    return "\n".join([head, *rows, "ztf_upper_limit:99,58999.0,2,g,,,20.25,,ZTF20abc"])


_PACKET_VALUES = [3e38, -3e38, 1e-38, 0.0, -0.0, float("nan"), float("inf"), -float("inf"),
                  -99999.0, 2459000.5e6]  # fmt: skip


def _extreme(entries: list[dict], rng: random.Random | None) -> list[dict]:
    """Alert entries with some numbers replaced by extreme ones (float32 range)."""
    if rng is None:
        return entries
    return [
        {k: rng.choice(_PACKET_VALUES) if isinstance(v, float) and rng.random() < 0.3 else v
         for k, v in e.items()}
        for e in entries
    ]  # fmt: skip


def _ztf_alert(rng: random.Random | None = None) -> bytes:
    from .alert_fixtures import write_container, ztf_alert, ztf_schema

    jd = 2459000.5
    alert = ztf_alert(
        "ZTF20abcdefg",
        *_extreme([{"jd": jd + 10, "fid": 2, "candid": 1001, "magpsf": 18.5, "sigmapsf": 0.125,
                    "ra": 150.25, "dec": 2.5, "diffmaglim": 20.5}], rng),
        prv=_extreme([{"jd": jd + 5, "fid": 1, "candid": 900, "isdiffpos": "f", "magpsf": 19.0,
                       "sigmapsf": 0.25, "diffmaglim": 20.0},
                      {"jd": jd + 1, "fid": 1, "diffmaglim": 20.7}], rng),
        fp=_extreme([{"jd": jd + 3, "fid": 2, "forcediffimflux": 300.0,
                      "forcediffimfluxunc": 25.0, "magzpsci": 25.5}], rng),
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        return write_container(Path(d) / "a.avro", ztf_schema(), [alert]).read_bytes()


def _rubin_alert(rng: random.Random | None = None) -> bytes:
    from .alert_fixtures import rubin_alert, rubin_schema, write_rubin_wire

    schema = rubin_schema(7, 4)
    t, b, f, fe = "midpointMjdTai", "band", "psfFlux", "psfFluxErr"
    src = {"diaSourceId": 10, "diaObjectId": 42, t: 60502.0, b: "g", f: 5000.0, fe: 100.0}
    prv = [{"diaSourceId": 9, "diaObjectId": 42, t: 60501.0, b: "r", f: -3000.0, fe: 90.0}]
    forced = [{"diaForcedSourceId": 1, "diaObjectId": 42, t: 60500.0, b: "i", f: 400.0,
               fe: 100.0}]  # fmt: skip
    limits = [{"ccdVisitId": 1, t: 60499.0, b: "z", "diaNoise": 50.0}]
    obj = {"diaObjectId": 42, "ra": 10.5, "dec": -30.25}
    src, prv, forced, limits = (_extreme(x, rng) for x in ([src], prv, forced, limits))
    record = rubin_alert(schema, src[0], obj, prv, forced, limits)
    with tempfile.TemporaryDirectory() as d:
        return write_rubin_wire(Path(d) / "a.avro", schema, record).read_bytes()


def toy_supernova(i: int = 0) -> Supernova:
    """A small valid record with both modalities."""
    t = 58000 + np.arange(8.0)
    lc = LightCurve(t, ["ztf::g", "ztf::r"] * 4, 100 + 10 * np.arange(8.0), np.full(8, 5.0))
    w = np.linspace(4000, 8000, 30)
    spec = Spectrum(w, 1e-16 * (1 + 0.1 * np.sin(w / 300)), np.full(30, 1e-18), mjd=58003.0)
    return Supernova(f"SN{i}", lightcurve=lc, spectra=[spec], type_raw="Ia", redshift=0.05)


def _table_bytes(fmt: str) -> bytes:
    from maven.io.tables import write_table

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"x.{fmt}"
        write_table(toy_supernova(), p)
        return p.read_bytes()


def _dataset() -> dict[str, bytes]:
    """The files of a one-shard dataset folder of two toy records."""
    from maven.io.dataset import write_dataset

    with tempfile.TemporaryDirectory() as d:
        out = write_dataset([toy_supernova(0), toy_supernova(1)], Path(d) / "ds")
        return {f.name: f.read_bytes() for f in out.iterdir()}


#: format -> (file name, seed content factory)
SEEDS: dict[str, tuple[str, Callable[[], str | bytes]]] = {
    "osc": ("SN2099a.json", _osc),
    "snana": ("SN1234.dat", _snana),
    "ascii_spectrum": ("SN2099b.txt", _ascii),
    "ztf_bts": ("ZTF18aaaaaaa.csv", _bts),
    "ztf_forced": ("ZTF18aaaaaab.csv", _forced),
    "pplus_wiserep": ("SN2099c.json", _pplus),
    "wiserep": ("SN2099d.json", _wiserep),
    "sncosmo_table": ("SN2099e.ecsv", lambda: _table_bytes("ecsv")),
    "sncosmo_fits": ("SN2099e.fits", lambda: _table_bytes("fits")),
    "alerce": ("alerce.csv", _alerce),
    "fink": ("fink.csv", _fink),
    "antares": ("ANT2020abc.csv", _antares),
    "ztf_alert": ("1001.avro", _ztf_alert),
    "rubin_alert": ("msg.avro", _rubin_alert),
    "maven_dataset": ("part-00000.parquet", lambda: _dataset()["part-00000.parquet"]),
    # the same shard inside its folder, beside the manifest that lists its checksum
    "maven_dataset_folder": ("part-00000.parquet", lambda: _dataset()["part-00000.parquet"]),
}
_READER = {"sncosmo_fits": "sncosmo_table", "maven_dataset_folder": "maven_dataset"}
_CACHE: dict[str, bytes] = {}
_DEEP = "@@deep@@"


def seed(fmt: str) -> bytes:
    """The seed file of ``fmt`` (built once)."""
    if fmt not in _CACHE:
        content = SEEDS[fmt][1]()
        _CACHE[fmt] = content.encode() if isinstance(content, str) else content
    return _CACHE[fmt]


# ------------------------------------------------------------------------------ mutations


def _json_mutate(data, rng: random.Random):
    """Replace one random node of a JSON document (or nest it deeply)."""
    paths: list[tuple] = []

    def walk(node, path):
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node[:50]):
                walk(v, (*path, i))

    walk(data, ())
    path = rng.choice(paths[1:] or paths)
    kind = rng.random()
    if kind < 0.1:
        new = _DEEP  # replaced by deeply nested text in mutate (json.dumps would recurse)
    elif kind < 0.2:
        new = rng.choice(["name", "photometry", "spectra", "data", "text"])
    else:
        new = rng.choice(_EXTREME_VALUES)
    if not path:
        return new
    node = data
    for key in path[:-1]:
        node = node[key]
    if rng.random() < 0.15 and isinstance(node, dict):
        node.pop(path[-1], None)
    else:
        node[path[-1]] = new
    return data


def _token_mutate(text: str, rng: random.Random) -> str:
    """Replace random numeric tokens with extreme values."""
    import re

    spans = [m.span() for m in re.finditer(r"-?\d+(\.\d+)?(e-?\d+)?", text)]
    for _ in range(rng.randint(1, 4)):
        if not spans:
            break
        a, b = rng.choice(spans)
        text = text[:a] + rng.choice(EXTREMES) + text[b:]
        spans = [m.span() for m in re.finditer(r"-?\d+(\.\d+)?(e-?\d+)?", text)]
    return text


def _line_mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    if not lines:
        return text
    i = rng.randrange(len(lines))
    op = rng.random()
    if op < 0.3:
        del lines[i]
    elif op < 0.6:
        lines.insert(i, lines[rng.randrange(len(lines))])
    elif op < 0.8:
        lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
    else:
        lines = lines[:i] + [lines[i]] * rng.choice([2, 100, 3000]) + lines[i + 1 :]
    return "\n".join(lines)


def _byte_mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    op = rng.random()
    if op < 0.5 and b:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif op < 0.75:
        b = b[: rng.randrange(len(b) + 1)]
    elif b:
        a = rng.randrange(len(b))
        del b[a : a + rng.randint(1, 64)]
    return bytes(b)


def mutate(fmt: str, rng: random.Random) -> tuple[str, bytes]:
    """(file name, damaged content) of one case of format ``fmt``."""
    name, factory = SEEDS[fmt]
    data = seed(fmt)
    if fmt.endswith("_alert") and rng.random() < 0.5:  # valid packets of extreme values
        return name, factory(rng)
    binary = fmt in ("sncosmo_fits", "ztf_alert", "rubin_alert", "maven_dataset",
                     "maven_dataset_folder")  # fmt: skip
    op = rng.random()
    if binary or op < 0.15:
        data = _byte_mutate(data, rng)
    elif name.endswith(".json") and op < 0.6:
        text = json.dumps(_json_mutate(json.loads(data), rng), default=str)
        depth = rng.choice([50, 1000, 100_000])
        deep = (
            "[" * depth + "1e300" + "]" * depth
            if rng.random() < 0.5
            else '{"a":' * depth + ("0" + "}" * depth)
        )
        data = text.replace(json.dumps(_DEEP), deep).encode()
    elif op < 0.85:
        data = _token_mutate(data.decode(), rng).encode("utf-8", "surrogatepass")
    else:
        data = _line_mutate(data.decode(), rng).encode()
    if not binary and rng.random() < 0.15:  # gzip: whole, truncated or flipped
        data = gzip.compress(data)
        if rng.random() < 0.5:
            data = _byte_mutate(data, rng)
        name += ".gz"
    return name, data


def bomb(mebibytes: int) -> bytes:
    """A gzip file of about ``mebibytes`` KiB that decompresses to ``mebibytes`` MiB (gzip
    members of 1 MiB of text, concatenated: instant to make, a thousandfold to unpack)."""
    return gzip.compress(b"0 " * (1 << 19), compresslevel=9) * mebibytes


# ------------------------------------------------------------------------------ oracle


@contextmanager
def _time_limit(seconds: int):
    def fail(*_):
        raise TimeoutError

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _finite_record(sn: Supernova) -> str | None:
    """A description of the first non-finite or damaged value of a record, or None."""
    arrays = []
    if sn.lightcurve is not None:
        lc = sn.lightcurve
        arrays += [("lightcurve.time", lc.time), ("lightcurve.flux", lc.flux)]
        arrays += [("lightcurve.flux_err", lc.flux_err)]
        if not (lc.flux_err > 0).all():
            return "lightcurve.flux_err <= 0"
    for i, s in enumerate(sn.spectra):
        arrays += [(f"spectra[{i}].wavelength", s.wavelength), (f"spectra[{i}].flux", s.flux)]
        if s.flux_err is not None:
            arrays.append((f"spectra[{i}].flux_err", s.flux_err))
    for field, arr in arrays:
        if not np.isfinite(arr).all():
            return field
    for field in ("redshift", "ra", "dec", "mwebv"):
        v = getattr(sn, field)
        if v is not None and not math.isfinite(v):
            return field
    for field in ("type_raw", "type", "source"):
        v = getattr(sn, field)
        if v is not None and not isinstance(v, str):
            return f"{field} is {type(v).__name__}"
    return None


def check_records(records: list[Supernova], processor=None, round_trip: bool = True) -> tuple:
    """("ok", None) when every record is finite, round-trips through the dataset format and
    processes to finite tensors (or a MavenError); else (defect kind, description)."""
    from maven.io.dataset import row_to_supernova, supernova_to_row

    for sn in records:
        bad = _finite_record(sn)
        if bad:
            return "nonfinite", f"{sn.id}: {bad}"
        if round_trip:
            try:
                import pyarrow as pa

                from maven.io.dataset import SCHEMA

                row = pa.Table.from_pylist([supernova_to_row(sn)], schema=SCHEMA).to_pylist()[0]
                back = row_to_supernova(row)
            except MavenError as exc:
                return "damaged", f"{sn.id}: does not round-trip: {exc}"
            if not back.equals(sn):
                return "damaged", f"{sn.id}: changed by the dataset round trip"
    if processor is not None and records:
        try:
            out = processor(records, return_tensors="np")
        except MavenError:
            return "ok", None
        for k, v in out.items():
            if v.dtype.kind == "f" and not np.isfinite(v).all():
                return "nonfinite", f"processor output {k}"
    return "ok", None


def check(fmt: str, name: str, data: bytes, processor=None, timeout: int = 20) -> tuple:
    """(outcome, description) of reading one case; see the module docstring."""
    from maven.io import get_formats

    reader = get_formats()[_READER.get(fmt, fmt)]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        path.write_bytes(data)
        if fmt == "maven_dataset_folder":
            manifest = "maven_dataset.json"
            (Path(d) / manifest).write_bytes(_dataset()[manifest])
            path = Path(d)
        try:
            with _time_limit(timeout):
                records = reader.read(path)
        except MavenError:
            return "error", None
        except TimeoutError:
            return "hang", f"{fmt}: more than {timeout} s"
        except Exception as exc:  # the defect this campaign looks for
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{Path(tb.filename).name}:{tb.lineno}"
            return "foreign", f"{fmt}: {type(exc).__name__} at {where}: {str(exc)[:120]}"
    if fmt.startswith("maven_dataset"):  # a damaged shard must fail or read as written
        same = len(records) == 2 and all(r.equals(toy_supernova(i)) for i, r in enumerate(records))
        if not same:
            return "damaged", f"{fmt}: a damaged shard read as different valid records"
    return check_records(list(records), processor)


def random_records(rng: random.Random) -> list[Supernova]:
    """Valid records with extreme (but valid) values, for the processor: tiny and huge
    errors and fluxes, one-point light curves, constant or all-zero spectra."""
    out = []
    for i in range(rng.randint(1, 4)):
        n = rng.choice([1, 2, 3, 8, 40])
        t = np.sort(58000 + np.array([rng.uniform(0, 100) for _ in range(n)]))
        scale = rng.choice([1e-6, 1.0, 1e6, 1e14])
        flux = np.array([rng.choice([0.0, scale, -scale, rng.uniform(-1, 1) * scale])
                         for _ in range(n)])  # fmt: skip
        err = np.array([rng.choice([1e-300, 1e-30, 1.0, scale or 1.0, 9e14]) for _ in range(n)])
        det = np.array([rng.random() < 0.7 for _ in range(n)])
        bands = [rng.choice(["ztf::g", "ztf::r", "lsst::u", "swift::uvw2", "2mass::Ks"])
                 for _ in range(n)]  # fmt: skip
        lc = LightCurve(t, bands, flux, err, det) if rng.random() < 0.8 else None
        spectra = []
        if lc is None or rng.random() < 0.7:
            m = rng.choice([2, 3, 50, 600])
            lo = rng.choice([10.0, 2000.0, 3000.0, 9990.0, 50000.0])
            w = np.cumsum([rng.choice([1e-9, 1e-3, 1.0, 50.0]) for _ in range(m)]) + lo
            ftype = rng.random()
            if ftype < 0.2:
                f = np.zeros(m)
            elif ftype < 0.3:
                f = np.full(m, 1e-16)
            else:
                f = np.array([rng.choice([1e300, -1e300, 1e-300, 1.0, rng.gauss(0, 1)])
                              for _ in range(m)])  # fmt: skip
            e = None
            if rng.random() < 0.7:
                e = np.array([rng.choice([1e-200, 1e-300, 1.0, 1e300, 1e-17]) for _ in range(m)])
            spectra.append(Spectrum(w, f, e))
        z = rng.choice([None, 0.0, 0.01, 3.0, 20.0, -0.01])
        out.append(Supernova(f"X{i}", lightcurve=lc, spectra=spectra, redshift=z))
    return out
