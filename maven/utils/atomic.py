"""Crash-safe writes: the one way maven writes what must never be seen half-done (dataset
folders, training checkpoints, embedding indexes), with checksums and a writers' lock.

* :func:`write_text` / :func:`staged_file`: a file through a temporary sibling, flushed and
  renamed over the target.
* :func:`staged_directory` / :func:`replace_directory`: a folder is written complete next to
  its target, then swapped in with one atomic rename exchange (Linux ``renameat2``; elsewhere
  two renames); the previous folder is removed only afterwards. A crash or error at any point
  leaves either the old folder or the new one, never a mixture.
* :func:`locked`: an advisory lock (``fcntl.flock`` on ``.NAME.lock`` beside the target):
  writers take it exclusively, readers shared, so a reader never meets a folder mid-swap and
  concurrent writers take turns.
* :func:`checksums` / :func:`verify_files`: sizes and sha256 of a folder's files, recorded in
  its manifest and checked on load; names must be plain file names inside the folder.

Every ``OSError`` (disk full, no permission) becomes a :class:`~maven.errors.StorageError`
naming the path.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from maven.errors import MavenError, StorageError

__all__ = [
    "write_text",
    "staged_directory",
    "staged_file",
    "replace_directory",
    "locked",
    "checksums",
    "verify_files",
    "sha256_file",
    "storage_error",
]

_RENAME_EXCHANGE = 2


def storage_error(path: str | Path, exc: OSError, doing: str = "write") -> StorageError:
    """A :class:`StorageError` for ``exc`` raised while ``doing`` ``path``."""
    reason = exc.strerror or str(exc)
    return StorageError(f"{path}: cannot {doing}: {reason}")


def _remove(path: Path) -> None:
    """Delete a file or a folder tree, ignoring what is already gone."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temporary sibling, fsync, rename).

    Raises:
        StorageError: the file cannot be written (the previous one, if any, is kept).
    """
    with staged_file(path) as tmp, open(tmp, "w") as fh:
        fh.write(text)
    return Path(path)


@contextlib.contextmanager
def staged_file(target: str | Path) -> Iterator[Path]:
    """Yield a path beside ``target`` to write a file to; on a normal exit the file is
    fsynced and renamed over ``target``, on an exception it is deleted and ``target`` is
    untouched.

    Raises:
        StorageError: an ``OSError`` inside the block (disk full) or in the rename.
    """
    path = Path(target)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, MavenError):
            raise
        raise storage_error(path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step; False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    res = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if res == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _fsync_tree(folder: Path) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(root))


def replace_directory(src: str | Path, dst: str | Path) -> None:
    """Move the complete folder ``src`` to ``dst``, replacing any ``dst`` atomically; the
    previous ``dst`` is deleted afterwards. ``src`` and ``dst`` must share a file system.

    Raises:
        StorageError: the swap failed (``dst`` is as it was).
    """
    src, dst = Path(src), Path(dst)
    try:
        _fsync_tree(src)
        if not dst.exists():
            os.replace(src, dst)
        elif _exchange(src, dst):
            shutil.rmtree(src, ignore_errors=True)  # src now holds the previous dst
        else:
            old = dst.with_name(f".{dst.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(dst, old)
            try:
                os.replace(src, dst)
            except OSError:
                os.replace(old, dst)
                raise
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise storage_error(dst, exc, "replace") from None
    _fsync_dir(dst.parent)


@contextlib.contextmanager
def staged_directory(target: str | Path) -> Iterator[Path]:
    """Yield an empty folder beside ``target``; on a normal exit it replaces ``target``
    (:func:`replace_directory`), on an exception it is deleted and ``target`` is untouched.
    Hold :func:`locked` around it when other processes may write ``target`` too.

    Raises:
        StorageError: the folder cannot be created or swapped in; an ``OSError`` inside the
            block (disk full) is re-raised as one.
    """
    target = Path(target)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as exc:
        raise storage_error(target, exc, "create a folder beside") from None
    try:
        yield tmp
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, MavenError):
            raise
        raise storage_error(target, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        replace_directory(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def locked(target: str | Path, *, shared: bool = False, timeout: float = 600.0) -> Iterator[None]:
    """Hold the advisory lock of ``target`` (exclusive for writers, ``shared`` for readers),
    waiting up to ``timeout`` seconds. Readers lock only where a writer has made the lock file
    (they never create one). A writer that holds the lock also removes what killed writers of
    ``target`` left beside it (``.NAME.tmp-*``, ``.NAME.old-*``).

    Raises:
        StorageError: another process held the lock for longer than ``timeout``, or a writer
            cannot create the lock file.
    """
    import fcntl

    target = Path(target)
    lock = target.with_name(f".{target.name}.lock")
    try:
        if shared:
            fd = os.open(lock, os.O_RDONLY)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if shared:
            yield
            return
        raise storage_error(lock, exc, "create the lock file") from None
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                    raise StorageError(
                        f"{target}: another process (pid {holder}) has held it for more than "
                        f"{timeout:g} s; try again when it has finished"
                    ) from None
                time.sleep(0.05)
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            for kind in ("tmp", "old"):
                for stale in target.parent.glob(f".{glob.escape(target.name)}.{kind}-*"):
                    _remove(stale)
        yield
    finally:
        os.close(fd)  # releases the lock


def sha256_file(path) -> str:
    """The hex sha256 of a file's bytes (a path, or a binary file open at its start)."""
    h = hashlib.sha256()
    with contextlib.nullcontext(path) if hasattr(path, "read") else open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def checksums(folder: str | Path, names: Iterable[str]) -> dict[str, dict]:
    """``{name: {"bytes", "sha256"}}`` of files in ``folder`` (what a manifest records)."""
    folder = Path(folder)
    return {
        n: {"bytes": (folder / n).stat().st_size, "sha256": sha256_file(folder / n)} for n in names
    }


def _inside(folder: Path, name) -> bool:
    """True for a relative path (no ``..``) that stays inside ``folder``, links resolved."""
    if not isinstance(name, str) or not name or "\\" in name:
        return False
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts:
        return False
    return (folder / rel).resolve().is_relative_to(folder.resolve())


def verify_files(
    folder: str | Path,
    files: dict,
    *,
    error: type[MavenError] = StorageError,
    verify_sha256: bool = True,
) -> None:
    """Check that every file a manifest lists (``{name: {"bytes", "sha256"}}``, names relative
    to ``folder``) lies inside ``folder``, exists, and has the recorded size and
    (``verify_sha256``) hash.

    Raises:
        error: naming the folder and the first file that fails.
    """
    folder = Path(folder)
    if not isinstance(files, dict):
        raise error(f"{folder}: the manifest's file list is not a mapping")
    for name, rec in files.items():
        if not _inside(folder, name):
            raise error(f"{folder}: the manifest lists {name!r}, a path outside the folder")
        if not isinstance(rec, dict):
            raise error(f"{folder}: the manifest entry of {name} is not a mapping")
        f = folder / name
        if not f.is_file():
            raise error(f"{folder}: file {name} listed in the manifest is missing")
        size = f.stat().st_size
        if size != rec.get("bytes"):
            raise error(
                f"{f}: {size} bytes, the manifest says {rec.get('bytes')} (truncated or replaced)"
            )
        if verify_sha256 and sha256_file(f) != rec.get("sha256"):
            raise error(f"{f}: sha256 checksum mismatch (corrupted or replaced)")
