"""Deterministic per-step batches: step ``s`` on rank ``r`` always gets the same objects and the
same augmentation, so a resumed run continues exactly and no data-loader state is saved.

Three sources:

* :class:`RecordSource`: a maven parquet dataset (memory-mapped through Hugging Face
  ``datasets``), reshuffled every epoch (:func:`epoch_items`).
* :class:`~maven.training.shards.ShardSource`: the same order over a pre-tokenised shard set
  (``maven pretokenize``): arrays, no processing at training time.
* :class:`SimulatedSource`: supernovae simulated on the fly; batch ``s`` of rank ``r`` is
  simulator shard ``s * world + r`` of the run's seed: an endless, never-repeating stream.

Every batch carries the simulation truth as ``target_*`` arrays
(:func:`maven.training.objectives.record_targets`) beside the processor's tensors.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import torch

from maven.data.records import Supernova
from maven.errors import MavenError
from maven.training.objectives import record_targets

__all__ = [
    "RecordSource",
    "SimulatedSource",
    "StepBatches",
    "epoch_items",
    "has_pair",
    "sim_config",
]


def has_pair(sn: Supernova) -> bool:
    """True when a supernova has both a light curve and a spectrum (a contrastive pair)."""
    return sn.lightcurve is not None and bool(sn.spectra)


def epoch_items(n: int, step: int, rank: int, world: int, batch_size: int, seed: int) -> list:
    """``(epoch, index)`` of the objects of micro-step ``step`` on ``rank``: the global stream
    walks a fresh permutation of the ``n`` objects every epoch (seeded ``[seed, epoch]``)."""
    start = step * batch_size * world + rank * batch_size
    out, perm_epoch, perm = [], None, None
    for k in range(start, start + batch_size):
        epoch, pos = divmod(k, n)
        if epoch != perm_epoch:
            perm_epoch, perm = epoch, _permutation(n, seed, epoch)
        out.append((epoch, int(perm[pos])))
    return out


@functools.lru_cache(maxsize=2)
def _permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


class RecordSource:
    """Paired supernovae of a parquet dataset, addressed by index."""

    def __init__(self, path: str | Path):
        from maven.io.dataset import load_dataset

        ds = load_dataset(path)
        # decide on the arrow columns: no light curve or spectrum is copied into Python
        table = ds.data
        n_spectra = pc.fill_null(pc.list_value_length(table.column("spectra")), 0)
        pair = pc.and_(pc.is_valid(table.column("lc_time")), pc.greater(n_spectra, 0))
        keep = np.flatnonzero(pair.to_numpy(zero_copy_only=False))
        if keep.size == 0:
            raise MavenError(f"{path}: no supernova has both a light curve and a spectrum")
        self.dataset = ds.select(keep)

    def __len__(self) -> int:
        return len(self.dataset)

    def batch(self, step: int, rank: int, world: int, batch_size: int, seed: int) -> list:
        """The records of micro-step ``step`` on ``rank``."""
        from maven.io.dataset import row_to_supernova

        items = epoch_items(len(self), step, rank, world, batch_size, seed)
        return [row_to_supernova(self.dataset[i]) for _, i in items]


def sim_config(survey: str, options: dict):
    """A :class:`maven.simulate.SimConfig` from ``{"preset": name, **overrides}``."""
    from maven.simulate import SimConfig

    options = dict(options)
    return SimConfig.preset(options.pop("preset", "default"), survey=survey, **options)


class SimulatedSource:
    """Supernovae simulated on the fly (:func:`maven.simulate.simulate`)."""

    def __init__(self, survey: str, **options):
        self.config = sim_config(survey, options)

    def batch(self, step: int, rank: int, world: int, batch_size: int, seed: int) -> list:
        """``batch_size`` light curve + spectrum pairs simulated for micro-step ``step`` of
        ``rank`` (shard ``step * world + rank``, so ranks and steps never repeat an object)."""
        from maven.simulate import simulate

        sne = simulate(batch_size, seed=seed, shard=step * world + rank, config=self.config)
        if len(sne) != batch_size or not all(has_pair(sn) for sn in sne):
            raise MavenError("the simulator must return batch_size light curve + spectrum pairs")
        return sne


class StepBatches(torch.utils.data.Dataset):
    """Item ``i`` is the processed batch of micro-step ``start + i`` for this rank, with its
    ``target_*`` truth; a source returns records (processed here) or collated arrays.

    Use with ``DataLoader(batch_size=None)``; workers then build batches in parallel.
    """

    def __init__(
        self,
        source,
        processor,
        *,
        batch_size: int,
        rank: int,
        world: int,
        seed: int,
        start: int,
        stop: int,
        augment: bool,
    ):
        self.source, self.processor = source, processor
        self.batch_size, self.rank, self.world, self.seed = batch_size, rank, world, seed
        self.start, self.stop, self.augment = start, stop, augment

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __getitem__(self, i: int) -> dict:
        step = self.start + i
        got = self.source.batch(step, self.rank, self.world, self.batch_size, self.seed)
        if isinstance(got, dict):  # pre-tokenised: arrays with their targets
            return {k: torch.from_numpy(v) for k, v in got.items()}
        rng = np.random.default_rng([self.seed, step, self.rank, 7]) if self.augment else None
        out = dict(self.processor(got, augment=rng))
        return {**out, **{k: torch.from_numpy(v) for k, v in record_targets(got).items()}}
