"""Alert packets written by the tests themselves, with the published schemas.

ZTF: the field names and types of the ZTF alert schema (``ZwickyTransientFacility/
ztf-avro-alert``, ``schema/*.avsc``), trimmed to the fields maven reads plus a cutout, in three
generations: 4.02 (``fp_hists``), 3.3 (no forced photometry) and the 2016 commissioning layout
(``alertId``, no ``objectId``). Rubin: the schemas shipped with ``lsst-alert-packet``.
Records are filled from the schema (:func:`blank`) and then given the values a test needs.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import fastavro

_NULL_FLOAT = ["null", "float"]


def _fields(*specs) -> list[dict]:
    out = []
    for name, typ in specs:
        field = {"name": name, "type": typ}
        if isinstance(typ, list) and typ[0] == "null":
            field["default"] = None
        out.append(field)
    return out


def ztf_schema(version: str = "4.02") -> dict:
    """A ZTF alert schema of ``version`` ``"4.02"``, ``"3.3"`` or ``"commissioning"``."""
    candidate = _fields(
        ("jd", "double"), ("fid", "int"), ("pid", "long"), ("diffmaglim", _NULL_FLOAT),
        ("programid", "int"), ("candid", "long"), ("isdiffpos", "string"), ("ra", "double"),
        ("dec", "double"), ("magpsf", "float"), ("sigmapsf", "float"),
        ("magzpsci", _NULL_FLOAT), ("rb", _NULL_FLOAT),
    )  # fmt: skip
    prv = _fields(
        ("jd", "double"), ("fid", "int"), ("pid", "long"), ("diffmaglim", _NULL_FLOAT),
        ("programid", "int"), ("candid", ["null", "long"]), ("isdiffpos", ["null", "string"]),
        ("ra", ["null", "double"]), ("dec", ["null", "double"]), ("magpsf", _NULL_FLOAT),
        ("sigmapsf", _NULL_FLOAT),
    )  # fmt: skip
    fp_hist = _fields(
        ("field", ["null", "int"]), ("rcid", ["null", "int"]), ("fid", "int"), ("pid", "long"),
        ("rfid", "long"), ("magzpsci", _NULL_FLOAT), ("diffmaglim", _NULL_FLOAT),
        ("programid", "int"), ("jd", "double"), ("forcediffimflux", _NULL_FLOAT),
        ("forcediffimfluxunc", _NULL_FLOAT), ("procstatus", ["null", "string"]),
        ("ranr", "double"), ("decnr", "double"),
    )  # fmt: skip
    cutout = _fields(("fileName", "string"), ("stampData", "bytes"))
    head = (
        [{"name": "alertId", "type": "long"}]
        if version == "commissioning"
        else _fields(("schemavsn", "string"), ("publisher", "string"), ("objectId", "string"))
    )
    fields = head + [
        {"name": "candid", "type": "long"},
        {"name": "candidate", "type": _record("candidate", candidate)},
        {
            "name": "prv_candidates",
            "type": ["null", {"type": "array", "items": _record("prv_candidate", prv)}],
            "default": None,
        },
    ]
    if version.startswith("4"):
        fields.append(
            {
                "name": "fp_hists",
                "type": ["null", {"type": "array", "items": _record("fp_hist", fp_hist)}],
                "default": None,
            }
        )
    fields.append(
        {"name": "cutoutScience", "type": ["null", _record("cutout", cutout)], "default": None}
    )
    schema = {"namespace": "ztf", "type": "record", "name": "alert", "fields": fields}
    if version != "commissioning":
        schema["version"] = version
    return schema


def _record(name: str, fields: list[dict]) -> dict:
    return {"namespace": "ztf.alert", "type": "record", "name": name, "fields": fields}


def ztf_alert(object_id: str, candidate: dict, prv=(), fp=(), version: str = "4.02") -> dict:
    """A ZTF alert record: ``candidate`` and ``prv``/``fp`` entries over schema defaults."""
    schema = ztf_schema(version)
    fields = {f["name"]: f for f in schema["fields"]}
    cand_schema = fields["candidate"]["type"]
    prv_schema = fields["prv_candidates"]["type"][1]["items"]
    alert = blank(schema)
    cand = {**blank(cand_schema), "isdiffpos": "t", "programid": 1, **candidate}
    alert.update(candid=cand["candid"], candidate=cand)
    alert["prv_candidates"] = [{**blank(prv_schema), **p} for p in prv]
    if version == "commissioning":
        alert["alertId"] = abs(cand["candid"])
    else:
        alert.update(schemavsn=version, publisher="maven tests", objectId=object_id)
    if "fp_hists" in fields:
        fp_schema = fields["fp_hists"]["type"][1]["items"]
        alert["fp_hists"] = [{**blank(fp_schema), "procstatus": "0", **f} for f in fp]
    alert["cutoutScience"] = {"fileName": "sci.fits.gz", "stampData": b"\x1f\x8b not a real stamp"}
    return alert


def blank(schema: dict) -> dict:
    """A record of ``schema`` with every field at its default, null, or a zero of its type."""
    zero = {"long": 0, "int": 0, "double": 0.0, "float": 0.0, "string": "", "boolean": False}
    out = {}
    for f in schema["fields"]:
        t = f["type"]
        if "default" in f:
            out[f["name"]] = f["default"]
        elif isinstance(t, list) and "null" in t:
            out[f["name"]] = None
        elif isinstance(t, str) and t in zero:
            out[f["name"]] = zero[t]
        elif isinstance(t, dict) and t.get("type") == "record":
            out[f["name"]] = blank(t)
        elif isinstance(t, dict) and t.get("type") == "array":
            out[f["name"]] = []
        else:
            out[f["name"]] = None
    return out


def write_container(path: Path, schema: dict, records: list[dict]) -> Path:
    """An Avro object-container file of ``records``."""
    with open(path, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(schema), records)
    return path


def write_schemaless(path: Path, schema: dict, record: dict) -> Path:
    """A bare Avro record without header or schema (the oldest ZTF packets)."""
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), record)
    path.write_bytes(buf.getvalue())
    return path


def rubin_schema(major: int, minor: int):
    """The ``lsst-alert-packet`` :class:`Schema` of version ``major.minor``."""
    from lsst.alert.packet import Schema, get_schema_path

    return Schema.from_file(
        str(Path(get_schema_path(major, minor)) / f"lsst.v{major}_{minor}.alert.avsc")
    )


def rubin_parts(schema) -> dict[str, dict]:
    """The record schemas of an alert schema's fields, by field name (nullable unwrapped,
    arrays to their items, named references resolved)."""
    named: dict[str, dict] = {}

    def collect(t):
        if isinstance(t, list):
            for x in t:
                collect(x)
        elif isinstance(t, dict):
            if t.get("type") == "record":
                named[t["name"]] = t
                for f in t["fields"]:
                    collect(f["type"])
            elif t.get("type") == "array":
                collect(t["items"])

    collect(schema.definition)
    out = {}
    for f in schema.definition["fields"]:
        t = f["type"]
        t = next((x for x in t if x != "null"), None) if isinstance(t, list) else t
        if isinstance(t, dict) and t.get("type") == "array":
            t = t["items"]
        t = named.get(t, t) if isinstance(t, str) else t
        if isinstance(t, dict) and t.get("type") == "record":
            out[f["name"]] = t
    return out


def rubin_alert(schema, source: dict, obj: dict | None, prv=(), forced=(), limits=()) -> dict:
    """A Rubin alert: a ``diaSource``, its ``diaObject`` and history, over schema blanks."""
    parts = rubin_parts(schema)
    alert = blank(schema.definition)
    alert["diaSource"] = {**blank(parts["diaSource"]), **source}
    alert["diaObject"] = None if obj is None else {**blank(parts["diaObject"]), **obj}
    alert["prvDiaSources"] = [{**blank(parts["prvDiaSources"]), **p} for p in prv]
    alert["prvDiaForcedSources"] = [{**blank(parts["prvDiaForcedSources"]), **f} for f in forced]
    if "prvDiaNondetectionLimits" in parts:
        part = parts["prvDiaNondetectionLimits"]
        alert["prvDiaNondetectionLimits"] = [{**blank(part), **x} for x in limits]
    for key in ("alertId", "diaSourceId"):
        if key in alert:
            alert[key] = source.get("diaSourceId", 1)
    return alert


def write_rubin_wire(path: Path, schema, record: dict) -> Path:
    """One Kafka message in the Confluent wire format (zero byte, schema id, record)."""
    path.write_bytes(b"\x00" + struct.pack(">I", schema.get_schema_id()) + schema.serialize(record))
    return path
