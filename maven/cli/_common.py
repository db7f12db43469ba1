"""Helpers shared by the command modules: reader options, reading ``--data``, plain tables."""

from __future__ import annotations

import argparse

from maven.errors import MavenError


def reader_options(args: argparse.Namespace) -> dict:
    """Reader options from the command line."""
    if args.assume_mag_err is None:
        return {}
    return {"osc": {"assumed_mag_err": args.assume_mag_err}}


def read_data(args: argparse.Namespace):
    """The supernovae of ``--data``; none readable raises :class:`MavenError`."""
    from maven.io import read_supernovae

    sne = read_supernovae(
        args.data, args.format, progress=not args.json, options=reader_options(args)
    )
    if not sne:
        raise MavenError(f"{args.data}: no readable supernova")
    return sne


def print_rows(rows: list[dict], columns: list[str]) -> None:
    """An aligned plain-text table of ``rows`` (dicts) in ``columns`` order."""
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _fmt(v) -> str:
    """One table cell: floats to 4 significant digits, lists comma-joined, None empty."""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return "" if v is None else str(v)
