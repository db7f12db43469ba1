"""Index build time, memory, query latency and recall: ``python benchmarks/bench_index.py``.

For each size N (default 100k and 1M; add 10M with ``--sizes 100000,1000000,10000000`` on a
machine with ~12 GB free), builds a :class:`maven.search.EmbeddingIndex` (``--index-type``,
default ``auto``: exact below 200k vectors, IVF-PQ at 128 bytes/vector above, nprobe tuned
at build time to recall@10 >= 0.95 on a sample) over N synthetic 128-d unit vectors, then
prints one line per size::

    index n=1000000 build_s=.. build_mem_gb=.. mem_gb=.. p50_ms=.. p99_ms=.. recall10=..

- build_s: wall time of ``EmbeddingIndex.add`` (training, adding, nprobe tuning, metadata).
- build_mem_gb: resident-memory growth of the process over the build (index + id/metadata
  table + what the build leaves allocated; the input array is allocated before the baseline).
- mem_gb: what a query server holds: the index is saved, dropped, and loaded back
  (``EmbeddingIndex.load``, checksums verified) and this is the resident-memory growth of the
  load (FAISS index + metadata table), measured after freed memory is returned to the OS.
- p50_ms / p99_ms: latency of one query at a time through ``search_vectors`` (k=10) on the
  loaded index, with FAISS limited to one thread per query, as a query server runs them (a
  shared, busy machine otherwise inflates single-query latency through OpenMP contention).
  Build uses all cores.
- recall10: mean |top-10 found ∩ exact top-10| / 10 over ``--queries`` held-out queries,
  the exact answer from brute force (``faiss.knn``) on the uncompressed vectors.

Synthetic vectors: real embeddings are not isotropic (a contrastive model puts them on a
low-dimensional, clustered manifold), so the vectors are a 2000-component Gaussian mixture in
16 latent dimensions, mapped linearly into 128-d, with small isotropic noise, L2-normalised.
Uniform random vectors on the 128-d sphere are the worst case for any compressed index (all
neighbours almost equidistant); ``--isotropic`` benchmarks that instead.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import tempfile
import time

import faiss
import numpy as np

from maven.search import EmbeddingIndex, exact_knn, normalize


def rss_gb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024**2
    return float("nan")


def synthetic(n: int, dim: int, seed: int, isotropic: bool = False) -> np.ndarray:
    """(n, dim) float32 unit vectors (see the module docstring), generated in chunks."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    if isotropic:
        for s in range(0, n, 1_000_000):
            e = min(n, s + 1_000_000)
            out[s:e] = rng.standard_normal((e - s, dim), dtype=np.float32)
    else:
        base = np.random.default_rng(12345)  # same manifold for database and queries
        latent, ncomp = 16, 2000
        centres = base.standard_normal((ncomp, latent)).astype(np.float32)
        spread = base.uniform(0.1, 0.4, ncomp).astype(np.float32)
        mix = base.standard_normal((latent, dim)).astype(np.float32) / np.sqrt(latent)
        for s in range(0, n, 1_000_000):
            e = min(n, s + 1_000_000)
            c = rng.integers(0, ncomp, e - s)
            z = centres[c] + spread[c, None] * rng.standard_normal((e - s, latent), np.float32)
            out[s:e] = z @ mix + 0.05 * rng.standard_normal((e - s, dim), np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def release() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc), so RSS is live data."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def bench(n: int, args) -> str:
    dim = args.dim
    x = synthetic(n, dim, seed=1, isotropic=args.isotropic)
    q = synthetic(args.queries, dim, seed=2, isotropic=args.isotropic)
    meta = {"id": [f"sn{i}" for i in range(n)]}
    release()
    base = rss_gb()
    t0 = time.perf_counter()
    idx = EmbeddingIndex(dim, model_hash="sha256:bench", index_type=args.index_type)
    idx.add(x, meta, modality="photometry")
    build_s = time.perf_counter() - t0
    gc.collect()
    build_mem_gb = rss_gb() - base
    del meta
    _, truth = exact_knn(q, x, 10)
    threads = faiss.omp_get_max_threads()
    del x
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        idx.save(f"{tmp}/index")
        del idx
        release()
        base = rss_gb()
        idx = EmbeddingIndex.load(f"{tmp}/index", model_hash="sha256:bench")
        release()
        mem_gb = rss_gb() - base
    faiss.omp_set_num_threads(1)  # one thread per query, as a query server runs them
    for i in range(min(20, len(q))):  # warm-up
        idx.search_vectors(q[i], 10, modality="photometry")
    lat, found = [], []
    for i in range(len(q)):
        t = time.perf_counter()
        _, keys = idx.search_vectors(q[i], 10, modality="photometry")
        lat.append((time.perf_counter() - t) * 1e3)
        found.append(keys[0])
    # keys were assigned 0..n-1 in database order, so keys equal database positions
    faiss.omp_set_num_threads(threads)
    hits = sum(len(np.intersect1d(f, t)) for f, t in zip(found, truth, strict=True))
    recall = hits / truth.size
    info = idx.info()["indexes"]["photometry"]
    print(
        f"# n={n} type={info['type']} params="
        + ",".join(
            f"{k}={info['params'].get(k)}"
            for k in ("nlist", "nprobe", "pq_m", "ef_search")
            if info["params"].get(k) is not None
        ),
        flush=True,
    )
    return (
        f"index n={n} build_s={build_s:.1f} build_mem_gb={build_mem_gb:.2f} mem_gb={mem_gb:.2f} "
        f"p50_ms={np.percentile(lat, 50):.2f} p99_ms={np.percentile(lat, 99):.2f} "
        f"recall10={recall:.3f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated vector counts")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--index-type", default="auto", choices=["auto", "flat", "hnsw", "ivfpq"])
    ap.add_argument("--isotropic", action="store_true", help="uniform random unit vectors")
    ap.add_argument("--tmp", default=None, help="folder for the saved index (default: $TMPDIR)")
    args = ap.parse_args()
    print(f"# cpus={os.cpu_count()} dim={args.dim} queries={args.queries}", flush=True)
    normalize(np.ones((1, args.dim)))  # import faiss before the first baseline
    for n in (int(s) for s in args.sizes.split(",")):
        print(bench(n, args), flush=True)


if __name__ == "__main__":
    main()
