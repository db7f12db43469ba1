"""Faults the campaign of issue 15 injected: kill -9 during a save, a full disk, concurrent
writers, truncated or damaged files, and non-finite numbers at every public entry point.

What must hold: no data loss (the previous dataset, index or checkpoint stays readable and
unchanged, or the new one is complete), a MavenError naming what is wrong, and never a
non-finite number without an error.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from maven import FormatError, MavenError, ValidationError
from maven.data.records import LightCurve, Spectrum, Supernova
from maven.errors import IndexFormatError, StorageError
from maven.io import read_dataset, write_dataset
from maven.models import MavenConfig, MavenModel, MavenProcessor
from maven.search import EmbeddingIndex

from . import fault_worker
from .fuzzing import toy_supernova

REPO = Path(__file__).resolve().parents[1]


def _worker(*args, fsize: int | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tests.fault_worker", *map(str, args)]
    if fsize is not None:
        cmd += ["--fsize", str(fsize)]
    return subprocess.Popen(  # one thread: bit-exact comparisons need repeatable CPU reductions
        cmd,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _dataset_version(out: Path) -> str:
    """The tag of the one complete version the folder holds (asserts it is one)."""
    sne = read_dataset(out)
    tags = {sn.id.rsplit("-", 1)[0] for sn in sne}
    assert len(tags) == 1 and len(sne) == fault_worker.N_RECORDS, tags
    (tag,) = tags
    expected = fault_worker.records(tag)
    assert all(a.equals(b) for a, b in zip(sne, expected, strict=True))
    return tag


def _index_version(out: Path) -> str:
    idx = EmbeddingIndex.load(out)
    tags = {r.rsplit("-", 1)[0] for r in idx.metadata.column("id").to_pylist()}
    assert len(tags) == 1 and idx.count() == fault_worker.N_VECTORS, tags
    return tags.pop()


# ------------------------------------------------------------------ kill -9 during a save


@pytest.mark.parametrize("what", ["dataset", "index"])
def test_kill_during_save_never_loses_the_previous_version(tmp_path, what):
    out = tmp_path / what
    check = _dataset_version if what == "dataset" else _index_version
    rng = random.Random(15)
    for trial in range(3):
        p = _worker(what, out, "--tag", f"t{trial}-")
        written = p.stdout.readline().strip()  # version 0 is complete
        assert written == f"t{trial}-0", p.stderr.read()
        time.sleep(rng.uniform(0.0, 0.4))  # somewhere inside a later save
        p.send_signal(signal.SIGKILL)
        p.wait()
        last = ([written] + p.stdout.read().split())[-1]
        k = int(last.rsplit("-", 1)[1])
        # the last version reported written, or the next one if the kill came after its swap
        assert check(out) in (last, f"t{trial}-{k + 1}")
    p = _worker(what, out, "--tag", "last-", "--times", "1")
    assert p.wait(timeout=120) == 0, p.stderr.read()
    assert check(out) == "last-0"
    # what killed writers left beside the folder is cleaned by the next writer
    assert sorted(x.name for x in tmp_path.iterdir()) == [f".{what}.lock", what]


# ------------------------------------------------------------------ a full disk


@pytest.mark.parametrize("what", ["dataset", "index"])
def test_full_disk_keeps_the_previous_version(tmp_path, what):
    out = tmp_path / what
    p = _worker(what, out, "--tag", "old-", "--times", "1")
    assert p.wait(timeout=120) == 0, p.stderr.read()
    check = _dataset_version if what == "dataset" else _index_version
    assert check(out) == "old-0"
    p = _worker(what, out, "--tag", "new-", "--times", "1", fsize=2000)
    assert p.wait(timeout=120) == 3
    err = p.stderr.read()
    assert "File too large" in err and str(out) in err
    assert ("StorageError" if what == "dataset" else "IndexFormatError") in err
    assert check(out) == "old-0"
    assert sorted(x.name for x in tmp_path.iterdir()) == [f".{what}.lock", what]


# ------------------------------------------------------------------ concurrent writers


@pytest.mark.parametrize("what", ["dataset", "index"])
def test_concurrent_writers_take_turns(tmp_path, what):
    out = tmp_path / what
    check = _dataset_version if what == "dataset" else _index_version
    writers = [_worker(what, out, "--tag", f"{w}-", "--times", "4") for w in "ab"]
    reads = 0
    while any(w.poll() is None for w in writers):
        if out.exists():
            try:
                check(out)  # a reader sees a complete version, or a clear error
                reads += 1
            except (FormatError, IndexFormatError) as exc:
                assert "replaced" in str(exc) or "missing" in str(exc), exc
        time.sleep(0.01)
    for w in writers:
        assert w.wait() == 0, w.stderr.read()  # neither loses the race with a wrong message
    assert check(out) in ("a-3", "b-3") and reads > 0


# ------------------------------------------------------------------ truncated and damaged


def test_truncated_or_damaged_dataset_shard_is_a_format_error(tmp_path):
    out = write_dataset([toy_supernova(i) for i in range(4)], tmp_path / "ds")
    shard = out / "part-00000.parquet"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match="bytes, the manifest says"):
        read_dataset(out)
    (out / "maven_dataset.json").unlink()  # without the manifest: parquet's own checks
    with pytest.raises(FormatError, match="not a readable parquet file"):
        read_dataset(out)


@pytest.mark.parametrize("name", ["/etc/hostname", "../outside.bin", "sub/../../x"])
def test_index_manifest_paths_stay_inside_the_index(tmp_path, name):
    idx = EmbeddingIndex(4, model_hash="sha256:x")
    idx.add(np.eye(4), [{"id": f"s{i}"} for i in range(4)], modality="photometry")
    path = idx.save(tmp_path / "index")
    (tmp_path / "outside.bin").write_bytes(b"12345")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"][name] = {"bytes": 5, "sha256": "0" * 64}
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="a path outside the folder"):
        EmbeddingIndex.load(path)


# ------------------------------------------------------------------ checkpoints and resume


class _FakeAccelerator:
    """What ``save_checkpoint`` uses of an Accelerator, writing two small files."""

    is_main_process = True

    def __init__(self, fail: bool = False):
        self.fail = fail

    def wait_for_everyone(self):
        pass

    def save_state(self, path):
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "model.safetensors").write_bytes(os.urandom(64))
        if self.fail:
            raise OSError(28, "No space left on device")
        (Path(path) / "optimizer.bin").write_bytes(os.urandom(64))


def test_checkpoint_save_failure_keeps_earlier_checkpoints(tmp_path):
    from maven.training.loop import latest_checkpoint, save_checkpoint

    for step in (2, 4):
        save_checkpoint(_FakeAccelerator(), tmp_path, step, keep=3)
    with pytest.raises(StorageError, match="step-000006: cannot write the checkpoint: .*space"):
        save_checkpoint(_FakeAccelerator(fail=True), tmp_path, 6, keep=3)
    assert latest_checkpoint(tmp_path).name == "step-000004"
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "latest",
        "step-000002",
        "step-000004",
    ]


def test_latest_checkpoint_passes_over_damaged_ones_and_says_why(tmp_path):
    from maven.training.loop import latest_checkpoint, save_checkpoint

    for step in (2, 4, 6, 8):
        save_checkpoint(_FakeAccelerator(), tmp_path, step, keep=4)
    ckpt = tmp_path / "checkpoints"
    (ckpt / "step-000008" / "trainer_state.json").unlink()  # the campaign's first case
    with open(ckpt / "step-000006" / "optimizer.bin", "r+b") as fh:  # one flipped byte
        fh.write(b"\x00")
    data = (ckpt / "step-000004" / "model.safetensors").read_bytes()
    (ckpt / "step-000004" / "model.safetensors").write_bytes(data[:10])  # truncated
    why: list[str] = []
    assert latest_checkpoint(tmp_path, rejected=why).name == "step-000002"
    assert "step-000008: no readable trainer_state.json" in why[0]
    assert "optimizer.bin: sha256 checksum mismatch" in why[1]
    assert "model.safetensors: 10 bytes" in why[2]
    assert why[3] == "'latest' names step-000008, which is not usable"
    (ckpt / "latest").write_text("step-000099")  # the campaign's second case
    why = []
    assert latest_checkpoint(tmp_path, rejected=why).name == "step-000002"
    assert why[-1] == "'latest' names step-000099, which is missing"


def _tiny_config(tmp_path, **kw):
    from maven.training.config import TrainingConfig

    from .toy import tiny_training

    settings = {"save_every": 2, "keep_checkpoints": 3, "augment": True, **kw}
    return TrainingConfig(**tiny_training(tmp_path, 32, **settings))


def test_resume_uses_the_newest_valid_checkpoint_bit_exactly(tmp_path, capsys):
    import shutil

    from safetensors.torch import load_file

    from maven.training.trainer import pretrain

    cfg = _tiny_config(tmp_path)
    pretrain(cfg, tmp_path / "full")
    run = tmp_path / "resumed"
    shutil.copytree(tmp_path / "full", run)
    shutil.rmtree(run / "model")
    (run / "checkpoints" / "step-000006" / "trainer_state.json").unlink()

    def metrics():  # what a run logs, but its speed
        lines = (run / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(x).items() if k != "samples_per_s"} for x in lines]

    metrics_before = metrics()
    capsys.readouterr()
    pretrain(cfg, run, resume=True)
    said = capsys.readouterr().out
    assert "passed over step-000006: no readable trainer_state.json" in said
    assert "resumed from" in said and "step-000004 at step 4" in said
    a, b = (
        load_file(tmp_path / "full/model/model.safetensors"),
        load_file(run / "model/model.safetensors"),
    )
    assert all(torch.equal(a[k], b[k]) for k in a)
    # metrics up to step 4 are kept, the later ones logged again, none twice
    assert metrics() == metrics_before
    # nothing usable left: refuse rather than silently start again and wipe the metrics
    for p in (run / "checkpoints").glob("step-*"):
        (p / "trainer_state.json").unlink(missing_ok=True)
    with pytest.raises(StorageError, match="found no usable checkpoint"):
        pretrain(cfg, run, resume=True)
    assert metrics() == metrics_before


# ------------------------------------------------------------------ no silent non-finite


def _bad_spectrum_record() -> Supernova:
    """Valid input that overflowed the inverse-variance resampling (campaign item 2)."""
    w = np.linspace(3500, 9000, 300)
    flux = 1e-16 * (1 + 0.1 * np.sin(w / 200))
    err = np.full(300, 1e-18)
    err[10], flux[20] = 1e-200, 1e300
    lc = LightCurve(58000 + np.arange(6.0), ["ztf::g"] * 6, np.arange(6.0) + 50, np.ones(6))
    return Supernova("SNbad", lightcurve=lc, spectra=[Spectrum(w, flux, err)])


def test_spectra_near_the_float_limits_process_to_finite_values():
    out = MavenProcessor()([_bad_spectrum_record(), toy_supernova()], return_tensors="np")
    for key, value in out.items():
        assert np.isfinite(value).all() if value.dtype.kind == "f" else True, key
    assert out["has_spectrum"].all()


def test_processor_names_the_object_of_a_non_finite_output(monkeypatch):
    proc = MavenProcessor()
    monkeypatch.setattr(
        proc, "_resample", lambda *a: (np.full((512, 2), np.nan), np.ones(512, bool))
    )
    with pytest.raises(ValidationError, match="object 'SN1', field 'spectrum_values'.*index 1"):
        proc([Supernova("SN0", lightcurve=toy_supernova().lightcurve), toy_supernova(1)])


def test_unknown_band_names_the_object():
    lc = LightCurve([58000.0, 58001.0], ["ztf::g", "nowhere::x"], [1.0, 2.0], [1.0, 1.0])
    lc.object_id = "SNx"
    with pytest.raises(MavenError, match="object 'SNx'.*nowhere::x"):
        MavenProcessor()(lightcurves=[lc])


def _nan_model(model):
    with torch.no_grad():
        next(p for n, p in model.named_parameters() if "photometry" in n).fill_(float("nan"))
    return model


def test_embed_refuses_non_finite_embeddings_naming_objects():
    from maven.search.embed import embed_supernovae

    model = MavenModel(MavenConfig.from_preset("tiny"))
    sne = [_bad_spectrum_record(), toy_supernova(1)]
    emb = embed_supernovae(model, MavenProcessor(), sne, progress=False)
    assert all(np.isfinite(emb.vectors[m]).all() for m in ("photometry", "spectrum"))
    with pytest.raises(MavenError, match=r"non-finite photometry embeddings.*SNbad"):
        embed_supernovae(_nan_model(model), MavenProcessor(), sne, progress=False)


def test_predict_names_the_objects_it_cannot_answer():
    from maven.models import MavenForSupernovaClassification
    from maven.models.inference import predict

    config = MavenConfig.from_preset("tiny", id2label={0: "Ia", 1: "II"})
    model = MavenForSupernovaClassification(config, head_modality="spectrum")
    no_spectrum = Supernova("SNnospec", lightcurve=toy_supernova().lightcurve)
    with pytest.raises(MavenError, match=r"no spectrum input, e.g. \['SNnospec'\]"):
        predict(model, MavenProcessor(), [toy_supernova(0), no_spectrum])
    out = predict(model, MavenProcessor(), [_bad_spectrum_record()])
    assert np.isfinite(out["probabilities"]).all()
    model = MavenForSupernovaClassification(config, head_modality="both")
    with pytest.raises(MavenError, match=r"non-finite model outputs.*'SN0'"):
        predict(_nan_model(model), MavenProcessor(), [toy_supernova(0)])
