"""maven.classify / maven classify: unlabelled data -> a table keyed by id (calibrated
probabilities, novelty, OOD flag and reason, neighbours), streamed in chunks; the shipped
reference index."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import torch

import maven
from maven import classifier
from maven.classifier import iter_record_chunks, ood_summary, write_classification
from maven.cli import main
from maven.data.records import LightCurve, Spectrum, Supernova
from maven.errors import ConfigError, MavenError
from maven.io import write_dataset
from maven.models import MavenConfig, MavenModel, MavenProcessor
from maven.models.inference import predict
from maven.models.modeling_heads import MavenForSupernovaClassification
from maven.search import EmbeddingIndex, build_index, model_hash, search
from maven.simulate import SimConfig, simulate

from .toy import toy_supernovae

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "maven-base"


def _unlabelled(sne):
    return [dataclasses.replace(sn, type_raw=None, type=None) for sn in sne]


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """A tiny 'both' classifier folder with a reference index of toy objects beside it."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("clf") / "model"
    model = MavenForSupernovaClassification(
        MavenConfig.from_preset("tiny"), head_modality="both", calibration_temperature=1.5
    )
    model.save_pretrained(folder)
    MavenProcessor(spectrum_bins=128).save_pretrained(folder)
    reference = toy_supernovae(24, seed=1)
    build_index(reference, folder / "reference", model=folder, progress=False)
    return folder, reference


@pytest.fixture(scope="module")
def sims():
    return simulate(12, seed=4, config=SimConfig.preset("tiny"))


def test_unlabelled_simulated_data_gives_one_row_per_id(head, sims):
    folder, _ = head
    records = _unlabelled(sims)
    table = maven.classify(records, model=folder, chunk_size=5, batch_size=4, progress=False)
    assert table.column("id").to_pylist() == [sn.id for sn in records]
    labels = ["Ia", "II", "Ibc", "IIn", "SLSN-I"]
    probs = np.stack([table.column(f"p_{c}").to_numpy(zero_copy_only=False) for c in labels], 1)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert set(table.column("predicted").to_pylist()) <= set(labels)
    assert table.column("type").null_count == table.num_rows  # unlabelled
    assert table.column("redshift").null_count == table.num_rows  # no redshift model
    pct = table.column("novelty_percentile").to_numpy()
    assert ((pct >= 0) & (pct <= 100)).all()
    for hits in table.column("neighbours").to_pylist():
        assert len(hits) == 5 and set(hits[0]) == {"name", "type", "redshift", "distance"}
        assert [h["distance"] for h in hits] == sorted(h["distance"] for h in hits)
    # the same probabilities as predict(), whatever the chunking
    model, processor = maven.from_pretrained(folder)
    np.testing.assert_allclose(
        probs, predict(model, processor, records)["probabilities"], atol=1e-6
    )
    again = maven.classify(records, model=folder, chunk_size=100, batch_size=128, progress=False)
    for col in ("p_Ia", "novelty", "novelty_percentile"):
        np.testing.assert_allclose(
            again.column(col).to_numpy(), table.column(col).to_numpy(), atol=1e-6
        )
    names = [[h["name"] for h in hits] for hits in table.column("neighbours").to_pylist()]
    assert [[h["name"] for h in hits] for hits in again.column("neighbours").to_pylist()] == names


def test_neighbours_are_the_index_search_and_a_reference_object_finds_itself(head):
    folder, reference = head
    records = reference[:4]
    table = maven.classify(records, model=folder, k=3, progress=False)
    expected = search(folder / "reference", data=records, model=folder, k=3)
    for row, res in zip(table.to_pylist(), expected, strict=True):
        assert [h["name"] for h in row["neighbours"]] == [h["id"] for h in res["hits"]]
        assert row["neighbours"][0]["name"] == row["id"]
        assert row["neighbours"][0]["distance"] == pytest.approx(0.0, abs=1e-5)
        assert row["modality"] == "photometry"


