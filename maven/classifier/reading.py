"""The classifier's input in chunks of records, read lazily (memory stays bounded whatever
the input's size). :func:`iter_record_chunks` is public as ``maven.classifier.iter_record_chunks``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from maven.errors import MavenError


def iter_record_chunks(
    data,
    chunk_size: int = 1024,
    *,
    format: str | None = None,
    options: dict | None = None,
    skipped: list | None = None,
) -> Iterator[list]:
    """Records in lists of at most ``chunk_size``, read lazily.

    Args:
        data: an iterable of :class:`~maven.data.Supernova`, a maven parquet dataset (folder
            or shard; streamed), a file, or a folder of files in any readable format (read
            file by file; the records of one object in several files are joined
            (:func:`maven.io.merge.merge_by_name`) when they fall in one chunk: convert the
            folder first with ``maven convert`` to join them all).
        format, options: as :func:`maven.io.read_supernovae`.
        skipped: a list that receives ``(path, reason)`` for each unreadable file of a folder.

    Raises:
        MavenError: a bad ``chunk_size``; what the readers raise for a single file.
    """
    from maven.io import is_dataset, iter_files, iter_supernovae, read_supernovae
    from maven.io.merge import merge_by_name

    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise MavenError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if not isinstance(data, (str, Path)):
        yield from _batched(iter(data), chunk_size)
        return
    path = Path(data)
    if not path.exists():
        raise MavenError(f"{path}: no such file or folder")
    if format in (None, "maven_dataset") and (
        path.suffix == ".parquet" or (path.is_dir() and is_dataset(path))
    ):
        yield from _batched(iter_supernovae(path), chunk_size)
        return
    if path.is_file():
        yield from _batched(iter(read_supernovae(path, format, options=options)), chunk_size)
        return
    records: list = []
    read_as: list[str] = []
    for f in iter_files(path):
        try:
            got = read_supernovae(f, format, options=options)
        except MavenError as exc:
            if skipped is not None:
                skipped.append((str(f), str(exc)))
            continue
        records += got
        read_as += [next(iter(got.formats))] * len(got)
        if len(records) >= chunk_size:
            merged, _ = merge_by_name(records, read_as)
            yield from _batched(iter(merged), chunk_size)
            records, read_as = [], []
    if records:
        merged, _ = merge_by_name(records, read_as)
        yield from _batched(iter(merged), chunk_size)


def _batched(it: Iterator, n: int) -> Iterator[list]:
    """Lists of the next ``n`` items of ``it`` (the last one shorter) until it ends."""
    while chunk := [x for _, x in zip(range(n), it, strict=False)]:
        yield chunk
