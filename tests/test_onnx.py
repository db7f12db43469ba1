"""ONNX export: the graphs run in onnxruntime give the torch model's outputs (<= 1e-4) at
other batch sizes and light-curve lengths than the export's, on toy and on real records."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnx", reason="ONNX export needs the onnx extra")
pytest.importorskip("onnxscript", reason="ONNX export needs the onnx extra")
pytest.importorskip("onnxruntime", reason="onnxruntime inference needs the onnx extra")

import maven  # noqa: E402
from maven.cli import main  # noqa: E402
from maven.errors import ConfigError, FormatError, MavenError  # noqa: E402
from maven.export.onnx import MANIFEST_NAME, export_onnx  # noqa: E402
from maven.export.onnx_runtime import OnnxModel  # noqa: E402
from maven.models import (  # noqa: E402
    MavenConfig,
    MavenForRedshift,
    MavenForSupernovaClassification,
    MavenProcessor,
)
from maven.simulate import SimConfig, simulate  # noqa: E402

from .toy import toy_supernovae  # noqa: E402

TOL = 1e-4


@pytest.fixture(scope="module")
def records():
    """Simulated records: other light-curve lengths than the toy export examples."""
    return simulate(12, seed=5, config=SimConfig.preset("tiny"))


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx-clf")
    torch.manual_seed(0)
    config = MavenConfig.from_preset("tiny")
    MavenForSupernovaClassification(config, head_modality="both").save_pretrained(root / "model")
    MavenProcessor(spectrum_bins=128).save_pretrained(root / "model")
    manifest = export_onnx(root / "model", root / "onnx", supernovae=toy_supernovae(6, seed=3))
    return root, manifest


@pytest.fixture(scope="module")
def redshift(tmp_path_factory):
    """A redshift head on the light curve, exported by the command with simulated examples."""
    root = tmp_path_factory.mktemp("onnx-z")
    torch.manual_seed(1)
    MavenForRedshift(MavenConfig.from_preset("tiny")).save_pretrained(root / "model")
    MavenProcessor(spectrum_bins=128).save_pretrained(root / "model")
    argv = ["export", "onnx", "--model", str(root / "model"), "--out", str(root / "onnx")]
    assert main([*argv, "--json"]) == 0
    return root


def _parity(model, runner: OnnxModel, sne) -> dict:
    """max |onnxruntime - torch| per output on ``sne`` (embeddings: rows with the modality)."""
    batch = runner.processor(sne)
    out = runner(batch)
    # the towers as the head uses them: the redshift head never reads the redshift
    tower_inputs = {
        k: v for k, v in batch.items() if runner.task != "redshift" or "redshift" not in k
    }
    with torch.no_grad():
        ref = model(**batch)
        towers = model.maven(**tower_inputs)
    diffs = {}
    for name, value in out.items():
        if name.endswith("_embeds"):
            has = batch[f"has_{name.split('_')[0]}"].numpy()
            truth = getattr(towers, name).numpy()
            assert not value[~has].any()  # zeros where the modality is missing
            value, truth = value[has], truth[has]
            if not has.any():
                continue
        else:
            truth = getattr(ref, name).numpy()
        assert value.shape == truth.shape, name
        diffs[name] = float(np.abs(value - truth).max())
    return diffs


def test_classifier_graphs_match_torch_at_any_batch_and_length(classifier, records):
    root, manifest = classifier
    assert set(manifest["graphs"]) == {"photometry", "spectrum", "head"}
    phot = manifest["graphs"]["photometry"]["inputs"]
    assert phot[0] == {
        "name": "photometry_values",
        "dtype": "float32",
        "shape": ["batch", "length", 3],
    }
    assert manifest["labels"] == ["Ia", "II", "Ibc", "IIn", "SLSN-I"]
    assert json.loads((root / "onnx" / MANIFEST_NAME).read_text()) == manifest
    model, _ = maven.from_pretrained(root / "model")
    runner = OnnxModel(root / "onnx", threads=1)
    assert runner.task == "classification"
    for sne in (records, records[:1], toy_supernovae(3, seed=9)):
        diffs = _parity(model, runner, sne)
        assert set(diffs) == {"photometry_embeds", "spectrum_embeds", "logits", "embeddings"}
        assert max(diffs.values()) <= TOL, diffs
    # light curves only: the spectrum tower is not run, the head still matches
    no_spectra = [sn.__class__(sn.id, lightcurve=sn.lightcurve) for sn in records[:4]]
    diffs = _parity(model, runner, no_spectra)
    assert "spectrum_embeds" not in diffs and max(diffs.values()) <= TOL, diffs


def test_redshift_graphs_never_read_the_redshift(redshift, records):
    runner = OnnxModel(redshift / "onnx")
    graphs = runner.manifest["graphs"]
    assert set(graphs) == {"photometry", "head"}
    assert not [a for a in graphs["photometry"]["inputs"] if a["name"].startswith("redshift")]
    model, _ = maven.from_pretrained(redshift / "model")
    diffs = _parity(model, runner, records)
    assert set(diffs) == {"photometry_embeds", "redshift_mean", "redshift_sigma", "mu",
                          "log_sigma", "embeddings"}  # fmt: skip
    assert max(diffs.values()) <= TOL, diffs


def test_bad_exports_and_batches(classifier, redshift, records, tmp_path, capsys):
    root, _ = classifier
    with pytest.raises(ConfigError, match="exists"):
        export_onnx(root / "model", root / "onnx")
    argv = ["export", "onnx", "--model", str(root / "model"), "--out", str(root / "onnx")]
    assert main(argv) == 2 and "exists" in capsys.readouterr().err
    with pytest.raises(MavenError, match="at least 2 objects with"):
        export_onnx(root / "model", tmp_path / "x", supernovae=toy_supernovae(1))
    assert not (tmp_path / "x").exists()
    with pytest.raises(FormatError, match="not an ONNX export"):
        OnnxModel(root / "model")
    runner = OnnxModel(root / "onnx")
    batch = runner.processor(records[:3], return_tensors="np")
    with pytest.raises(MavenError, match="'photometry_mask' missing"):
        runner({k: v for k, v in batch.items() if k != "photometry_mask"})
    z = OnnxModel(redshift / "onnx")
    spectra_only = [sn.__class__(sn.id, spectra=sn.spectra) for sn in records if sn.spectra]
    with pytest.raises(MavenError, match="have no photometry"):
        z(z.processor(spectra_only[:2]))
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in (redshift / "onnx").iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "head.onnx").write_bytes(b"not a graph")
    with pytest.raises(FormatError, match="head.onnx"):
        OnnxModel(broken)


@pytest.mark.realdata
def test_graphs_match_torch_on_real_records(real_data, classifier):
    from maven.io import read_supernovae

    root, _ = classifier
    files = sorted((real_data / "osc" / "withspec").glob("*.json.gz"))[:24]
    sne = [sn for f in files for sn in read_supernovae(f, progress=False)]
    model, _ = maven.from_pretrained(root / "model")
    diffs = _parity(model, OnnxModel(root / "onnx", threads=2), sne)
    assert set(diffs) == {"photometry_embeds", "spectrum_embeds", "logits", "embeddings"}
    assert max(diffs.values()) <= TOL, diffs


def test_head_with_light_curve_features_exports(records, tmp_path):
    """A head reading the processor's light-curve features takes them as head graph inputs."""
    from maven.evaluation.features import FEATURE_NAMES

    n = len(FEATURE_NAMES)
    torch.manual_seed(2)
    scale = [float(v) for v in np.linspace(0.5, 3.0, n)]
    model = MavenForSupernovaClassification(
        MavenConfig.from_preset("tiny"), head_extra_features=n, extra_feature_scale=scale
    )
    model.save_pretrained(tmp_path / "model")
    MavenProcessor(spectrum_bins=128, lightcurve_features=True).save_pretrained(tmp_path / "model")
    manifest = export_onnx(tmp_path / "model", tmp_path / "onnx", supernovae=records[:6])
    names = [a["name"] for a in manifest["graphs"]["head"]["inputs"]]
    assert names == ["photometry_embeds", "photometry_features", "photometry_features_mask"]
    model, _ = maven.from_pretrained(tmp_path / "model")
    runner = OnnxModel(tmp_path / "onnx", threads=1)
    diffs = _parity(model, runner, records[6:])
    assert set(diffs) == {"photometry_embeds", "logits", "embeddings"}
    assert max(diffs.values()) <= TOL, diffs