def test_ood_rules_flag_inputs_unlike_the_training_set(head, monkeypatch):
    folder, reference = head
    sn = reference[0]
    lc = sn.lightcurve
    one_point = Supernova("onepoint", lightcurve=lc.select(np.arange(len(lc)) == 0), redshift=0.05)
    far = dataclasses.replace(sn, id="far", redshift=3.0)
    w = np.linspace(4000, 8000, 300)
    zero_spec = Supernova("zerospec", spectra=[Spectrum(w, np.zeros(300), np.ones(300))])
    # a rest-frame spectrum without a redshift: nothing the model can use
    no_input = Supernova("noinput", spectra=sn.spectra)
    t3 = np.array([59000.0, 59001, 59002])
    strange = LightCurve(t3, np.array(["nowhere::q"] * 3), t3 * 0 + 10, t3 * 0 + 1)
    unknown_band = Supernova("unknownband", lightcurve=strange)  # the processor refuses it
    model = maven.from_pretrained(folder)[0]
    rest = MavenProcessor.from_pretrained(folder, spectrum_frame="rest")
    ref = EmbeddingIndex.load(folder / "reference")
    table = maven.classify(
        [sn, one_point, far, zero_spec, no_input, unknown_band],
        model=model,
        processor=rest,
        reference=ref,
        progress=False,
    )
    rows = {r["id"]: r for r in table.to_pylist()}
    assert not rows[sn.id]["ood"] and rows[sn.id]["ood_reason"] is None
    assert rows["onepoint"]["ood"] and "1 detection(s)" in rows["onepoint"]["ood_reason"]
    assert (
        rows["far"]["ood"]
        and "redshift 3 outside the training range 0-0.8" in (rows["far"]["ood_reason"])
    )
    assert "all-zero spectrum" in rows["zerospec"]["ood_reason"]
    assert "no light curve or spectrum the model can use" in rows["noinput"]["ood_reason"]
    assert rows["noinput"]["p_Ia"] is None and rows["noinput"]["predicted"] is None
    assert rows["noinput"]["neighbours"] == [] and rows["noinput"]["novelty"] is None
    assert "the processor refused it" in rows["unknownband"]["ood_reason"]
    assert "unknown band" in rows["unknownband"]["ood_reason"]
    assert rows["unknownband"]["predicted"] is None and rows[sn.id]["predicted"] is not None
    # rule 4: above the novelty threshold (lowered here, so that any object is above it)
    monkeypatch.setattr(classifier, "NOVELTY_PERCENTILE", -1.0)
    t2 = maven.classify([sn], model=folder, progress=False)
    assert "novelty percentile" in t2.column("ood_reason")[0].as_py()


def test_training_redshift_range_comes_from_the_model_folder(head, tmp_path):
    folder, reference = head
    copy = tmp_path / "model"
    shutil.copytree(folder, copy)
    (copy / "finetune_summary.json").write_text(json.dumps({"redshift_range": [0.0, 0.01]}))
    table = maven.classify(reference[:1], model=copy, progress=False)
    assert "outside the training range 0-0.01" in table.column("ood_reason")[0].as_py()
    (copy / "finetune_summary.json").write_text(json.dumps({"redshift_range": [1, 0]}))
    with pytest.raises(ConfigError, match="redshift_range must be"):
        maven.classify(reference[:1], model=copy, progress=False)


