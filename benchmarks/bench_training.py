"""Pre-training throughput end to end (data loading included): the record path (the processor
tokenises every object at every step) beside pre-tokenised shards (``maven pretokenize``),
without and with length bucketing (``data.bucket``).

    .venv/bin/python benchmarks/bench_training.py [--preset base] [--batch 96] [--seconds 60]
        [--threads 2] [--survey ztf] [--n-sim 4000] [--data SIMULATED_SET] [--objectives]

Simulates ``--n-sim`` objects of the default stream (or reads ``--data``), pre-tokenises them
(timed), then runs ``maven pretrain`` on each path for about ``--seconds`` with ``--threads``
torch threads in one process, and stops it. Prints one line per path (``records``, ``shards``,
``bucketed``): ``train preset=base path=shards threads=2 batch=96 samples/s=.. per_cpu_s=..``;
rates are over the logged steps after the first (model build and data start are left out):
``samples/s`` against the wall clock, ``per_cpu_s`` against the training process's CPU time
(user + system, all threads), which a machine shared with other jobs changes far less. The
load average at the end of each run is printed beside them. Runs get
``OMP_WAIT_POLICY=PASSIVE`` unless the environment sets it: on a machine shared with other jobs,
OpenMP threads that spin while they wait for each other burn the cores (measured: base with
2 threads at load 4, 12-19 samples/s spinning against 109-233 passive).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(config: dict, out: Path, seconds: float, threads: int) -> tuple[float, float, int]:
    """``maven pretrain`` for ``seconds`` after its first logged step, then stopped; returns
    samples per wall second and per CPU second between the first and the last logged step,
    and the steps done."""
    cfg = out.with_suffix(".yaml")
    cfg.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
    }
    cmd = [sys.executable, "-m", "maven", "pretrain", "--config", str(cfg)]
    cmd += ["--output-dir", str(out)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    metrics, marks = out / "metrics.jsonl", []  # (step, wall, cpu) at each new log line
    while proc.poll() is None:
        lines = metrics.read_text().splitlines() if metrics.exists() else []
        train = [json.loads(x) for x in lines if '"train"' in x and x.endswith("}")]
        if train and (not marks or train[-1]["step"] > marks[-1][0]):
            marks.append((train[-1]["step"], time.time(), _cpu_seconds(proc.pid)))
        if marks and time.time() - marks[0][1] > seconds:
            proc.terminate()
            break
        time.sleep(0.1)
    _, err = proc.communicate()
    if proc.returncode not in (0, -15):
        sys.exit(err[-3000:])
    if len(marks) < 2:
        sys.exit(f"{out}: fewer than two logged steps; raise --seconds")
    (s0, w0, c0), (s1, w1, c1) = marks[0], marks[-1]
    samples = (s1 - s0) * config["batch_size"]
    return samples / (w1 - w0), samples / max(c1 - c0, 1e-9), s1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="base")
    parser.add_argument("--batch", type=int, default=96)
    parser.add_argument("--seconds", type=float, default=60.0, help="per path")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--survey", default="ztf", choices=["ztf", "lsst"])
    parser.add_argument("--n-sim", type=int, default=4000)
    parser.add_argument("--data", default=None, help="a simulated set instead of simulating")
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--objectives", action="store_true", help="auxiliary heads on")
    parser.add_argument("--paths", default="records,shards,bucketed")
    parser.add_argument("--bucket", type=int, default=16, help="data.bucket of 'bucketed'")
    args = parser.parse_args()
    from maven.models import MavenProcessor
    from maven.simulate import SimConfig, simulate_dataset
    from maven.training.shards import pretokenize

    with tempfile.TemporaryDirectory(prefix="maven-bench-train-") as name:
        tmp = Path(name)
        sim = args.data or simulate_dataset(
            tmp / "sim",
            args.n_sim,
            seed=0,
            workers=2,
            shard_size=1000,
            config=SimConfig(survey=args.survey),
            progress=False,
        )
        start = time.time()
        shards = pretokenize(sim, tmp / "tok", MavenProcessor(), views=args.views, workers=2)
        n = json.loads((shards / "shards.json").read_text())["n_objects"]
        print(
            f"pretokenize objects={n} views={args.views} workers=2 "
            f"objects/s={n / (time.time() - start):.0f}"
        )
        objectives = {"class": 1.0, "redshift": 1.0, "peak_abs_mag": 0.5, "spectrum_phase": 0.5}
        for path in args.paths.split(","):
            config = dict(
                model={"preset": args.preset},
                data={
                    "train": str(sim if path == "records" else shards),
                    "val": str(sim),
                    "bucket": args.bucket if path == "bucketed" else 0,
                },
                batch_size=args.batch,
                max_steps=100_000,
                lr=5e-4,
                warmup_steps=10,
                log_every=1,
                eval_every=100_000,
                save_every=100_000,
                cpu=True,
                objectives=objectives if args.objectives else {},
            )
            wall, cpu, steps = _run(config, tmp / f"run-{path}", args.seconds, args.threads)
            print(
                f"train preset={args.preset} path={path} threads={args.threads} batch={args.batch} "
                f"objectives={args.objectives} steps={steps} samples/s={wall:.1f} "
                f"per_cpu_s={cpu:.1f} load={os.getloadavg()[0]:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
