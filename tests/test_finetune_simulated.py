"""Fine-tuning with a simulated supplement: simulations train, never validate or calibrate."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from maven.errors import ConfigError
from maven.io import write_dataset
from maven.simulate import SimConfig, simulate
from maven.training.finetune import FinetuneConfig, _epoch_batches, finetune


def _as_real(records):
    return [dataclasses.replace(sn, meta={}, id=f"real-{sn.id}") for sn in records]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sims")
    write_dataset(simulate(80, seed=3, config=SimConfig.preset("tiny")), folder / "sim")
    real = _as_real(simulate(60, seed=4, config=SimConfig.preset("tiny")))
    return folder / "sim", real


def test_simulations_join_training_only(data, tmp_path):
    sim, real = data
    real = [dataclasses.replace(sn, redshift=0.01) for sn in real]  # simulations reach z > 0.1
    config = FinetuneConfig(
        preset="tiny", epochs=1, batch_size=32, simulated=str(sim), simulated_max=50, class_cap=20
    )
    _, _, summary = finetune(config, real, tmp_path / "m", progress=False)
    assert summary["redshift_range"] == [0.0, 0.01]  # the OOD range is the observed one
    assert sum(summary["simulated_counts"].values()) == 50
    assert sum(summary["train_counts"].values()) == summary["n_train"] - 50
    assert summary["n_train"] + summary["n_val"] == len(real) + 50  # validation is real only
    assert sum(summary["val_counts"].values()) == summary["n_val"]
    from maven.evaluation.model_card import write_model_card

    card = write_model_card(tmp_path / "m").read_text()  # observed and simulated apart
    n_real = summary["n_train"] - 50
    assert f"observed supernovae: {n_real} training" in card
    assert "Plus 50 simulated objects in the training split only" in card


def test_epochs_take_real_records_before_simulated_ones(data):
    sim, real = data
    from maven.io import read_dataset

    train = real + read_dataset(sim)
    config = FinetuneConfig(preset="tiny", simulated=str(sim), class_cap=5)
    picked = np.concatenate(_epoch_batches(train, config, 0))
    for cls in {sn.type for sn in train}:
        n_real = sum(sn.type == cls for sn in real)
        chosen = [train[i] for i in picked if train[i].type == cls]
        assert len(chosen) == min(5, sum(sn.type == cls for sn in train))
        # simulations appear only where the class has fewer real records than the cap
        n_sim = sum(bool(sn.meta.get("simulated")) for sn in chosen)
        assert n_sim == max(0, len(chosen) - n_real)


def test_a_simulated_folder_must_hold_simulations(data, tmp_path):
    _, real = data
    write_dataset(real[:10], tmp_path / "notsim")
    config = FinetuneConfig(preset="tiny", epochs=1, simulated=str(tmp_path / "notsim"))
    with pytest.raises(ConfigError, match="holds a real record"):
        finetune(config, real, progress=False)
    with pytest.raises(ConfigError, match="simulated_max"):
        FinetuneConfig(simulated=str(tmp_path / "notsim"), simulated_max=0)


def test_crossval_features_sim_trains_the_trees_on_the_simulations_too(data, tmp_path):
    from maven.evaluation.crossval import crossval

    sim, real = data
    config = FinetuneConfig(preset="tiny", simulated=str(sim))
    methods = ("features", "features_sim")
    result = crossval(config, real, tmp_path, n_folds=2, methods=methods, progress=False)
    assert set(result["methods"]) == set(methods)
    a, b = (result["methods"][m]["folds"] for m in methods)
    assert [f["n_test"] for f in a] == [f["n_test"] for f in b]  # the same real test folds
    # without a simulated folder the baseline is not run
    plain = FinetuneConfig(preset="tiny")
    result = crossval(plain, real, tmp_path / "p", n_folds=2, methods=methods, progress=False)
    assert set(result["methods"]) == {"features"}
