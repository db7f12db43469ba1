"""Fine-tuning, evaluation and cross-validation end to end on a tiny model and simulated
supernovae (no ../shared needed)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from maven.cli import main
from maven.errors import ConfigError, MavenError
from maven.evaluation.crossval import crossval, paired_differences
from maven.evaluation.evaluate import (
    evaluate,
    restrict_modality,
    truncate,
    write_evaluation,
)
from maven.models import MavenConfig, MavenModel, MavenProcessor
from maven.models.inference import predict
from maven.models.loading import from_pretrained
from maven.simulate import SimConfig, simulate
from maven.training.finetune import (
    FinetuneConfig,
    _epoch_batches,
    finetune,
    select_supernovae,
)


@pytest.fixture(scope="module")
def sims():
    return simulate(150, seed=21, config=SimConfig.preset("tiny"))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A saved tiny MavenModel + processor standing in for pre-trained weights."""
    path = tmp_path_factory.mktemp("pretrained")
    torch.manual_seed(0)
    MavenModel(MavenConfig.from_preset("tiny")).save_pretrained(path)
    MavenProcessor().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def classifier(sims, tmp_path_factory):
    out = tmp_path_factory.mktemp("clf")
    config = FinetuneConfig(preset="tiny", epochs=2, batch_size=32)
    model, processor, summary = finetune(config, sims, out, progress=False)
    return out, model, processor, summary


