"""A process for ``tests/test_faults.py`` to kill, starve of disk or race against another.

    python -m tests.fault_worker dataset OUT --tag a --times 5 [--fsize BYTES]
    python -m tests.fault_worker index OUT --tag a --times 5 [--fsize BYTES]

Writes version ``k`` (k = 0, 1, ...) of a dataset (``N_RECORDS`` records named
``{tag}{k}-{i}``) or of an index (``N_VECTORS`` vectors, ids likewise) to ``OUT``, ``--times``
times (0: forever), each replacing the last, and prints each tag once it is written.
``--fsize`` caps the size of any file it writes (``RLIMIT_FSIZE``, a full disk for this
process). Exit status 0, or 3 with ``ErrorType: message`` on stderr for a MavenError.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import signal
import sys

import numpy as np

N_RECORDS = 120
N_VECTORS = 300


def records(tag: str):
    """The records of version ``tag`` (deterministic)."""
    from maven.data.records import LightCurve, Supernova

    out = []
    for i in range(N_RECORDS):
        t = 58000 + np.arange(10.0)
        lc = LightCurve(t, ["ztf::g", "ztf::r"] * 5, 100.0 + i + t - t[0], np.full(10, 2.0))
        out.append(Supernova(f"{tag}-{i}", lightcurve=lc, type_raw="Ia"))
    return out


def index(tag: str):
    """The index of version ``tag`` (deterministic)."""
    from maven.search.index import EmbeddingIndex

    x = np.random.default_rng(len(tag)).normal(size=(N_VECTORS, 16))
    idx = EmbeddingIndex(16, model_hash="sha256:f", model_name="f")
    idx.add(x, [{"id": f"{tag}-{i}"} for i in range(N_VECTORS)], modality="photometry")
    return idx


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["dataset", "index"])
    parser.add_argument("out")
    parser.add_argument("--tag", default="a")
    parser.add_argument("--times", type=int, default=0)
    parser.add_argument("--fsize", type=int, default=None)
    args = parser.parse_args(argv)
    from maven.errors import MavenError
    from maven.io.dataset import write_dataset
    from maven.search.index import EmbeddingIndex

    if args.fsize is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (args.fsize, args.fsize))
    steps = itertools.count() if args.times == 0 else range(args.times)
    try:
        for k in steps:
            tag = f"{args.tag}{k}"
            if args.what == "dataset":
                write_dataset(records(tag), args.out, shard_size=10, overwrite=True)
            else:
                index(tag).save(args.out)
                EmbeddingIndex.load(args.out)  # as ``maven index build`` reads it back
            print(tag, flush=True)
    except MavenError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
