"""An index on disk: a folder of files listed, with their sizes and sha256, in a manifest.

::

    manifest.json        format, model name + hash, dim, counts, index types/params, checksums
    photometry.faiss     FAISS's own format (faiss.write_index), one per modality
    spectrum.faiss
    metadata.parquet     the metadata table
    calibration.json     novelty calibration (leave-one-out scores), when computed

:func:`write_index` writes a temporary sibling folder and swaps it in (:mod:`maven.utils.atomic`),
so a failed save leaves the previous index intact. The ``read_*`` functions each check one part
(the manifest and every file's size and checksum first) and raise
:class:`~maven.errors.IndexFormatError` naming the file and what is wrong.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from maven.errors import IndexFormatError
from maven.search.embeddings import MODALITIES
from maven.search.metadata import META_COLUMNS, meta_schema
from maven.utils.atomic import checksums, locked, staged_directory, verify_files, write_text

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "read_calibration",
    "read_faiss",
    "read_manifest",
    "read_metadata",
    "write_index",
]

FORMAT = "maven-embedding-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
METADATA = "metadata.parquet"
CALIBRATION = "calibration.json"


def write_index(
    path: Path, *, info: dict, faiss_indexes: dict, metadata, calibration: dict
) -> Path:
    """Write an index folder at ``path`` atomically, holding the folder's lock: the FAISS
    index of each modality, the metadata table, the calibration (if any) and the manifest
    (``info`` plus creation time, maven version and the files' checksums).

    Raises:
        IndexFormatError: the index cannot be written (full disk, lock held too long).
    """
    import faiss
    import pyarrow.parquet as pq

    try:
        with locked(path), staged_directory(path) as tmp:
            files = []
            for m, index in faiss_indexes.items():
                faiss.write_index(index, str(tmp / f"{m}.faiss"))
                files.append(f"{m}.faiss")
            pq.write_table(metadata, tmp / METADATA)
            files.append(METADATA)
            if calibration:
                cal = {
                    m: {"k": c["k"], "scores": [float(s) for s in c["scores"]]}
                    for m, c in calibration.items()
                }
                (tmp / CALIBRATION).write_text(json.dumps(cal))
                files.append(CALIBRATION)
            manifest = dict(info)
            manifest["created_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            from maven import __version__

            manifest["maven_version"] = __version__
            manifest["files"] = checksums(tmp, files)
            write_text(tmp / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
    except Exception as exc:  # a full disk, a lock held too long; faiss: RuntimeError
        raise IndexFormatError(f"could not save the index to {path}: {exc}") from exc
    return path


def read_manifest(path: Path, *, verify_checksums: bool = True) -> dict:
    """The manifest of the index folder ``path``, after checking its format and version and
    every file it lists (sizes always, sha256 with ``verify_checksums``); ``files``, ``dim``
    and ``indexes`` come back as a dict, an int and a dict.

    Raises:
        IndexFormatError: no such folder, no or an unreadable manifest, another format or
            version, an incomplete manifest, missing / truncated / corrupted files, or files
            that are not an index's.
    """
    mpath = path / MANIFEST
    if not path.is_dir():
        raise IndexFormatError(f"{path}: no such index directory")
    if not mpath.is_file():
        raise IndexFormatError(f"{path}: not a maven index (no manifest.json)")
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFormatError(f"{mpath}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexFormatError(f"{path}: not a maven index (manifest format is not {FORMAT!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexFormatError(
            f"{path}: index format version {manifest.get('format_version')!r} is not "
            f"supported (this maven reads version {FORMAT_VERSION})"
        )
    try:
        files = dict(manifest["files"])
        dim = int(manifest["dim"])
        indexes = dict(manifest["indexes"])
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexFormatError(f"{mpath}: incomplete manifest ({exc})") from None
    verify_files(path, files, error=IndexFormatError, verify_sha256=verify_checksums)
    known = {METADATA, CALIBRATION, *(f"{m}.faiss" for m in MODALITIES)}
    if set(files) - known:
        raise IndexFormatError(
            f"{path}: the manifest lists unknown files {sorted(set(files) - known)}"
        )
    return {**manifest, "files": files, "dim": dim, "indexes": indexes}


def read_metadata(path: Path, manifest: dict):
    """The metadata table (in :func:`~maven.search.metadata.meta_schema`, one chunk).

    Raises:
        IndexFormatError: unreadable, other columns or column types, or another row count
            than the manifest's.
    """
    import pyarrow.parquet as pq

    try:
        meta = pq.read_table(path / METADATA)
    except Exception as exc:
        raise IndexFormatError(f"{path / METADATA}: unreadable ({exc})") from None
    if tuple(meta.column_names) != META_COLUMNS:
        raise IndexFormatError(f"{path}: metadata columns {meta.column_names} are not maven's")
    try:  # indexes written before the dictionary encoding hold plain strings
        meta = meta.cast(meta_schema()).combine_chunks()
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise IndexFormatError(f"{path / METADATA}: unexpected column types ({exc})") from None
    if meta.num_rows != manifest.get("count"):
        raise IndexFormatError(
            f"{path}: metadata has {meta.num_rows} rows, the manifest says {manifest.get('count')}"
        )
    return meta


def read_faiss(path: Path, modality: str, manifest: dict):
    """The FAISS index of ``modality``, checked against the manifest's dimension and count.

    Raises:
        IndexFormatError: a modality the manifest should not list, an unreadable file, or
            another dimension or count.
    """
    import faiss

    info = manifest["indexes"][modality]
    name = f"{modality}.faiss"
    if modality not in MODALITIES or name not in manifest["files"]:
        raise IndexFormatError(f"{path}: manifest lists unknown index {modality!r}")
    try:
        index = faiss.read_index(str(path / name))
    except Exception as exc:
        raise IndexFormatError(f"{path / name}: not a readable FAISS index ({exc})") from None
    if index.d != manifest["dim"] or index.ntotal != info.get("ntotal"):
        raise IndexFormatError(
            f"{path / name}: dimension {index.d} / {index.ntotal} vectors, the "
            f"manifest says {manifest['dim']} / {info.get('ntotal')}"
        )
    return index


def read_calibration(path: Path, manifest: dict) -> dict:
    """The novelty calibration per modality (``{"k", "scores"}``), ``{}`` when not saved.

    Raises:
        IndexFormatError: an unreadable calibration file.
    """
    if CALIBRATION not in manifest["files"]:
        return {}
    try:
        cal = json.loads((path / CALIBRATION).read_text())
        return {
            m: {"k": int(c["k"]), "scores": np.asarray(c["scores"], np.float64)}
            for m, c in cal.items()
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise IndexFormatError(f"{path / CALIBRATION}: unreadable ({exc!r})") from None