def test_write_parquet_csv_and_the_labelled_evaluation(head, sims, tmp_path):
    folder, _ = head
    records = sims[:6] + _unlabelled(sims[6:])
    out = tmp_path / "t.parquet"
    summary = write_classification(
        records, out, evaluation=tmp_path / "ev", model=folder, chunk_size=4, progress=False
    )
    table = pq.read_table(out)
    assert table.num_rows == summary["n"] == 12
    assert summary["ood"] == sum(table.column("ood").to_pylist())
    assert sum(summary["predicted"].values()) == 12
    assert summary["reference"] == str(folder / "reference")
    labelled = sum(sn.type in ("Ia", "II", "Ibc", "IIn", "SLSN-I") for sn in records)
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["n"] == labelled > 0
    assert summary["metrics"]["dropped"]["no type"] == 6
    csv = tmp_path / "t.csv"
    write_classification(records, csv, model=folder, k=2, progress=False)
    rows = pacsv.read_csv(csv).to_pylist()
    assert [r["id"] for r in rows] == table.column("id").to_pylist()
    first = table.column("neighbours")[0].as_py()
    assert rows[0]["neighbour1_name"] == first[0]["name"]
    assert "neighbour3_name" not in rows[0]
    # a failed run keeps the previous table
    before = out.read_bytes()
    bad = records[:2] + ["not a record"]
    with pytest.raises(MavenError, match="must be a Supernova"):
        write_classification(bad, out, model=folder, chunk_size=2, progress=False)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".t.parquet")] == []


def test_chunks_are_lazy_and_a_folder_is_read_file_by_file(head, tmp_path):
    endless = (toy_supernovae(1, seed=i)[0] for i in itertools.count())
    first = list(itertools.islice(iter_record_chunks(endless, 3), 2))
    assert [len(c) for c in first] == [3, 3]
    folder = tmp_path / "data"
    write_dataset(toy_supernovae(5, seed=2), folder / "a")
    write_dataset(
        [dataclasses.replace(s, id=f"b{i}") for i, s in enumerate(toy_supernovae(4))], folder / "b"
    )
    (folder / "junk.txt").write_text("not data\n")
    skipped: list = []
    chunks = list(iter_record_chunks(folder, 4, skipped=skipped))
    assert all(len(c) <= 4 for c in chunks) and sum(map(len, chunks)) == 9
    assert [p for p, _ in skipped] == [str(folder / "junk.txt")]
    assert sum(map(len, iter_record_chunks(folder / "a", 2))) == 5  # a dataset: streamed


def test_bad_arguments_are_refused(head, sims, tmp_path):
    folder, _ = head
    towers = tmp_path / "towers"
    MavenModel(MavenConfig.from_preset("tiny")).save_pretrained(towers)
    with pytest.raises(ConfigError, match="holds a MavenModel, not a MavenForSupernovaClassif"):
        maven.classify(sims[:2], model=towers, progress=False)
    with pytest.raises(ConfigError, match="not a MavenForRedshift"):
        maven.classify(sims[:2], model=folder, redshift_model=folder, progress=False)
    with pytest.raises(MavenError, match="k must be a positive integer"):
        maven.classify(sims[:2], model=folder, k=0, progress=False)
    with pytest.raises(MavenError, match="chunk_size must be a positive integer"):
        maven.classify(sims[:2], model=folder, chunk_size=0, progress=False)
    with pytest.raises(MavenError, match="no such file or folder"):
        maven.classify(tmp_path / "missing", model=folder, progress=False)
    with pytest.raises(MavenError, match="must be .parquet or .csv"):
        write_classification(sims[:2], tmp_path / "t.txt", model=folder, progress=False)
    # a reference built with other weights names the rebuild command
    other = tmp_path / "other"
    torch.manual_seed(1)
    m = MavenForSupernovaClassification(MavenConfig.from_preset("tiny"), head_modality="both")
    m.save_pretrained(other)
    MavenProcessor(spectrum_bins=128).save_pretrained(other)
    with pytest.raises(MavenError, match="maven index build"):
        maven.classify(sims[:2], model=other, reference=folder / "reference", progress=False)
    with pytest.warns(UserWarning, match="no reference index"):
        t = maven.classify(sims[:2], model=other, progress=False)
    assert t.column("novelty").null_count == 2 and t.column("neighbours").to_pylist() == [[], []]


