"""Simulated data sets on disk: one shard per task (:func:`simulate_shard`, for cluster job
arrays), the manifest (:func:`write_manifest`), and both in parallel (:func:`simulate_dataset`).
Each shard is :func:`maven.simulate.simulator.simulate` of its ``(seed, shard)``."""

from __future__ import annotations

import logging
import math
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

from maven.errors import ConfigError, FormatError, MavenError
from maven.simulate.config import SimConfig
from maven.simulate.simulator import provenance, simulate
from maven.simulate.templates import find_template_dir

__all__ = ["simulate_dataset", "simulate_shard", "write_manifest"]


def simulate_shard(
    out_dir, n: int, *, seed: int = 0, shard: int = 0, config: SimConfig | None = None
) -> dict:
    """Simulate one shard, ``simulate(n, seed=seed, shard=shard)``, into
    ``out_dir/shard-{shard:05d}-00000.parquet`` (one task of a cluster job array; finish with
    :func:`write_manifest`). Returns ``{"shard", "n", "counts", "draws"}``."""
    from maven.io.dataset import write_dataset

    config = config or SimConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sne = simulate(n, seed=seed, shard=shard, config=config)
    tmp = out / f".tmp-shard-{shard:05d}"
    if tmp.exists():
        shutil.rmtree(tmp)
    write_dataset(sne, tmp, shard_size=max(n, 1), prefix=f"shard-{shard:05d}")
    for f in tmp.glob("*.parquet"):
        f.replace(out / f.name)
    shutil.rmtree(tmp)
    counts: dict[str, int] = {}
    for sn in sne:
        counts[sn.type] = counts.get(sn.type, 0) + 1
    draws = max((sn.meta["draw_index"] for sn in sne), default=0)
    return {"shard": shard, "n": len(sne), "counts": counts, "draws": int(draws)}


def write_manifest(
    out_dir, *, config: SimConfig | None = None, seed: int = 0, prov: dict | None = None
) -> Path:
    """Write the dataset manifest of a folder of simulator shards (counts per type, each
    shard's bytes, sha256 and rows: :func:`maven.io.dataset.write_manifest`; provenance
    ``prov`` or :func:`provenance` of ``config``). Returns its path."""
    from maven.io.dataset import write_manifest as write_dataset_manifest

    out = Path(out_dir)
    if not any(out.glob("shard-*.parquet")):
        raise FormatError(f"{out}: no simulator shards (shard-*.parquet)")
    return write_dataset_manifest(
        out, provenance=prov if prov is not None else provenance(config or SimConfig(), seed)
    )


def _quiet_worker() -> None:
    """A spawned worker does not repeat the parent's warnings about template sources."""
    logging.getLogger(find_template_dir.__module__).setLevel(logging.ERROR)


def _run_shard(args: tuple) -> dict:
    out_dir, n, seed, shard, cfg = args
    config = SimConfig.from_dict(cfg)
    res = simulate_shard(out_dir, n, seed=seed, shard=shard, config=config)
    res["provenance"] = provenance(config, seed) if shard == 0 else None  # set-up is cached
    return res


def simulate_dataset(
    out_dir,
    n: int,
    *,
    survey: str | None = None,
    seed: int = 0,
    workers: int = 1,
    shard_size: int = 1000,
    config: SimConfig | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Simulate ``n`` objects into a maven parquet dataset at ``out_dir``.

    Shard ``k`` holds ``simulate(shard_size, seed=seed, shard=k)`` (the last one fewer), so any
    shard can be regenerated alone (e.g. as one task of a cluster job array). Shards run in
    ``workers`` spawned processes. Returns the folder.
    """
    from tqdm.auto import tqdm

    if n < 1 or shard_size < 1 or workers < 1:
        raise ConfigError("n, shard_size and workers must be >= 1")
    config = config or SimConfig()
    if survey is not None:
        config = replace(config, survey=survey)
    if config.use_templates:  # checked (and the no-template-dir warning given) once, here
        find_template_dir(config.template_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    existing = sorted(out.glob("shard-*.parquet"))
    if existing and not overwrite:
        raise MavenError(f"{out} already holds {len(existing)} shards (overwrite=True?)")
    for f in existing:
        f.unlink()
    n_shards = math.ceil(n / shard_size)
    jobs = [
        (str(out), min(shard_size, n - k * shard_size), seed, k, config.to_dict())
        for k in range(n_shards)
    ]
    results = []
    bar = tqdm(total=n, desc=f"simulate {config.survey}", unit="SN", disable=not progress)
    if workers == 1:
        for job in jobs:
            results.append(_run_shard(job))
            bar.update(results[-1]["n"])
    else:
        with ProcessPoolExecutor(
            workers, mp_context=get_context("spawn"), initializer=_quiet_worker
        ) as ex:
            futs = [ex.submit(_run_shard, job) for job in jobs]
            for fut in as_completed(futs):
                results.append(fut.result())
                bar.update(results[-1]["n"])
    bar.close()
    prov = next(r["provenance"] for r in results if r["shard"] == 0)
    write_manifest(out, config=config, seed=seed, prov=prov)
    return out
