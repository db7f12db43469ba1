"""Light-curve embedding throughput on CPU: ``python benchmarks/bench_inference.py``.

Builds synthetic ZTF-like light curves (20-100 points in g/r/i, seeded), runs the processor
once, then times ``MavenModel.get_photometry_features`` (untrained weights; speed does not
depend on them) under ``torch.inference_mode``. Prints ``light curves/s: N`` for the model
on batches in random length order (the headline), the same for batches sorted by length
(what bulk embedding should do: less padding) and, separately, the processor's rate.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from maven.data.records import LightCurve
from maven.models import MavenConfig, MavenModel, MavenProcessor


def synthetic_lightcurves(n: int, seed: int = 0) -> list[LightCurve]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(20, 101))
        t = np.sort(rng.uniform(59000, 59120, k))
        band = rng.choice(["ztf::g", "ztf::r", "ztf::i"], k)
        peak, width = rng.uniform(59020, 59060), rng.uniform(5, 30)
        flux = 500 * np.exp(-0.5 * ((t - peak) / width) ** 2)
        err = np.full(k, 10.0)
        out.append(LightCurve(t, band, flux + rng.normal(0, 10, k), err, flux > 30))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="base")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = MavenModel(MavenConfig.from_preset(args.preset)).eval()
    n_params = sum(p.numel() for p in model.parameters())
    processor = MavenProcessor()
    lcs = synthetic_lightcurves(args.batch_size * args.batches)
    t0 = time.perf_counter()
    batches = _batches(processor, lcs, args.batch_size)
    t_proc = time.perf_counter() - t0
    # bulk embedding: batches of similar length waste less compute on padding
    by_length = _batches(processor, sorted(lcs, key=len), args.batch_size)
    t_model = _time_model(model, batches)
    t_sorted = _time_model(model, by_length)
    print(
        f"preset {args.preset} ({n_params:,} parameters), batch {args.batch_size}, "
        f"{args.threads} threads, mean {np.mean([len(x) for x in lcs]):.0f} points"
    )
    print(f"processor light curves/s: {len(lcs) / t_proc:.0f}")
    print(f"light curves/s (batches sorted by length): {len(lcs) / t_sorted:.0f}")
    print(f"light curves/s: {len(lcs) / t_model:.0f}")


def _batches(processor: MavenProcessor, lcs: list[LightCurve], size: int) -> list:
    return [processor(lightcurves=lcs[i : i + size]) for i in range(0, len(lcs), size)]


def _time_model(model: MavenModel, batches: list, repeats: int = 3) -> float:
    """Best of ``repeats`` passes over ``batches`` (seconds): robust to a busy machine."""
    best = float("inf")
    with torch.inference_mode():
        model.get_photometry_features(**batches[0])  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            for batch in batches:
                model.get_photometry_features(**batch)
            best = min(best, time.perf_counter() - t0)
    return best


if __name__ == "__main__":
    main()
