"""kill -9 a ``maven pretrain`` at random moments and resume it; compare with an uninterrupted run.

    .venv/bin/python benchmarks/kill_resume.py --runs 12 [--threads-mismatch]

One uninterrupted run of the test recipe (tiny model, 8 steps, a checkpoint every 2), then
``--runs`` runs killed at a random moment (after a random checkpoint, within about two steps:
during a step, an evaluation or a checkpoint save) and resumed with ``--resume``. Prints, per
run, the step resumed from and the largest weight difference to the uninterrupted run (0.0:
bit-exact).
``--threads-mismatch`` resumes with one torch thread instead of the default, to show the one
known cause of a difference (CPU kernels sum in another order).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _cli(config: Path, out: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "maven", "pretrain", "--config", str(config), "--output-dir",
         str(out), *extra],
        cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads-mismatch", action="store_true")
    args = parser.parse_args(argv)

    import torch
    import yaml
    from safetensors.torch import load_file

    from maven.io import write_dataset
    from tests.toy import toy_supernovae

    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="maven-kill-resume-"))
    write_dataset(toy_supernovae(48, seed=1), root / "toy")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(dict(
        model={"preset": "tiny"}, data={"train": str(root / "toy"), "val": str(root / "toy")},
        batch_size=8, max_steps=8, lr=2e-3, warmup_steps=1, log_every=1, eval_every=4,
        save_every=2, cpu=True, augment=True, seed=3,
    )))  # fmt: skip
    start = time.time()
    full = _cli(config, root / "full")
    assert full.wait() == 0, full.stdout.read()
    step_s = (time.time() - start) / 8  # an upper bound of one step (start-up included)
    reference = load_file(root / "full" / "model" / "model.safetensors")
    results = []
    for run in range(args.runs):
        out = root / f"run{run}"
        p = _cli(config, out)
        after = out / "checkpoints" / f"step-{rng.choice([2, 4, 6]):06d}"
        while not after.exists() and p.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 2 * step_s))
        p.send_signal(signal.SIGKILL)
        p.wait()
        env = {"OMP_NUM_THREADS": "1"} if args.threads_mismatch else None
        resumed = _cli(config, out, "--resume", env=env)
        said = resumed.communicate()[0]
        if resumed.returncode != 0:
            results.append({"run": run, "error": said[-500:]})
            continue
        m = re.search(r"step-(\d+) at step", said)
        weights = load_file(out / "model" / "model.safetensors")
        diff = max(float((reference[k] - weights[k]).abs().max()) for k in reference)
        results.append({"run": run, "resumed_at": int(m.group(1)) if m else None, "diff": diff})
        print(json.dumps(results[-1]), flush=True)
    exact = sum(r.get("diff") == 0.0 for r in results)
    print(json.dumps({"runs": args.runs, "bit_exact": exact, "torch": torch.__version__}))
    return 0 if exact == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
