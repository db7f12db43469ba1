"""The synthetic supernova simulator: triggered survey light curves and follow-up spectra.

``simulate(n, survey="ztf", seed=0, shard=0)`` returns triggered :class:`~maven.Supernova`
records (light curve + spectra, truth in ``meta``); ``simulate_dataset(out_dir, n, ...)``
writes parquet shards in parallel. See :mod:`maven.simulate.simulator` for the recipe,
:mod:`~maven.simulate.templates` for the template directory and held-out ids,
:mod:`~maven.simulate.population` for the literature distributions,
:mod:`~maven.simulate.survey` for cadences and noise, :mod:`~maven.simulate.spectra` for
spectra and :mod:`~maven.simulate.physics` for the physics models.

Example::

    from maven.simulate import SimConfig, simulate, simulate_dataset
    sne = simulate(100, survey="ztf", seed=0, shard=0)           # list[Supernova]
    tiny = simulate(20, config=SimConfig.preset("tiny"))           # runs on a fresh clone
    simulate_dataset("sim/ztf", 100_000, survey="ztf", seed=1, workers=8, shard_size=5000)

``survey="followup"``: follow-up photometry from many telescopes shaped like the real
development set (:mod:`maven.simulate.followup`)::

    fu = simulate(100, config=SimConfig(survey="followup"), seed=2)

Novel classes for novelty evaluation, never simulated unless listed (:data:`NOVEL_CLASSES`):
``"TDE"`` (physics: hot power-law-declining blackbody), ``"KN"`` (Kasen+17 models of the
template directory, else a physics kilonova) and ``"Ia-91bg"`` (the Nugent 91bg template;
:class:`~maven.errors.ConfigError` without it)::

    novel = simulate(50, config=SimConfig(classes=("TDE", "KN", "Ia-91bg")))

Cluster job arrays: task ``k`` runs ``simulate_shard(out, n, seed=s, shard=k, config=c)``;
one final ``write_manifest(out, config=c, seed=s)``.
"""

from maven.data.types import DEFAULT_CLASSES
from maven.simulate.config import PRESETS, SimConfig
from maven.simulate.dataset import simulate_dataset, simulate_shard, write_manifest
from maven.simulate.grid import HELDOUT, NOVEL_CLASSES
from maven.simulate.library import TemplateLibrary, get_library
from maven.simulate.simulator import provenance, simulate
from maven.simulate.sources import ObjectModel, ObjectParams, to_sncosmo_model
from maven.simulate.templates import find_template_dir

__all__ = [
    "DEFAULT_CLASSES",
    "HELDOUT",
    "NOVEL_CLASSES",
    "PRESETS",
    "ObjectModel",
    "ObjectParams",
    "SimConfig",
    "TemplateLibrary",
    "find_template_dir",
    "get_library",
    "provenance",
    "simulate",
    "simulate_dataset",
    "simulate_shard",
    "to_sncosmo_model",
    "write_manifest",
]