def test_finetune_writes_a_calibrated_model_that_reloads_exactly(classifier, sims):
    out, model, processor, summary = classifier
    assert {"config.json", "model.safetensors", "processor_config.json"} <= {
        p.name for p in out.iterdir()
    }
    assert summary["n_train"] + summary["n_val"] == len(sims)
    assert summary["best"]["epoch"] in (1, 2)
    z = [sn.redshift for sn in sims if sn.redshift is not None]
    low, high = summary["redshift_range"]  # read by maven classify's out-of-range rule
    assert low == 0.0 and min(z) < high <= max(z)
    t = summary["calibration"]["temperature"]
    assert json.loads((out / "config.json").read_text())["calibration_temperature"] == t
    again, proc = from_pretrained(out)
    a = predict(model, processor, sims[:20])
    b = predict(again, proc, sims[:20])
    np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=1e-6)
    assert np.allclose(a["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    # the calibrated probabilities are the softmax of logits / T
    bias = np.array(json.loads((out / "config.json").read_text())["logit_bias"], np.float32)
    p = torch.softmax(torch.from_numpy(a["logits"] + bias) / t, dim=-1).numpy()
    np.testing.assert_allclose(a["probabilities"], p, atol=1e-6)


def test_unknown_types_are_dropped_and_counted(sims):
    odd = [dataclasses.replace(sn, type="other") for sn in sims[:7]]
    untyped = [dataclasses.replace(sn, type=None, type_raw=None) for sn in sims[7:10]]
    config = FinetuneConfig(preset="tiny")
    kept, dropped = select_supernovae(odd + untyped + sims[10:], config)
    assert len(kept) == len(sims) - 10
    assert dropped == {"type other not in classes": 7, "no type": 3}
    only_ia = [sn for sn in sims if sn.type == "Ia"]
    with pytest.raises(MavenError, match="no training record of class"):
        finetune(config, only_ia, progress=False)


def test_linear_probe_leaves_the_encoder_untouched(pretrained, sims):
    config = FinetuneConfig(model=str(pretrained), mode="linear", epochs=3)
    model, _, _ = finetune(config, sims, progress=False)
    before = MavenModel.from_pretrained(pretrained).state_dict()
    after = model.maven.state_dict()
    for key, value in before.items():
        torch.testing.assert_close(after[key], value, msg=key)


def test_redshift_head_with_contrastive_stage(pretrained, sims):
    config = FinetuneConfig(
        model=str(pretrained),
        task="redshift",
        modality="both",
        epochs=1,
        contrastive_steps=3,
        batch_size=32,
        redshift_loss_beta=0.5,
    )
    model, processor, summary = finetune(config, sims, progress=False)
    assert model.config.redshift_loss_beta == 0.5  # the recipe's beta-NLL reaches the head
    from maven.evaluation.model_card import _recipe_specifics

    # the card names this head's settings, not a classifier's redshift input
    assert _recipe_specifics(summary["config"]) == "fusion `concat`, redshift loss beta 0.5"
    assert summary["calibration"]["redshift_sigma_scale"] == model.config.redshift_sigma_scale
    pred = predict(model, processor, sims[:16])
    assert (pred["redshift_sigma"] > 0).all() and (pred["redshift"] > -1).all()
    # the contrastive stage changed the towers
    before = MavenModel.from_pretrained(pretrained).state_dict()
    key = next(k for k in before if "photometry_model" in k and k.endswith("weight"))
    assert not torch.equal(before[key], model.maven.state_dict()[key])


@pytest.mark.parametrize(
    "bad",
    [
        {"task": "ranking"},
        {"mode": "linear"},  # a probe without a pre-trained model
        {"class_cap": 0},
        {"val_fraction": 0.7},
        {"classes": ["Ia"]},
        {"epochs": 0},
    ],
)
def test_bad_config_is_refused(bad):
    with pytest.raises(ConfigError):
        FinetuneConfig(preset="tiny", **bad)


def test_epoch_batches_cap_classes_and_sort_by_length(sims):
    config = FinetuneConfig(preset="tiny", batch_size=8, class_cap=10)
    batches = _epoch_batches(sims, config, epoch=0)
    idx = np.concatenate(batches)
    assert len(idx) == len(set(idx.tolist()))
    counts = {}
    for i in idx:
        counts[sims[i].type] = counts.get(sims[i].type, 0) + 1
    assert max(counts.values()) == 10
    lengths = [[len(sims[i].lightcurve.time) for i in b] for b in batches]
    assert all(b == sorted(b) for b in lengths)
    again = _epoch_batches(sims, config, epoch=1)
    assert not np.array_equal(np.concatenate(again), idx)  # a new subset each epoch


def test_truncate_and_restrict_modality(sims):
    sn = next(s for s in sims if s.spectra and s.lightcurve.detected.sum() > 3)
    lc = sn.lightcurve
    first = lc.time[lc.detected][0]
    cut = truncate(sn, 5.0)
    assert cut.lightcurve.time.max() <= first + 5.0
    assert len(cut.lightcurve.time) == int((lc.time <= first + 5.0).sum())
    assert all(s.mjd <= first + 5.0 for s in cut.spectra)
    nodet = dataclasses.replace(
        sn,
        lightcurve=dataclasses.replace(lc, detected=np.zeros(len(lc.time), bool)),
    )
    assert truncate(nodet, 5.0) is None
    phot = restrict_modality([sn], "photometry")[0]
    assert phot.spectra == [] and phot.lightcurve is not None
    spec = restrict_modality([sn], "spectrum")[0]
    assert spec.lightcurve is None and spec.spectra
    with pytest.raises(MavenError):
        restrict_modality([sn], "radio")


def test_evaluate_reports_early_classification_and_calibration(classifier, sims, tmp_path):
    _, model, processor, _ = classifier
    extra = [dataclasses.replace(sn, type="other") for sn in sims[:3]]
    metrics, preds = evaluate(model, processor, sims[:60] + extra, early_days=(0, 5))
    assert metrics["n"] == 60 and metrics["dropped"] == {"type other not in classes": 3}
    m = metrics["metrics"]
    assert 0 <= m["macro_f1"] <= 1 and "ece_uncalibrated" in m and "ece" in m
    assert [e["days"] for e in m["early"]] == [0, 5]
    assert set(metrics["bias_audit"]["groups"]) == {"redshift", "peak_mag", "catalogue"}
    paths = write_evaluation(metrics, preds, tmp_path)
    for name in ("json", "markdown", "confusion_matrix", "reliability", "early", "by_redshift"):
        assert paths[name].exists(), name
    assert "macro" in paths["markdown"].read_text().lower()
    import csv

    rows = list(csv.DictReader(paths["predictions"].open()))
    assert [r["id"] for r in rows] == list(preds["id"])
    labels = preds["labels"]
    assert [r["predicted"] for r in rows] == list(preds["predicted"])
    total = [sum(float(r[f"p_{c}"]) for c in labels) for r in rows]
    np.testing.assert_allclose(total, 1.0, atol=1e-5)


def test_crossval_runs_every_method_on_the_same_folds(pretrained, sims, classifier, tmp_path):
    config = FinetuneConfig(model=str(pretrained), epochs=1, batch_size=32)
    result = crossval(config, sims, tmp_path, n_folds=2, early_days=(5,), progress=False)
    assert set(result["methods"]) == {"maven", "scratch", "probe", "features"}
    for method, r in result["methods"].items():
        assert [f["fold"] for f in r["folds"]] == [0, 1]
        assert sum(f["n_test"] for f in r["folds"]) == len(sims), method
        assert "macro_f1" in r["mean_std"]
    table = (tmp_path / "crossval.md").read_text()
    assert "| probe |" in table and "imbalanced" not in table
    assert (tmp_path / "features" / "confusion_matrix.png").exists()
    with pytest.raises(ConfigError, match="need a pre-trained model"):
        crossval(FinetuneConfig(preset="tiny"), sims, tmp_path, methods=["scratch"])
    # the model card quotes these numbers
    from maven.evaluation.model_card import write_model_card

    card = write_model_card(classifier[0], [tmp_path], name="maven-test").read_text()
    maven_f1 = result["methods"]["maven"]["mean_std"]["macro_f1"]
    assert f"| maven | {maven_f1['mean']:.3f} ± {maven_f1['std']:.3f}" in card
    assert card.startswith("---\nlibrary_name: transformers") and "| SLSN-I |" in card
    # records given to finetune count as its training objects, simulated or not
    n_train = classifier[3]["n_train"]
    assert sum(classifier[3]["train_counts"].values()) == n_train
    assert f"observed supernovae: {n_train} training" in card and "Plus" not in card
    assert "redshift input True." in card and "redshift loss beta" not in card


def test_cli_finetune_then_evaluate(sims, tmp_path):
    from maven.io import write_dataset

    data = tmp_path / "sims"
    write_dataset(sims[:80], data)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("preset: tiny\nepochs: 1\nbatch_size: 32\n")
    out = tmp_path / "model"
    assert (
        main(
            [
                "finetune",
                "--config",
                str(recipe),
                "--data",
                str(data),
                "--output-dir",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    report = tmp_path / "report"
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(out),
                "--data",
                str(data),
                "--out",
                str(report),
                "--modality",
                "photometry",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads((report / "metrics.json").read_text())["n"] == 80
    # a folder that is not a fine-tuned model: a one-line error, exit status 2
    assert (
        main(["evaluate", "--model", str(tmp_path), "--data", str(data), "--out", str(report)]) == 2
    )


def test_class_weights_survive_from_pretrained(pretrained, sims):
    """Regression: the weights once lived in a non-persistent buffer, which from_pretrained
    left uninitialised (garbage, sometimes NaN losses)."""
    from maven.models import MavenForSupernovaClassification

    w = [1.0, 2.0, 3.0, 4.0, 5.0]
    model = MavenForSupernovaClassification.from_pretrained(pretrained, class_weights=w)
    batch = MavenProcessor()(sims[:16])
    labels = model.encode_labels([sn.type for sn in sims[:16]])
    out = model(**batch, labels=labels)
    expected = torch.nn.functional.cross_entropy(out.logits, labels, weight=torch.tensor(w))
    torch.testing.assert_close(out.loss, expected)


def test_heldout_class_novelty(sims, tmp_path):
    from maven.evaluation.novelty_eval import heldout_novelty, knn_novelty

    config = FinetuneConfig(preset="tiny", epochs=1, batch_size=32)
    out = heldout_novelty(config, sims, "SLSN-I", tmp_path, n_folds=3, progress=False)
    assert out["n_heldout"] == sum(sn.type == "SLSN-I" for sn in sims)
    assert {r["method"] for r in out["results"]} == {"knn", "max_softmax"}
    assert all(0 <= r["auroc"] <= 1 for r in out["results"])
    assert (tmp_path / "novelty_roc.png").exists()
    # the score itself: a copy of a reference vector scores 0, an orthogonal one 1
    ref = np.eye(4, dtype=np.float32)
    np.testing.assert_allclose(knn_novelty(ref[:1], ref, k=1), [0.0], atol=1e-6)
    q = np.array([[0, 0, 0, 0, 1]], np.float32)
    np.testing.assert_allclose(knn_novelty(q, np.eye(5)[:4], k=2), [1.0], atol=1e-6)
    with pytest.raises(ConfigError, match="not among"):
        heldout_novelty(config, sims, "TDE", tmp_path)


def test_embedding_novelty_of_simulated_classes(pretrained, sims):
    from maven.evaluation.novelty_eval import embedding_novelty

    model = MavenModel.from_pretrained(pretrained)
    processor = MavenProcessor.from_pretrained(pretrained)
    tde = simulate(12, seed=5, config=SimConfig.preset("tiny", classes=("TDE",)))
    out = embedding_novelty(model, processor, sims[:100], sims[100:], tde, k=3)
    assert out["n_reference"] == 100 and out["per_class"]["TDE"]["n"] == 12
    assert 0 <= out["overall"]["auroc"] <= 1
    # copies of reference objects are the least novel of all: AUROC far below 0.5
    dup = embedding_novelty(model, processor, sims[:100], sims[100:], sims[:20], k=1)
    assert dup["overall"]["auroc"] < 0.2
    both = embedding_novelty(model, processor, sims[:100], sims[100:], sims[:20], modality="both")
    assert both["n_reference"] == sum(
        sn.lightcurve is not None and bool(sn.spectra) for sn in sims[:100]
    )
    with pytest.raises(ConfigError, match="modality"):
        embedding_novelty(model, processor, sims[:100], sims[100:], tde, modality="radio")


def test_simulated_novelty_cli(pretrained, tmp_path):
    # TDE is a physics model: no template directory needed (Ia-91bg and KN read templates)
    args = ["novelty-sim", "--model", str(pretrained), "--out", str(tmp_path), "--json"]
    rc = main([*args, "--n-reference", "40", "--n-queries", "12", "--novel-classes", "TDE"])
    assert rc == 0
    out = json.loads((tmp_path / "simulated_novelty.json").read_text())
    assert set(out["results"]) == {"photometry", "spectrum", "both"}
    assert out["results"]["photometry"]["n_known"] == 12
    assert set(out["results"]["photometry"]["per_class"]) == {"TDE"}


def test_redshift_head_refuses_rest_frame_spectra(pretrained, sims):
    config = FinetuneConfig(
        model=str(pretrained), task="redshift", processor={"spectrum_frame": "rest"}
    )
    with pytest.raises(ConfigError, match="rest-frame"):
        finetune(config, sims, progress=False)


def test_augmented_rows_without_the_head_input_are_left_out():
    from maven.training.finetune import _with_input

    class Cfg:
        head_modality = "spectrum"

    class M:
        config = Cfg()

    batch = {
        "has_photometry": torch.tensor([True, True, True]),
        "has_spectrum": torch.tensor([True, False, True]),
        "spectrum_values": torch.arange(3.0),
    }
    kept, y = _with_input(M(), batch, torch.tensor([0, 1, 2]))
    assert y.tolist() == [0, 2] and kept["spectrum_values"].tolist() == [0.0, 2.0]
    none = {**batch, "has_spectrum": torch.tensor([False, False, False])}
    assert _with_input(M(), none, torch.tensor([0, 1, 2]))[1] is None


@pytest.fixture(scope="module")
def toy_two_classes():
    """Toy records of two classes told apart by their light-curve width, at varied redshifts."""
    from .toy import toy_supernovae

    out = []
    for i, sn in enumerate(toy_supernovae(48, seed=5)):
        kind = "II" if sn.meta["width"] > 22 else "Ia"
        out.append(dataclasses.replace(sn, type_raw=kind, type=kind, redshift=0.02 + 0.01 * i))
    return out


def test_finetune_with_light_curve_features_saves_and_reloads(toy_two_classes, tmp_path):
    import maven
    from maven.evaluation.features import FEATURE_NAMES, lightcurve_features
    from maven.training.finetune import _split

    config = FinetuneConfig(
        preset="tiny", classes=["Ia", "II"], epochs=1, batch_size=16, lightcurve_features=True
    )
    model, processor, _ = finetune(config, toy_two_classes, tmp_path, progress=False)
    n = len(FEATURE_NAMES)
    assert processor.lightcurve_features and model.config.head_extra_features == n
    assert model.feature_dim == 32 + 2 * n
    # the scaling: median and 1.4826 MAD of the training split's defined values
    train, _ = _split(toy_two_classes, config)
    feats = np.array([lightcurve_features(sn.lightcurve, sn.redshift) for sn in train])
    center, scale = np.array(model.config.extra_feature_center), model.config.extra_feature_scale
    j = FEATURE_NAMES.index("redshift")
    assert center[j] == pytest.approx(np.median(feats[:, j]), rel=1e-6)
    mad = 1.4826 * np.median(np.abs(feats[:, j] - np.median(feats[:, j])))
    assert scale[j] == pytest.approx(mad, rel=1e-5)
    undefined = ~np.isfinite(feats).any(axis=0)  # e.g. the UV bin of a g/r light curve
    assert undefined.any() and (center[undefined] == 0).all()
    assert min(scale) >= 1e-3 and np.isfinite(scale).all()
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["head_extra_features"] == n and len(saved["extra_feature_scale"]) == n
    again, proc = maven.from_pretrained(tmp_path)
    assert proc.lightcurve_features
    a = predict(model, processor, toy_two_classes[:12])
    b = predict(again, proc, toy_two_classes[:12])
    np.testing.assert_array_equal(a["logits"], b["logits"])
    assert a["embeddings"].shape == (12, 32 + 2 * n)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"mode": "linear", "model": "somewhere"}, "frozen probe"),
        ({"task": "redshift"}, "classification only"),
        ({"modality": "spectrum"}, "no light curve"),
        ({"use_redshift_input": False}, "carry the redshift"),
        ({"processor": {"lightcurve_features": True}}, "recipe key"),
        ({"lightcurve_features": "yes"}, "must be a bool"),
    ],
)
def test_light_curve_feature_recipes_refused(bad, match):
    with pytest.raises(ConfigError, match=match):
        FinetuneConfig(preset="tiny", **{"lightcurve_features": True, **bad})


def test_crossval_baselines_of_a_light_curve_feature_recipe(pretrained):
    from maven.evaluation.crossval import _method_config
    from maven.training.finetune import _build

    config = FinetuneConfig(model=str(pretrained), lightcurve_features=True)
    scratch = _method_config(config, "scratch")
    assert scratch.model is None and scratch.lightcurve_features
    model, processor = _build(scratch, None)
    assert processor.lightcurve_features and model.config.head_extra_features > 0
    probe = _method_config(config, "probe")  # the embedding-only figure stays in the table
    assert probe.mode == "linear" and not probe.lightcurve_features
    model, processor = _build(probe, None)
    assert not processor.lightcurve_features and model.config.head_extra_features == 0


def test_crossval_of_a_both_input_recipe_scores_each_input_and_resumes(
    pretrained, sims, tmp_path, monkeypatch
):
    records = [
        dataclasses.replace(sn, spectra=[]) if k % 3 == 0 else sn for k, sn in enumerate(sims)
    ]
    config = FinetuneConfig(model=str(pretrained), modality="both", epochs=1, batch_size=32)
    methods = ["maven", "features", "spectrum_knn"]
    first = crossval(
        config, records, tmp_path, n_folds=2, methods=methods, early_days=(5,), progress=False
    )
    rows = first["methods"]
    n_test = {name: sum(f["n_test"] for f in r["folds"]) for name, r in rows.items()}
    with_spectrum = sum(1 for sn in records if sn.spectra)
    assert n_test == {  # each baseline on the test objects that have its input
        "maven": len(records),
        "maven_photometry_only": len(records),
        "maven_spectrum_only": with_spectrum,
        "features": len(records),
        "spectrum_knn": with_spectrum,
    }
    assert (tmp_path / "maven_spectrum_only" / "predictions.csv").exists()
    # each baseline is paired fold by fold with the maven row on its own input
    pairs = {p["method"]: p for p in paired_differences(first)}
    assert {m: p["against"] for m, p in pairs.items()} == {
        "features": "maven_photometry_only",
        "spectrum_knn": "maven_spectrum_only",
    }
    f1 = [
        [f["metrics"]["macro_f1"] for f in rows[m]["folds"]]
        for m in ("maven_spectrum_only", "spectrum_knn")
    ]
    assert pairs["spectrum_knn"]["mean"] == pytest.approx(np.mean(np.subtract(*f1)))
    assert pairs["spectrum_knn"]["n_folds"] == 2
    assert "maven_spectrum_only - spectrum_knn: macro_f1" in (tmp_path / "crossval.md").read_text()
    saved = sorted(p.name for p in (tmp_path / "folds").iterdir())
    assert saved == sorted(f"fold-{k}-{m}.json" for k in (0, 1) for m in methods)

    def no_training(*args, **kwargs):
        raise AssertionError("a finished fold was trained again")

    monkeypatch.setattr("maven.training.finetune.finetune", no_training)
    again = crossval(
        config,
        records,
        tmp_path,
        n_folds=2,
        methods=methods,
        early_days=(5,),
        progress=False,
        resume=True,
    )
    for name, r in rows.items():
        assert again["methods"][name]["mean_std"] == r["mean_std"], name
    assert rows["maven_photometry_only"]["mean_std"]["early"][0]["days"] == 5
    # methods run apart into one folder are read back; a fold saved for another recipe
    # runs again
    apart = crossval(
        config,
        records,
        tmp_path,
        n_folds=2,
        methods=["maven"],
        early_days=(5,),
        progress=False,
        resume=True,
    )
    assert apart["methods"]["maven"]["mean_std"] == rows["maven"]["mean_std"]
    with pytest.raises(AssertionError, match="trained again"):
        crossval(
            dataclasses.replace(config, lr=0.1),
            records,
            tmp_path,
            n_folds=2,
            methods=["maven"],
            progress=False,
            resume=True,
        )


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"fusion": "max", "modality": "both"}, "fusion"),
        ({"fusion": "per_input"}, "modality"),
        ({"redshift_loss_beta": 0.5}, "task: redshift"),
        ({"redshift_loss_beta": 2.0, "task": "redshift"}, "redshift_loss_beta"),
    ],
)
def test_a_fusion_is_refused_where_it_cannot_apply(settings, match):
    with pytest.raises(ConfigError, match=match):
        FinetuneConfig(**settings)


