"""Pre-tokenised shards: the processor's output computed once, so training reads arrays.

:func:`pretokenize` runs :class:`~maven.models.MavenProcessor` on every paired object of a
maven parquet dataset (one object at a time, ``views`` times each, view ``v`` of object ``i``
augmented with ``numpy.random.default_rng([seed, i, v])``, or unaugmented with
``augment=False``) and stores *whatever* ``MavenProcessor.__call__`` returns -- every key, any
shape, any dtype -- plus the simulation truth of :func:`~maven.training.objectives.record_targets`.
A change of the processor's outputs needs no change here. :class:`ShardSource` serves them
to :class:`~maven.training.data.StepBatches`; :func:`collate` zero-pads rows into a batch,
which is exactly what the processor gives for the same objects in one call (its padding is
zeros; ``tests/test_shards.py`` checks every key).

Training-time augmentation is frozen into the views: epoch ``e`` shows object ``i`` its view
``(e + i) % views``, so consecutive epochs cycle through all of them.

Layout (``OUT/``)::

    shards.json                 manifest: settings, processor config, hashes, keys, shards
    shard-00000.safetensors     objects [0, shard_size) x views rows
    fingerprint/                the first object (a maven dataset), to check the processor

In a shard, key ``K`` is three tensors: ``K`` (the rows' values, flattened and concatenated;
a row equal to the first one is stored once), ``K::start`` (n,) and ``K::shape`` (n, ndim).
Shards are written atomically and deterministically, and are read through memory maps
(zero copy; processes share the pages).

A shard set is refused (:class:`~maven.errors.ConfigError`) when the run's processor has
another configuration (``processor_hash``) or gives other tensors for the stored fingerprint
object (``fingerprint``: a processor code change), or when augmentation does not match.
"""

from __future__ import annotations

import hashlib
import json
import math
import mmap
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from maven.errors import ConfigError, FormatError, MavenError
from maven.training.objectives import record_targets

__all__ = ["MANIFEST", "ShardSource", "collate", "pretokenize", "processor_hash"]

MANIFEST = "shards.json"
FORMAT, VERSION = "maven-shards", 1

#: safetensors dtype names
_DTYPES = {
    "BOOL": np.bool_,
    "U8": np.uint8,
    "I8": np.int8,
    "I16": np.int16,
    "I32": np.int32,
    "I64": np.int64,
    "F16": np.float16,
    "F32": np.float32,
    "F64": np.float64,
}


