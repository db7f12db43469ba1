"""The format registry: every reader, in the order tried when guessing a file's format."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from maven.errors import FormatError
from maven.io.common import Reader, read_head

__all__ = ["get_formats", "guess_format"]


def _sniff_parquet(path: Path, head: str) -> bool:
    return path.suffix == ".parquet"


@lru_cache(maxsize=1)
def get_formats() -> dict[str, Reader]:
    """All readers, in the order tried when guessing (the first whose ``sniff`` says yes)."""
    from maven.io import (
        alerts_rubin,
        alerts_ztf,
        ascii_spectrum,
        broker_tables,
        containers,
        osc,
        snana,
        tables,
        ztf,
    )
    from maven.io.dataset import read_dataset

    readers = [
        Reader("maven_dataset", _sniff_parquet, read_dataset, "maven parquet dataset shard"),
        *containers.READERS,
        Reader(osc.FORMAT, osc.sniff, osc.read, "Open Supernova Catalog JSON"),
        Reader(ztf.FORMAT_BTS, ztf.sniff_bts, ztf.read_bts, "ZTF BTS CSV (time,mag,magerr,band)"),
        Reader(ztf.FORMAT_FORCED, ztf.sniff_forced, ztf.read_forced, "ZTF forced photometry"),
        Reader(alerts_rubin.FORMAT, alerts_rubin.sniff, alerts_rubin.read, "Rubin alert packets"),
        Reader(alerts_ztf.FORMAT, alerts_ztf.sniff, alerts_ztf.read, "ZTF alert packets (Avro)"),
        *(Reader(t.name, t.sniff, t.read, t.description) for t in broker_tables.LAYOUTS),
        Reader(tables.FORMAT, tables.sniff, tables.read, "sncosmo-style table (ECSV/FITS/CSV)"),
        Reader(snana.FORMAT, snana.sniff, snana.read, "SNANA text light curve"),
        Reader(ascii_spectrum.FORMAT, ascii_spectrum.sniff, ascii_spectrum.read, "ASCII spectrum"),
    ]
    return {r.name: r for r in readers}


def guess_format(path: str | Path) -> str:
    """The name of the format that reads ``path``.

    Raises:
        FormatError: no reader recognises the file.
    """
    path = Path(path)
    head = "" if path.suffix == ".parquet" else read_head(path)
    for reader in get_formats().values():
        if reader.sniff(path, head):
            return reader.name
    raise FormatError(f"{path}: format not recognised (known: {', '.join(get_formats())})")