def test_classify_runs_the_export_in_onnxruntime(classifier, records, tmp_path):
    root, _ = classifier
    kw = dict(model=root / "model", reference=None, progress=False)
    torch_rows = maven.classify(records, **kw).to_pylist()
    onnx_rows = maven.classify(records, onnx=root / "onnx", **kw).to_pylist()
    labels = [c for c in torch_rows[0] if c.startswith("p_")]
    assert len(labels) == 5
    for a, b in zip(torch_rows, onnx_rows, strict=True):
        assert a["id"] == b["id"] and a["predicted"] == b["predicted"]
        assert [b[c] for c in labels] == pytest.approx([a[c] for c in labels], abs=TOL)
    other = tmp_path / "other"
    torch.manual_seed(5)
    MavenForSupernovaClassification(
        MavenConfig.from_preset("tiny"), head_modality="photometry"
    ).save_pretrained(other)
    MavenProcessor(spectrum_bins=128).save_pretrained(other)
    with pytest.raises(ConfigError, match="not an ONNX export of this model .*head_modality"):
        maven.classify(records, model=other, onnx=root / "onnx", reference=None, progress=False)


def test_per_input_head_exports(records, tmp_path):
    """A per-input head (one head per input set) matches torch given both, one or the other."""
    torch.manual_seed(3)
    model = MavenForSupernovaClassification(
        MavenConfig.from_preset("tiny"), head_modality="both", head_fusion="per_input"
    )
    model.save_pretrained(tmp_path / "model")
    MavenProcessor(spectrum_bins=128).save_pretrained(tmp_path / "model")
    export_onnx(tmp_path / "model", tmp_path / "onnx", supernovae=records[:6])
    model, _ = maven.from_pretrained(tmp_path / "model")
    runner = OnnxModel(tmp_path / "onnx", threads=1)
    light_curves = [sn.__class__(sn.id, lightcurve=sn.lightcurve) for sn in records[6:9]]
    spectra = [sn.__class__(sn.id, spectra=sn.spectra) for sn in records[9:] if sn.spectra]
    for sne in (records[6:], light_curves + spectra):
        diffs = _parity(model, runner, sne)
        assert max(diffs.values()) <= TOL, diffs
