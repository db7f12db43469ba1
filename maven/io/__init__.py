"""Readers and writers: every native format in, one parquet dataset format out.

>>> from maven.io import read_supernovae
>>> sne = read_supernovae("path/to/folder")          # doctest: +SKIP
>>> sne.skipped_files                                 # doctest: +SKIP
[('path/to/folder/notes.pdf', 'format not recognised')]

Formats (guessed from content, or named with ``format=``): see :func:`get_formats`
(:mod:`maven.io.registry`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from maven.data.records import Supernova
from maven.errors import ConfigError, FormatError, MavenError
from maven.io.dataset import (
    SCHEMA,
    is_dataset,
    iter_supernovae,
    load_dataset,
    read_dataset,
    write_dataset,
)
from maven.io.merge import merge_by_name
from maven.io.registry import get_formats, guess_format

__all__ = [
    "get_formats",
    "guess_format",
    "SupernovaList",
    "read_supernovae",
    "iter_files",
    "write_dataset",
    "read_dataset",
    "iter_supernovae",
    "load_dataset",
    "SCHEMA",
]


#: Files that describe data rather than hold it; a folder read passes over them silently.
_NOT_DATA = (
    "readme",
    "provenance",
    "license",
    "index.csv",
    "bts.csv",
    "manifest.json",
    "maven_dataset.json",
    "yr1_allsne_samplefile",
)
_NOT_DATA_SUFFIXES = (".md", ".rst", ".pdf", ".png", ".jpg", ".py", ".yaml", ".yml")


class SupernovaList(list):
    """A list of :class:`Supernova` that also reports the files it could not read.

    Attributes:
        skipped_files: ``(path, reason)`` for every file that was not read.
        formats: ``format -> number of files read``.
        joined: ``id -> number of records joined into it`` for the objects read from several
            files (:func:`maven.io.merge.merge_by_name`).
    """

    def __init__(self, items=(), skipped_files=None, formats=None, joined=None):
        super().__init__(items)
        self.skipped_files: list[tuple[str, str]] = list(skipped_files or [])
        self.formats: dict[str, int] = dict(formats or {})
        self.joined: dict[str, int] = dict(joined or {})


def iter_files(folder: str | Path) -> Iterator[Path]:
    """Data files under ``folder`` (recursively, sorted), skipping docs and catalogues."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            low = name.lower()
            if name.startswith(".") or low.endswith(_NOT_DATA_SUFFIXES):
                continue
            if any(low.startswith(p) for p in _NOT_DATA):
                continue
            yield Path(root) / name


def read_supernovae(
    path: str | Path,
    format: str | None = None,
    *,
    errors: str = "skip",
    progress: bool | None = None,
    options: dict[str, dict] | None = None,
) -> SupernovaList:
    """Read supernovae from a file or a folder (recursively), in any supported format.

    Args:
        path: a file, a folder of files, or a maven parquet dataset folder.
        format: one of :func:`get_formats`; guessed per file from its content when ``None``.
        errors: ``"skip"`` records unreadable files in ``skipped_files``; ``"raise"`` raises.
            A single file that cannot be read always raises.
        progress: show a progress bar (default: for folders of more than 50 files).
        options: keyword arguments per format, e.g. ``{"osc": {"assumed_mag_err": 0.1}}``
            (see each reader's ``read``).

    Returns:
        a :class:`SupernovaList` (a ``list[Supernova]`` with ``skipped_files``). In a folder,
        the records of one object name read from several files (alert packets, a spectrum
        file and a light-curve file) are joined into one (:func:`maven.io.merge.merge_by_name`).

    Raises:
        FormatError: the path does not exist, the format is unknown, or a file is unreadable.
    """
    path = Path(path)
    if errors not in ("skip", "raise"):
        raise ConfigError(f"errors must be 'skip' or 'raise', got {errors!r}")
    formats = get_formats()
    if format is not None and format not in formats:
        raise FormatError(f"unknown format {format!r}; known: {', '.join(formats)}")
    options = options or {}
    unknown = set(options) - set(formats)
    if unknown:
        raise FormatError(f"options for unknown formats {sorted(unknown)}")

    def read_one(name: str | None, f: Path) -> tuple[str, list[Supernova]]:
        """(format, records) of one file; whatever goes wrong is a FormatError naming it."""
        try:
            name = name or guess_format(f)
            return name, formats[name].read(f, **options.get(name, {}))
        except MavenError:
            raise
        except RecursionError:
            raise FormatError(f"{f}: nested too deeply to read as {name}") from None
        except Exception as exc:  # a reader bug must not end a folder run: report the file
            raise FormatError(
                f"{f}: the {name or 'format-guessing'} reader failed: {type(exc).__name__}: {exc}"
            ) from exc

    if not path.exists():
        raise FormatError(f"{path}: no such file or folder")
    if path.is_file():
        name, records = read_one(format, path)
        return SupernovaList(records, formats={name: 1})
    if format in (None, "maven_dataset") and is_dataset(path):
        return SupernovaList(read_dataset(path), formats={"maven_dataset": 1})
    files = list(iter_files(path))
    show = progress if progress is not None else len(files) > 50
    out = SupernovaList()
    read_as: list[str] = []  # the format of each record in ``out``
    from tqdm.auto import tqdm

    for f in tqdm(files, desc=f"reading {path.name}", unit="file", disable=not show):
        try:
            name, records = read_one(format, f)
            out.extend(records)
            out.formats[name] = out.formats.get(name, 0) + 1
            read_as += [name] * (len(out) - len(read_as))
        except MavenError as exc:
            if errors == "raise":
                raise
            out.skipped_files.append((str(f), str(exc)))
    out[:], out.joined = merge_by_name(out, read_as)
    return out