@pytest.mark.parametrize("mode", ["full", "linear"])
def test_a_per_input_head_trains_on_each_input_set(pretrained, sims, tmp_path, monkeypatch, mode):
    from maven.models.modeling_heads import MavenHeadModel

    seen = []
    views = MavenHeadModel.input_views

    def spy(self, features):
        out = views(self, features)
        seen.append((len(features), len(out[1])))
        return out

    monkeypatch.setattr(MavenHeadModel, "input_views", spy)
    config = FinetuneConfig(
        model=str(pretrained), modality="both", mode=mode, fusion="per_input", epochs=1
    )
    model, processor, summary = finetune(config, sims, tmp_path, progress=False)
    assert summary["config"]["fusion"] == "per_input"
    both = sum(sn.lightcurve is not None and bool(sn.spectra) for sn in sims)
    assert both > 50 and seen and all(n < m <= 3 * n for n, m in seen)  # views were trained
    # the epoch is chosen on every input set the head serves, equally weighted
    best = summary["best"]
    per_view = [best[f"val_macro_f1_{v}"] for v in ("both", "photometry", "spectrum")]
    assert best["val_macro_f1"] == pytest.approx(np.mean(per_view))
    again, _ = from_pretrained(tmp_path)
    assert again.config.head_fusion == "per_input"
    light_curve_only = [dataclasses.replace(sn, spectra=[]) for sn in sims[:10]]
    out = predict(again, processor, light_curve_only)
    assert out["embeddings"].shape[1] == 4 * again.config.projection_dim
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, atol=1e-5)
