"""torch vs onnxruntime throughput of a saved model: ``python benchmarks/bench_onnx.py``.

Exports ``--model`` (default the shipped ``weights/maven-base``) with ``maven export onnx``
into a temporary folder (or uses ``--onnx``), processes simulated objects (tiny preset: a
light curve and, for most, a spectrum) once per batch size, then times the model's forward
pass on the same batch in torch (``inference_mode``) and in onnxruntime
(:class:`maven.export.onnx_runtime.OnnxModel`), both limited to ``--threads`` threads.
Prints one line per batch size::

    batch=64 torch=.. obj/s onnxruntime=.. obj/s onnxruntime/torch=.. max|diff|=..

The processor is not timed (it is the same numpy code for both). Each figure is the best of
``--repeats`` timings of at least ``--seconds`` each: on a shared machine the best run is the
least disturbed one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import maven
from maven.export.onnx import export_onnx
from maven.export.onnx_runtime import OnnxModel
from maven.simulate import SimConfig, simulate

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "maven-base"


def rate(fn, n_objects: int, seconds: float, repeats: int) -> float:
    """Objects per second of ``fn()`` (best of ``repeats`` runs of >= ``seconds``)."""
    fn()  # warm-up
    best = 0.0
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds or calls == 0:
            fn()
            calls += 1
        best = max(best, calls * n_objects / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(WEIGHTS), help="saved model folder")
    parser.add_argument("--onnx", default=None, help="an existing export of --model")
    parser.add_argument("--batch-sizes", default="1,8,64,256")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    torch.set_num_threads(args.threads)
    model, processor = maven.from_pretrained(args.model)
    sne = simulate(max(sizes), seed=1, config=SimConfig.preset("tiny"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.onnx or Path(tmp) / "onnx")
        if args.onnx is None:
            export_onnx(args.model, folder)
        runner = OnnxModel(folder, threads=args.threads)
        key = {"classification": "logits", "redshift": "redshift_mean"}.get(
            runner.task, "photometry_embeds"
        )
        print(
            f"{Path(args.model).name} ({type(model).__name__}), {args.threads} threads, "
            f"torch {torch.__version__}"
        )
        for b in sizes:
            batch = processor(sne[:b])
            arrays = {k: v.numpy() for k, v in batch.items()}

            def run_torch(batch=batch):
                with torch.inference_mode():
                    return model(**batch)

            ref = run_torch()
            ref = getattr(ref, key)
            diff = float(np.abs(runner(arrays)[key] - ref.numpy()).max())
            t = rate(run_torch, b, args.seconds, args.repeats)
            o = rate(lambda arrays=arrays: runner(arrays), b, args.seconds, args.repeats)
            print(
                f"batch={b} torch={t:.1f} obj/s onnxruntime={o:.1f} obj/s "
                f"onnxruntime/torch={o / t:.2f} max|diff|={diff:.1e}"
            )


if __name__ == "__main__":
    main()
