"""Random malformed input never raises anything but MavenError."""

import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maven import MavenError
from maven.data.records import LightCurve, Spectrum
from maven.io import read_supernovae

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
