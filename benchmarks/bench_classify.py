"""End-to-end ``maven classify`` throughput: ``python benchmarks/bench_classify.py``.

Light-curve-only, unlabelled simulated objects (``maven.simulate``, ``tiny`` preset: ZTF and
Rubin alert photometry, i.e. detections, and Rubin forced photometry, every visit, as in a
Rubin alert's forced-source history), written once as maven parquet datasets under
``--data-dir`` (reused by later runs), are classified by ``weights/maven-base`` with its
reference index, on ``--threads`` torch and FAISS threads.

Prints, per survey, objects/s of each stage timed on its own over the first ``--stage-n``
records (read, input checks, tokens = the processor on length-sorted batches, towers = the
light-curve tower, heads = towers + classification head via ``predict_batch``, novelty,
neighbours), what the spectrum tower would have added had it run on these light-curve-only
batches (it is skipped), and end to end over all records
(``maven.classifier.write_classification`` to a parquet table: read -> tokens -> towers ->
heads -> novelty -> neighbours -> table) without the one-off set-up (model and index loading,
printed apart). Each figure is wall time and, in brackets, objects per CPU-second of this
process: on a busy shared machine the second still measures the code (with more than one
thread, run with ``OMP_WAIT_POLICY=PASSIVE``, or threads waiting for a descheduled sibling
spin and inflate the CPU time; an idle machine is faster with the default).

Measured on this project's 2-core machine with ``weights/maven-base`` (``MAVEN_TEMPLATE_DIR=...
python benchmarks/bench_classify.py --threads 2 --stage-n 512``, 5000 objects per input), end
to end in objects/s wall (per CPU-second):

=========================================  ============  ============  ==========
input                                      idle machine  busy machine  target
=========================================  ============  ============  ==========
ZTF alerts (13 points)                     1597 (1057)   158 (1036)    >= 1000
Rubin alerts, detections (12-13 points)    1749 (1149)   169 (1064)    >= 1000
Rubin forced photometry (72-75 points)     654 (403)     61 (381)      --
=========================================  ============  ============  ==========

(idle: nothing else running, 53 s in all; busy: 2026-12-03 beside training,
load 7-11.) The towers are 95 % of the CPU time (heads stage 993 / 1304 / 369 per CPU-s;
reading, tokens, novelty and neighbours 4400-200000), so throughput follows light-curve
length: alert-like inputs pass the 1000 objects/s target on two cores, forced photometry's
six times longer light curves do not.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

#: name -> (label, simulator settings)
SURVEYS = {
    "ztf": ("ZTF alerts", {"survey": "ztf", "photometry": "alert"}),
    "lsst-alert": ("Rubin alerts (detections)", {"survey": "lsst", "photometry": "alert"}),
    "lsst": ("Rubin forced photometry", {"survey": "lsst", "photometry": "forced"}),
}


def _dataset(folder: Path, survey: str, n: int) -> Path:
    """A light-curve-only, unlabelled simulated dataset of ``n`` objects (cached)."""
    from maven.io import is_dataset, write_dataset
    from maven.simulate import SimConfig, simulate

    out = folder / f"{survey}-{n}"
    if is_dataset(out):
        return out
    sne = []
    config = SimConfig.preset("tiny", **SURVEYS[survey][1])
    for shard in range(0, n, 1000):
        sims = simulate(min(1000, n - shard), seed=7, shard=shard, config=config)
        sne += [dataclasses.replace(s, spectra=[], type_raw=None, type=None) for s in sims]
    write_dataset(sne, out, overwrite=True)
    return out


class _Clock:
    """Wall and process CPU seconds of a block."""

    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.w
        self.cpu = time.process_time() - self.c


def _line(name: str, n: int, clock: _Clock) -> None:
    print(f"  {name:<11} {n / clock.wall:8.0f} obj/s  ({n / max(clock.cpu, 1e-9):7.0f} per CPU-s)")


def bench(data: Path, label: str, model_dir: Path, out_dir: Path, stage_n: int) -> None:
    from maven.classifier import iter_record_chunks, write_classification
    from maven.models.inference import predict_batch
    from maven.models.input_checks import input_warnings
    from maven.models.loading import from_pretrained
    from maven.search import EmbeddingIndex, model_hash, novelty_scores

    def load():
        model, processor = from_pretrained(model_dir)
        index = EmbeddingIndex.load(model_dir / "reference", model_hash=model_hash(model_dir))
        return model, processor, index

    with _Clock() as setup:
        model, processor, index = load()
    with _Clock() as read:
        sne = next(iter_record_chunks(data, stage_n))
    n = len(sne)
    mean = np.mean([len(sn.lightcurve) for sn in sne])
    print(f"{label}: light curves of {mean:.0f} points on average; set-up {setup.wall:.1f} s")
    print(f" stages, on the first {n} objects:")
    _line("read", n, read)
    with _Clock() as checks:
        input_warnings(sne, processor)
    _line("checks", n, checks)
    sne = sorted(sne, key=lambda sn: len(sn.lightcurve))
    with _Clock() as tokens:
        batches = [(sne[i : i + 128], processor(sne[i : i + 128])) for i in range(0, n, 128)]
    _line("tokens", n, tokens)
    with torch.inference_mode():
        predict_batch(model, batches[-1][1], batches[-1][0])  # warm-up
        with _Clock() as towers:
            for _, b in batches:
                model.maven.get_photometry_features(**b)
        _line("towers", n, towers)
        with _Clock() as heads:
            outs = [predict_batch(model, b, recs, towers=True) for recs, b in batches]
        _line("heads", n, heads)
        with _Clock() as spectrum:
            for _, b in batches:
                model.maven.get_spectrum_features(**b)
    vectors = np.concatenate([o["photometry_embeds"] for o in outs])
    k = index.calibration["photometry"]["k"]
    with _Clock() as novelty:
        novelty_scores(index, vectors, modality="photometry", k=k)
    _line("novelty", n, novelty)
    with _Clock() as neighbours:
        index.search(vectors, 5, modality="photometry")
    _line("neighbours", n, neighbours)
    print(f"  (the skipped spectrum tower would have added {spectrum.wall / heads.wall:.0%})")
    out = out_dir / f"{data.name}.parquet"
    with _Clock() as again:  # what the run below spends on loading (warm): left out
        load()
    with _Clock() as e2e:
        summary = write_classification(data, out, model=model_dir, progress=False)
    e2e.wall -= again.wall
    e2e.cpu -= again.cpu
    print(f" end to end, all {summary['n']} objects (read -> ... -> parquet table):")
    _line("classify", summary["n"], e2e)
    print(
        f"  {summary['ood']} of {summary['n']} flagged out of distribution: {summary['ood_rules']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="objects per survey")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stage-n", type=int, default=1024, help="objects of the stage timings")
    parser.add_argument("--surveys", default=",".join(SURVEYS), help=f"of {list(SURVEYS)}")
    parser.add_argument("--model", type=Path, default=None, help="default: weights/maven-base")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "maven-bench-classify"
    )
    args = parser.parse_args()
    import faiss

    from maven.classifier import DEFAULT_MODEL

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    model_dir = args.model or DEFAULT_MODEL
    print(f"model {model_dir}, {args.threads} threads, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        for survey in args.surveys.split(","):
            data = _dataset(args.data_dir, survey, args.n)
            bench(data, SURVEYS[survey][0], model_dir, Path(tmp), args.stage_n)


if __name__ == "__main__":
    main()