def test_cli_classify_says_what_it_does_not_know(head, tmp_path, capsys):
    folder, reference = head
    sn = reference[0]
    lc = sn.lightcurve
    weak = Supernova("weak", lightcurve=lc.select(np.arange(len(lc)) < 2), redshift=0.05)
    write_dataset([sn, weak], tmp_path / "in")
    out = tmp_path / "o.csv"
    assert main(["classify", str(tmp_path / "in"), "--model", str(folder), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "1 of 2 objects are unlike the training set (" in text
    assert "degenerate input: 1" in text
    assert "treat their classes as unreliable" in text and "?" in text
    assert main(["classify", str(tmp_path / "in"), "--model", str(tmp_path), "--out", "x.csv"]) == 2
    assert "maven classify: error:" in capsys.readouterr().err
    summary = {"n": 3, "ood": 0, "ood_rules": {}}
    assert ood_summary(summary) is None


def test_shipped_reference_matches_the_shipped_weights():
    ref = WEIGHTS / "reference"
    if not (ref / "manifest.json").exists():
        pytest.skip("no shipped reference index")
    size = sum(f.stat().st_size for f in ref.iterdir())
    assert size < 8e6
    # refused (IndexFormatError) when the weights changed without `maven index build` again
    index = EmbeddingIndex.load(ref, model_hash=model_hash(WEIGHTS))
    assert index.count("photometry") > 1000 and index.count("spectrum") > 1000
    assert set(index.calibration) == {"photometry", "spectrum"}
    meta = index.metadata.to_pylist()
    assert all(m["id"] for m in meta) and {"Ia", "II"} <= {m["type"] for m in meta}


def test_shipped_model_classifies_a_light_curve_with_neighbours():
    if not (WEIGHTS / "reference" / "manifest.json").exists():
        pytest.skip("no shipped reference index")
    t = np.linspace(0, 60, 30)
    flux = 300 * np.exp(-0.5 * ((t - 20) / 8) ** 2) + 5
    bands = np.where(np.arange(30) % 2, "ztf::g", "ztf::r")
    lc = LightCurve(59000 + t, bands, flux, np.full(30, 5.0))
    table = maven.classify([Supernova("x", lightcurve=lc, redshift=0.05)], progress=False)
    row = table.to_pylist()[0]
    assert row["predicted"] in ("Ia", "II", "Ibc", "IIn", "SLSN-I")
    assert len(row["neighbours"]) == 5 and row["neighbours"][0]["name"]


def test_feed_redshift_gives_the_classifier_the_redshift_heads_estimate(head, sims, tmp_path):
    from maven.models.modeling_heads import MavenForRedshift

    folder, _ = head
    torch.manual_seed(2)
    zfolder = tmp_path / "z"
    MavenForRedshift(MavenConfig.from_preset("tiny"), head_modality="both").save_pretrained(zfolder)
    MavenProcessor(spectrum_bins=128).save_pretrained(zfolder)
    records = _unlabelled(sims[:6])
    records = [dataclasses.replace(sn, redshift=None) for sn in records[:4]] + records[4:]
    kw = dict(model=folder, redshift_model=zfolder, reference=None, progress=False)
    plain = maven.classify(records, **kw).to_pylist()
    fed = maven.classify(records, feed_redshift=True, **kw).to_pylist()
    for p, f, sn in zip(plain, fed, records, strict=True):
        assert f["redshift"] == pytest.approx(p["redshift"])  # the same redshift head output
        if sn.redshift is None:
            assert p["classifier_redshift"] is None and f["input_redshift"] is None
            assert f["classifier_redshift"] == pytest.approx(f["redshift"])
        else:
            assert f["classifier_redshift"] == p["classifier_redshift"] == sn.redshift
            assert f["p_Ia"] == pytest.approx(p["p_Ia"])  # own redshift: unchanged
    changed = [
        f["p_Ia"] != pytest.approx(p["p_Ia"]) for p, f in zip(plain[:4], fed[:4], strict=True)
    ]
    assert any(changed)  # the estimate reached the classifier's redshift token
    with pytest.raises(MavenError, match="feed_redshift needs a redshift_model"):
        maven.classify(records, model=folder, feed_redshift=True, progress=False)
    with pytest.raises(MavenError, match="feed_redshift must be True or False"):
        maven.classify(records, feed_redshift="yes", **kw)
