"""Avro object-container files, the files ZTF and Rubin alert packets come in (read with
fastavro); each carries the writer schema it was written with in its header."""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

from maven.errors import FormatError

__all__ = [
    "CONTAINER_MAGIC",
    "is_avro_name",
    "is_container",
    "schema_named",
    "read_bytes",
    "read_container",
    "records_in",
]

#: The first four bytes of every Avro object-container file.
CONTAINER_MAGIC = b"Obj\x01"


def is_avro_name(path: Path) -> bool:
    """True for ``*.avro`` and ``*.avro.gz`` files."""
    return path.name.lower().endswith((".avro", ".avro.gz"))


def read_bytes(path: Path) -> bytes:
    """The bytes of a file, gunzipped when it ends in ``.gz``."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise FormatError(f"{path}: cannot read: {exc}") from None


def is_container(head: str) -> bool:
    """True when a file's first characters are the object-container magic."""
    return head.startswith(CONTAINER_MAGIC.decode("ascii"))


def schema_named(head: str, pattern: str) -> bool:
    """True for a container whose header schema has a ``name`` or ``namespace`` matching
    the regular expression ``pattern`` (e.g. ``r"ztf(\\.alert)?"``)."""
    return is_container(head) and bool(re.search(rf'"(?:name|namespace)"\s*:\s*"{pattern}"', head))


def read_container(path: Path, raw: bytes) -> tuple[dict, list[dict]]:
    """The writer schema and the records of the object-container file ``raw`` (from ``path``).

    Raises:
        FormatError: not an object-container file, or not decodable.
    """
    import fastavro

    if not raw.startswith(CONTAINER_MAGIC):
        raise FormatError(f"{path}: not an Avro object-container file (no 'Obj\\x01' header)")
    try:
        reader = fastavro.reader(io.BytesIO(raw))
        records = list(reader)
    except Exception as exc:  # fastavro raises many types for damaged files
        raise FormatError(f"{path}: unreadable Avro file: {type(exc).__name__}: {exc}") from None
    return reader.writer_schema or {}, records


def records_in(value) -> list[dict]:
    """The records of an array field (``[]`` for null or anything that is not an array)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
