"""Contrastive training throughput on this machine: samples/s with 1 and 2 CPU processes.

    .venv/bin/python benchmarks/bench_training.py [--preset base] [--steps 30] [--batch 64]

Simulates a small ZTF set (tiny preset, no template directory needed), then runs
``maven pretrain`` for ``--steps`` steps with one process and with two (accelerate,
``pretrain/accelerate/cpu_2proc.yaml``; same per-process batch, so the global batch doubles).
Prints one line per run: ``train preset=base procs=2 global_batch=128 samples/s=..``.
The first logged interval (warm-up, data start) is left out of the rate.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str]) -> None:
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if res.returncode:
        sys.exit(res.stderr[-3000:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="base")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64, help="per process")
    parser.add_argument("--n-sim", type=int, default=2000)
    args = parser.parse_args()
    from maven.simulate import SimConfig, simulate_dataset

    tmp = Path(tempfile.mkdtemp(prefix="maven-bench-train-"))
    sim = simulate_dataset(
        tmp / "sim",
        args.n_sim,
        seed=0,
        workers=2,
        shard_size=500,
        config=SimConfig.preset("tiny"),
        progress=False,
    )
    log_every = max(1, args.steps // 6)
    config = dict(
        model={"preset": args.preset},
        data={"train": str(sim), "val": str(sim), "val_size": 64},
        batch_size=args.batch,
        max_steps=args.steps,
        lr=5e-4,
        warmup_steps=2,
        log_every=log_every,
        eval_every=args.steps,
        save_every=args.steps,
        cpu=True,
    )
    cfg = tmp / "bench.yaml"
    cfg.write_text(yaml.safe_dump(config))
    bin_dir = Path(sys.executable).parent
    runs = {
        1: [sys.executable, "-m", "maven", "pretrain", "--config", str(cfg)],
        2: [
            str(bin_dir / "accelerate"),
            "launch",
            "--config_file",
            str(REPO / "pretrain" / "accelerate" / "cpu_2proc.yaml"),
            "--main_process_port",
            "0",
            "-m",
            "maven",
            "pretrain",
            "--config",
            str(cfg),
        ],
    }
    for procs, cmd in runs.items():
        out = tmp / f"run{procs}"
        _run([*cmd, "--output-dir", str(out)])
        records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
        train = [r for r in records if r["split"] == "train"]
        # rate over the later intervals: samples between the first and last log / their time
        first, last = train[0], train[-1]
        t_first = first["step"] * args.batch * procs / first["samples_per_s"]
        t_last = last["step"] * args.batch * procs / last["samples_per_s"]
        rate = (last["step"] - first["step"]) * args.batch * procs / max(t_last - t_first, 1e-9)
        print(
            f"train preset={args.preset} procs={procs} global_batch={args.batch * procs} "
            f"samples/s={rate:.0f}"
        )


if __name__ == "__main__":
    main()
