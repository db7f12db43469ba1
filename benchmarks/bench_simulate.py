"""Simulator throughput: supernovae per second (light curve + 1 spectrum, default config).

Prints, per survey (ZTF, LSST):

* one-time set-up (templates, cadence, spatial index; warm cache);
* ``simulate()`` in one process (records in memory);
* ``simulate_dataset()`` with ``--workers`` spawned processes, parquet shards included
  (the end-to-end figure a user sees; includes each worker's set-up).

Usage (the templates come from ``$MAVEN_TEMPLATE_DIR``; without it, the built-in fallback)::

    MAVEN_TEMPLATE_DIR=../shared/data/templates \
        python benchmarks/bench_simulate.py [--n 4000] [--workers 2] [--surveys ztf lsst]
    python benchmarks/bench_simulate.py --profile lsst    # cProfile of simulate()
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=12000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--surveys", nargs="+", default=["ztf", "lsst"])
    ap.add_argument("--profile", choices=["ztf", "lsst"], default=None)
    args = ap.parse_args()

    from maven.simulate import SimConfig, provenance, simulate, simulate_dataset

    if args.profile:
        import cProfile
        import pstats

        simulate(5, survey=args.profile)
        cProfile.runctx(
            "simulate(args.n // 4, survey=args.profile, shard=7)", globals(), locals(), "/tmp/p"
        )
        pstats.Stats("/tmp/p").sort_stats("tottime").print_stats(20)
        return

    print(
        f"cpu count: {os.cpu_count()}, workers: {args.workers}, n: {args.n}, "
        f"load average: {os.getloadavg()[0]:.2f} (other processes skew wall-clock figures)"
    )
    for survey in args.surveys:
        cfg = SimConfig(survey=survey)
        t0 = time.perf_counter()
        prov = provenance(cfg, 0)
        simulate(1, survey=survey)
        setup = time.perf_counter() - t0
        n1 = max(args.n // 4, 100)
        t0, c0 = time.perf_counter(), time.process_time()
        sne = simulate(n1, survey=survey, shard=1)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        draws = max(sn.meta["draw_index"] for sn in sne)
        with tempfile.TemporaryDirectory() as tmp:
            t1 = time.perf_counter()
            simulate_dataset(
                tmp,
                args.n,
                survey=survey,
                seed=0,
                workers=args.workers,
                shard_size=max(args.n // (4 * args.workers), 50),
                progress=False,
            )
            dt2 = time.perf_counter() - t1
        print(
            f"[{survey}] cadence: {os.path.basename(prov['cadence'])} "
            f"({prov['cadence_visits']} visits); set-up {setup:.2f} s\n"
            f"  simulate(), 1 process      : {n1 / dt:7.0f} SNe/s wall, {n1 / cpu:.0f} SNe per "
            f"CPU-second ({n1} in {dt:.2f} s; {draws} draws, {n1 / draws:.0%} triggered)\n"
            f"  simulate_dataset, {args.workers} workers: {args.n / dt2:7.0f} SNe/s "
            f"({args.n} in {dt2:.2f} s, parquet + spawn + set-up included)"
        )


if __name__ == "__main__":
    main()