def _sha256(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def processor_hash(processor) -> str:
    """sha256 of the processor's configuration (``to_dict``)."""
    return _sha256(processor.to_dict())


def _fingerprint(processor, record, seed: int, augment: bool) -> str:
    """sha256 over the processor's arrays (key, dtype, shape, bytes) for ``record``,
    unaugmented and (with ``augment``) as view 0 of object 0."""
    h = hashlib.sha256()
    rngs = [None] + ([np.random.default_rng([seed, 0, 0])] if augment else [])
    for rng in rngs:
        out = processor([record], augment=rng, return_tensors="np")
        for key in sorted(out):
            a = np.asarray(out[key])
            h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def _rows(processor, records: Sequence, first_index: int, views: int, augment: bool, seed: int):
    """One row (key -> array without the batch axis) per (object, view), object-major."""
    rows = []
    for j, sn in enumerate(records):
        truth = {k: v[0] for k, v in record_targets([sn]).items()}
        for v in range(views):
            rng = np.random.default_rng([seed, first_index + j, v]) if augment else None
            out = processor([sn], augment=rng, return_tensors="np")
            rows.append({**{k: a[0] for k, a in out.items()}, **truth})
    return rows


def collate(rows: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack rows into a batch, zero-padding (``False`` for bools) every axis to the longest row.

    Raises:
        MavenError: no rows, rows with other keys, or a key with other dtypes or ranks.
    """
    if not rows:
        raise MavenError("no rows to collate")
    keys = list(rows[0])
    out = {}
    for key in keys:
        try:
            arrs = [r[key] for r in rows]
        except KeyError:
            raise MavenError(f"rows with different keys: {key!r} is missing in some") from None
        if len({(a.dtype, a.ndim) for a in arrs}) > 1:
            raise MavenError(f"{key}: rows of different dtypes or ranks")
        shape = tuple(max(d) for d in zip(*(a.shape for a in arrs), strict=True))
        if all(a.shape == shape for a in arrs):
            out[key] = np.stack(arrs)
            continue
        buf = np.zeros((len(arrs), *shape), arrs[0].dtype)
        for i, a in enumerate(arrs):
            buf[(i, *map(slice, a.shape))] = a
        out[key] = buf
    return out


def _write_shard(path: Path, rows: Sequence[Mapping[str, np.ndarray]], settings: str) -> None:
    from safetensors.numpy import save_file

    tensors = {}
    for key in rows[0]:
        first = np.asarray(rows[0][key])
        parts, starts, shapes, pos = [first.ravel()], [], [], first.size
        for r in rows:
            a = np.asarray(r[key])
            if a.dtype != first.dtype:
                raise MavenError(f"{key}: rows of different dtypes ({a.dtype}, {first.dtype})")
            if a.shape == first.shape and a.tobytes() == first.tobytes():
                starts.append(0)
            else:
                starts.append(pos)
                parts.append(a.ravel())
                pos += a.size
            shapes.append(a.shape)
        tensors[key] = np.concatenate(parts)
        tensors[f"{key}::start"] = np.array(starts, np.int64)
        tensors[f"{key}::shape"] = np.array(shapes, np.int64).reshape(len(rows), first.ndim)
    tmp = path.with_name(f".{path.name}.tmp")
    # one metadata key: safetensors writes several in no fixed order
    meta = json.dumps({"rows": len(rows), "settings": settings}, sort_keys=True)
    save_file(tensors, str(tmp), metadata={"maven": meta})
    os.replace(tmp, path)


def _open_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Name -> read-only array over a memory map of each tensor of a safetensors file, and the
    file's metadata (what ``safetensors.numpy.load_file`` gives, without reading the data)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        if not 0 < n <= size - 8:
            raise FormatError(f"{path}: not a safetensors file")
        header = json.loads(fh.read(n))
    with open(path, "rb") as fh:
        mm = np.frombuffer(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ), np.uint8)
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = (8 + n + int(x) for x in info["data_offsets"])
        if info["dtype"] not in _DTYPES or end > size:
            raise FormatError(f"{path}: bad tensor {name!r} ({info['dtype']}, ends at {end})")
        tensors[name] = mm[begin:end].view(_DTYPES[info["dtype"]]).reshape(info["shape"])
    return tensors, header.get("__metadata__") or {}


def _shard_meta(path: Path) -> dict:
    """What :func:`_write_shard` stored beside the tensors (``rows``, ``settings``)."""
    return json.loads(_open_safetensors(path)[1].get("maven", "{}"))


def _shard_settings_ok(path: Path, settings: str) -> bool:
    try:
        return _shard_meta(path).get("settings") == settings
    except (OSError, ValueError, MavenError):
        return False


_WORKER_PROCESSOR: dict = {}


def _tokenize_job(job: tuple) -> int:
    """One shard (run in a worker process): rows of its records, written atomically."""
    from maven.models import MavenProcessor

    path, records, first, views, augment, seed, proc_cfg, settings = job
    key = json.dumps(proc_cfg, sort_keys=True)
    if key not in _WORKER_PROCESSOR:
        _WORKER_PROCESSOR.clear()
        _WORKER_PROCESSOR[key] = MavenProcessor(**proc_cfg)
    rows = _rows(_WORKER_PROCESSOR[key], records, first, views, augment, seed)
    _write_shard(Path(path), rows, settings)
    return len(records)


def _paired(path) -> Iterator:
    from maven.io.dataset import iter_supernovae
    from maven.training.data import has_pair

    return (sn for sn in iter_supernovae(path) if has_pair(sn))


def pretokenize(
    source: str | Path,
    out_dir: str | Path,
    processor,
    *,
    views: int = 1,
    augment: bool = True,
    seed: int = 0,
    shard_size: int = 1000,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Pre-tokenise the paired objects of a maven parquet dataset (module docstring).

    Re-running with the same settings keeps the complete shards already written (an
    interrupted run continues); ``overwrite`` is needed to replace a finished set.

    Args:
        source: a maven parquet dataset (e.g. ``maven simulate`` output).
        out_dir: the shard folder (created).
        processor: the :class:`~maven.models.MavenProcessor` training will use.
        views: processed views per object (augmented ones when ``augment``; 1 without).
        seed: seeds the augmentation of the views.
        shard_size: objects per shard file; workers: processes.

    Raises:
        ConfigError: bad sizes, ``views > 1`` without augmentation, or a finished set in
            ``out_dir`` without ``overwrite``.
        MavenError: no object of ``source`` has both a light curve and a spectrum.
    """
    from tqdm.auto import tqdm

    from maven.io import write_dataset

    for name, value in (("views", views), ("shard_size", shard_size), ("workers", workers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if views > 1 and not augment:
        raise ConfigError("views > 1 needs augment: unaugmented views are all the same")
    out = Path(out_dir)
    if (out / MANIFEST).exists() and not overwrite:
        raise ConfigError(f"{out} already holds a shard set (overwrite=True to replace it)")
    records = _paired(source)
    first = next(records, None)
    if first is None:
        raise MavenError(f"{source}: no supernova has both a light curve and a spectrum")
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    write_dataset([first], out / "fingerprint", overwrite=True)
    source_manifest = Path(source) / "maven_dataset.json"
    settings = {
        "format": FORMAT,
        "version": VERSION,
        "source": str(Path(source).resolve()),
        "source_manifest_sha256": hashlib.sha256(source_manifest.read_bytes()).hexdigest()
        if source_manifest.exists()
        else None,
        "views": views,
        "augment": augment,
        "seed": seed,
        "shard_size": shard_size,
        "processor": processor.to_dict(),
        "processor_hash": processor_hash(processor),
        "fingerprint": _fingerprint(processor, first, seed, augment),
    }
    tag = _sha256(settings)

    def jobs() -> Iterator[tuple]:
        chunk, start = [first], 0
        for sn in records:
            if len(chunk) == shard_size:
                yield chunk, start
                chunk, start = [], start + shard_size
            chunk.append(sn)
        yield chunk, start

    shards, counts, n = [], {}, 0
    bar = tqdm(desc="pretokenize", unit="SN", disable=not progress)
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn")) if workers > 1 else None
    pending = []
    try:
        for chunk, start in jobs():
            path = out / f"shard-{len(shards):05d}.safetensors"
            shards.append({"file": path.name, "objects": len(chunk)})
            for sn in chunk:
                counts[sn.type or "unknown"] = counts.get(sn.type or "unknown", 0) + 1
            n += len(chunk)
            if _shard_settings_ok(path, tag):
                bar.update(len(chunk))
                continue
            job = (str(path), chunk, start, views, augment, seed, settings["processor"], tag)
            if pool is None:
                bar.update(_tokenize_job(job))
                continue
            pending.append(pool.submit(_tokenize_job, job))
            while len(pending) > 2 * workers:  # bounded memory: a few shards in flight
                bar.update(pending.pop(0).result())
        for fut in pending:
            bar.update(fut.result())
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        bar.close()
    for stale in sorted(out.glob("shard-*.safetensors"))[len(shards) :]:
        stale.unlink()
    keys = _open_safetensors(out / shards[0]["file"])[0]
    manifest = {
        **settings,
        "n_objects": n,
        "counts_per_type": dict(sorted(counts.items())),
        "keys": {
            k: {"dtype": str(v.dtype), "ndim": int(keys[f"{k}::shape"].shape[1])}
            for k, v in sorted(keys.items())
            if "::" not in k
        },
        "shards": shards,
    }
    tmp = out / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, out / MANIFEST)
    return out


def _read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the shard manifest {path / MANIFEST}: {exc}") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ConfigError(
            f"{path}: shard format {manifest.get('format')!r} v{manifest.get('version')}, "
            f"this maven reads {FORMAT!r} v{VERSION}"
        )
    return manifest


class ShardSource:
    """Batches of a pre-tokenised shard set, in the same per-step order as
    :class:`~maven.training.data.RecordSource`; ``batch`` returns collated arrays.

    Args:
        path: a folder written by :func:`pretokenize`.
        processor: the run's processor; it must be the one the shards were made with.
        augment: whether the run augments; it must match the shard set.
        bucket: length bucketing (0: off). The stream is cut into windows of ``bucket``
            global batches; each window's rows are sorted by size (elements over all keys,
            which grows with the light curve's length) and cut into global batches, which
            come in a shuffled order. Rows of similar length then share a batch, so far less
            padding is computed; the objects seen are the same.

    Raises:
        ConfigError: an unreadable or stale shard set (module docstring), missing shards or
            a bad ``bucket``.
    """

    def __init__(self, path: str | Path, processor, augment: bool, bucket: int = 0):
        from maven.io import read_dataset

        if isinstance(bucket, bool) or not isinstance(bucket, int) or bucket < 0:
            raise ConfigError(f"bucket must be an integer >= 0, got {bucket!r}")

        self.path = Path(path)
        m = _read_manifest(self.path)
        stale = f"{self.path} is stale: run maven pretokenize again ({{}})"
        if m["processor_hash"] != processor_hash(processor):
            mine, theirs = processor.to_dict(), m["processor"]
            diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            raise ConfigError(stale.format(f"processor options differ: {diff}"))
        record = read_dataset(self.path / "fingerprint")[0]
        if m["fingerprint"] != _fingerprint(processor, record, m["seed"], m["augment"]):
            raise ConfigError(stale.format("the processor's output has changed since"))
        if bool(augment) != bool(m["augment"]):
            raise ConfigError(
                f"{self.path}: the run has augment={augment} but the shards were made with "
                f"augment={m['augment']}"
            )
        missing = [s["file"] for s in m["shards"] if not (self.path / s["file"]).exists()]
        if missing:
            raise ConfigError(f"{self.path}: shards missing: {missing[:5]}")
        self.manifest = m
        self.views, self.shard_size = m["views"], m["shard_size"]
        self.n, self.bucket = m["n_objects"], bucket
        self._open: dict[int, dict[str, np.ndarray]] = {}
        self._sizes: np.ndarray | None = None
        self._window: tuple = (None, None, None)

    def __len__(self) -> int:
        return self.n

    def __getstate__(self) -> dict:  # memmaps stay behind: a worker reopens its own
        return {**self.__dict__, "_open": {}, "_window": (None, None, None)}

    def _shard(self, k: int) -> dict[str, np.ndarray]:
        if k not in self._open:
            self._open[k] = _open_safetensors(self.path / self.manifest["shards"][k]["file"])[0]
        return self._open[k]

    def row(self, obj: int, view: int) -> dict[str, np.ndarray]:
        """View ``view`` of object ``obj``: key -> array (views of the memory map, not copies)."""
        if not (0 <= obj < self.n and 0 <= view < self.views):
            raise MavenError(f"no row for object {obj}, view {view} ({self.n} x {self.views})")
        shard, local = divmod(obj, self.shard_size)
        t = self._shard(shard)
        r = local * self.views + view
        out = {}
        for key in self.manifest["keys"]:
            start, shape = int(t[f"{key}::start"][r]), tuple(t[f"{key}::shape"][r].tolist())
            out[key] = t[key][start : start + math.prod(shape)].reshape(shape)
        return out

    def sizes(self) -> np.ndarray:
        """``(n, views)``: elements of each row over all keys (read from the shard indexes)."""
        if self._sizes is None:
            per_shard = []
            for k in range(len(self.manifest["shards"])):
                t = self._shard(k)
                per_shard.append(
                    sum(np.prod(t[f"{key}::shape"], axis=1) for key in self.manifest["keys"])
                )
            self._sizes = np.concatenate(per_shard).reshape(self.n, self.views)
        return self._sizes

    def _view(self, epoch: int, obj: int) -> int:
        return (epoch + obj) % self.views

    def batch(self, step: int, rank: int, world: int, batch_size: int, seed: int) -> dict:
        """The collated arrays of micro-step ``step`` on ``rank``."""
        from maven.training.data import epoch_items

        if self.bucket:
            items = self._bucketed(step, rank, world, batch_size, seed)
        else:
            items = epoch_items(self.n, step, rank, world, batch_size, seed)
        return collate([self.row(obj, self._view(epoch, obj)) for epoch, obj in items])

    def _bucketed(self, step: int, rank: int, world: int, batch_size: int, seed: int) -> list:
        from maven.training.data import epoch_items

        window, j = divmod(step, self.bucket)
        key = (window, world, batch_size, seed)
        if self._window[0] != key:
            glob = batch_size * world
            items = epoch_items(self.n, window, 0, 1, self.bucket * glob, seed)
            size = self.sizes()[[o for _, o in items], [self._view(e, o) for e, o in items]]
            batches = np.argsort(size, kind="stable").reshape(self.bucket, glob)
            order = np.random.default_rng([seed, window, 1]).permutation(self.bucket)
            self._window = (key, items, batches[order])
        _, items, batches = self._window
        return [items[i] for i in batches[j][rank * batch_size : (rank + 1) * batch_size]]
