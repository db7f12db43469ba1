import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from maven import ConfigError
from maven.training.config import TrainingConfig
from maven.training.loop import latest_checkpoint
from maven.training.trainer import pretrain

from .toy import tiny_training, toy_supernovae

REPO = Path(__file__).resolve().parents[1]


def _config(tmp_path, **kw) -> Path:
    base = tiny_training(tmp_path, 48, **{"save_every": 3, "augment": False, **kw})
    path = tmp_path / f"cfg{len(list(tmp_path.glob('cfg*')))}.yaml"
    import yaml

    path.write_text(yaml.safe_dump(base))
    return path


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown keys"):
        TrainingConfig.from_yaml(_config(tmp_path, nonsense=1))
    with pytest.raises(ConfigError, match="batch_size"):
        TrainingConfig.from_yaml(_config(tmp_path, batch_size=0))
    with pytest.raises(ConfigError, match="mixed_precision"):
        TrainingConfig.from_yaml(_config(tmp_path, mixed_precision="fp8"))
    with pytest.raises(ConfigError, match="data: unknown"):
        TrainingConfig(data={"trian": "x"})
    (tmp_path / "bad.yaml").write_text("[1, 2")
    with pytest.raises(ConfigError):
        TrainingConfig.from_yaml(tmp_path / "bad.yaml")


def test_pretrain_writes_model_metrics_and_checkpoints(tmp_path):
    from transformers import AutoModel

    from maven.models import MavenProcessor

    out = tmp_path / "run"
    summary = pretrain(TrainingConfig.from_yaml(_config(tmp_path)), out)
    assert summary["steps"] == 6 and summary["world_size"] == 1
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if r["split"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in lines if r["split"] == "val"] == [3, 6]
    assert (out / "training_curves.png").stat().st_size > 1000
    assert latest_checkpoint(out).name == "step-000006"
    model = AutoModel.from_pretrained(out / "model")
    processor = MavenProcessor.from_pretrained(out / "model")
    batch = processor(toy_supernovae(3, seed=9))
    assert model(**batch).photometry_embeds.shape[0] == 3


def _weights(run: Path) -> dict:
    return load_file(run / "model" / "model.safetensors")


def _cli(*args, env=None):
    return subprocess.Popen(
        [sys.executable, "-m", "maven", "pretrain", *map(str, args)],
        cwd=REPO,
        # one thread: multi-threaded CPU reductions are not always repeatable, and the
        # resume tests compare runs bit for bit
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _kill_after_step_4(cfg: Path, run: Path) -> None:
    """Start a run into ``run`` and ``kill -9`` it once a checkpoint of step 4 or later is
    complete."""
    p = _cli("--config", cfg, "--output-dir", run)
    deadline = time.time() + 300
    while latest_checkpoint(run) is None or latest_checkpoint(run).name < "step-000004":
        assert p.poll() is None, "finished before it could be killed"
        assert time.time() < deadline
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()


def test_kill_and_resume_gives_the_same_weights(tmp_path):
    cfg = _config(tmp_path, max_steps=8, save_every=2, eval_every=4, augment=True)
    full = _cli("--config", cfg, "--output-dir", tmp_path / "full")
    assert full.wait(timeout=300) == 0, full.stderr.read().decode()[-2000:]
    run = tmp_path / "killed"
    _kill_after_step_4(cfg, run)
    assert not (run / "model").exists()
    resumed = _cli("--config", cfg, "--output-dir", run, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-2000:]
    a, b = _weights(tmp_path / "full"), _weights(run)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_two_cpu_processes_match_one_on_the_same_global_batch(tmp_path):
    one = _cli(
        "--config",
        _config(tmp_path, max_steps=1, batch_size=16, eval_every=1),
        "--output-dir",
        tmp_path / "one",
    )
    assert one.wait(timeout=300) == 0, one.stderr.read().decode()[-2000:]
    cfg2 = _config(tmp_path, max_steps=1, batch_size=8, eval_every=1)
    two = subprocess.run(
        [
            str(Path(sys.executable).parent / "accelerate"),
            "launch",
            "--config_file",
            str(REPO / "pretrain" / "accelerate" / "cpu_2proc.yaml"),
            "--main_process_port",
            "0",
            "-m",
            "maven",
            "pretrain",
            "--config",
            str(cfg2),
            "--output-dir",
            str(tmp_path / "two"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    s1 = json.loads((tmp_path / "one" / "training_summary.json").read_text())
    s2 = json.loads((tmp_path / "two" / "training_summary.json").read_text())
    assert s1["world_size"] == 1 and s2["world_size"] == 2
    assert s2["global_batch"] == s1["global_batch"] == 16
    loss = lambda run: next(  # noqa: E731
        json.loads(x)["loss"]
        for x in (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        if json.loads(x)["split"] == "train"
    )
    assert loss("two") == pytest.approx(loss("one"), rel=1e-4)


def test_auxiliary_heads_losses_on_toy_data():
    import torch.nn.functional as F

    from maven.training.objectives import TARGETS, AuxiliaryHeads

    torch.manual_seed(0)
    heads = AuxiliaryHeads(8, {"class": 1.0, "redshift": 2.0, "spectrum_phase": 0.5})
    assert sorted(heads.heads) == [
        "class_photometry",
        "class_spectrum",
        "redshift_photometry",
        "redshift_spectrum",
        "spectrum_phase_spectrum",
    ]
    b = 12
    labels = torch.arange(b) % 5
    centres = F.normalize(torch.randn(5, 8), dim=-1)
    embeds = {"photometry": centres[labels], "spectrum": F.normalize(torch.randn(b, 8), dim=-1)}
    has = {"photometry": torch.ones(b, dtype=torch.bool), "spectrum": torch.arange(b) < 9}
    z = torch.linspace(0.0, 0.6, b)
    targets = {
        "class": torch.where(torch.arange(b) == 3, -1, labels),  # one unknown class
        "redshift": torch.where(torch.arange(b) == 0, float("nan"), torch.log1p(z)),
        "spectrum_phase": torch.full((b,), float("nan")),  # nobody knows it
    }
    parts = heads(embeds, has, targets)
    (s, n) = (v.detach() for v in parts["aux_class_photometry"])
    ok = torch.arange(b) != 3
    logits = heads.heads["class_photometry"](embeds["photometry"][ok] * 8**0.5).detach()
    assert int(n) == b - 1
    assert float(s) == pytest.approx(float(F.cross_entropy(logits, labels[ok], reduction="sum")))
    assert int(parts["aux_class_spectrum"][1]) == 8  # rows 0..8 have a spectrum, row 3 no class
    assert int(parts["aux_redshift_spectrum"][1]) == 8  # rows 1..8
    t = TARGETS["redshift"]
    pred = heads.heads["redshift_photometry"](embeds["photometry"][1:] * 8**0.5)[:, 0].detach()
    expected = F.smooth_l1_loss(pred, (torch.log1p(z[1:]) - t.offset) / t.scale, reduction="sum")
    got = float(parts["aux_redshift_photometry"][0].detach())
    assert got == pytest.approx(float(expected), rel=1e-5)
    assert [float(v.detach()) for v in parts["aux_spectrum_phase_spectrum"]] == [0.0, 0.0]
    total = heads.total(parts)
    means = {k: float(s_.detach() / max(float(n_), 1)) for k, (s_, n_) in parts.items()}
    weights = {"class": 1.0, "redshift": 2.0, "spectrum_phase": 0.5}
    manual = sum(weights[k[4:].rsplit("_", 1)[0]] * v for k, v in means.items())
    assert float(total.detach()) == pytest.approx(manual, rel=1e-5)
    total.backward()
    assert torch.isfinite(heads.heads["spectrum_phase_spectrum"].weight.grad).all()
    # the class of a separable embedding is learnt
    opt = torch.optim.Adam(heads.parameters(), lr=0.05)
    for _ in range(100):
        opt.zero_grad()
        loss = heads.total(heads(embeds, has, targets))
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = heads(embeds, has, targets)["aux_class_photometry"]
    assert float(final[0] / final[1]) < 0.1 * float(s / n)


def test_objectives_config_and_targets_of_simulations():
    from maven.simulate import SimConfig, simulate
    from maven.training.objectives import check_weights, record_targets

    for bad, match in (
        ({"bogus": 1.0}, "unknown targets"),
        ({"class": -1}, "must be a number >= 0"),
        ({"class": "yes"}, "must be a number >= 0"),
        (["class"], "must map"),
    ):
        with pytest.raises(ConfigError, match=match):
            check_weights(bad)
    with pytest.raises(ConfigError, match="nothing to train"):
        TrainingConfig(contrastive_weight=0)
    with pytest.raises(ConfigError, match="contrastive_weight"):
        TrainingConfig(contrastive_weight=-1)
    with pytest.raises(ConfigError, match="data.views"):
        TrainingConfig(data={"views": 0})
    with pytest.raises(ConfigError, match="probe"):
        TrainingConfig(probe=3)
    sims = simulate(30, seed=2, config=SimConfig.preset("tiny"))
    t = record_targets(sims)
    classes = ("Ia", "II", "Ibc", "IIn", "SLSN-I")
    assert [classes[i] for i in t["target_class"]] == [sn.type for sn in sims]
    assert np.allclose(t["target_redshift"], np.log1p([sn.redshift for sn in sims]))
    assert np.isfinite(t["target_peak_abs_mag"]).all() and np.isfinite(t["target_host_av"]).all()
    phase = t["target_spectrum_phase"]
    assert np.isfinite(phase).all() and ((phase >= -5) & (phase <= 15)).all()
    toy = record_targets(toy_supernovae(2))  # real-like records: class and redshift only
    assert toy["target_class"].tolist() == [0, 0]
    assert np.isnan(toy["target_peak_abs_mag"]).all()


def test_kill_and_resume_with_auxiliary_heads_on_shards_is_exact(tmp_path):
    from maven import from_pretrained
    from maven.models import MavenProcessor
    from maven.training.objectives import AUX_HEADS, load_heads
    from maven.training.shards import pretokenize

    cfg = _config(tmp_path)  # writes the toy set
    shards = pretokenize(tmp_path / "toy", tmp_path / "tok", MavenProcessor(), views=2, seed=3)
    cfg = _config(
        tmp_path,
        data={"train": str(shards), "val": str(tmp_path / "toy")},
        augment=True,
        max_steps=8,
        save_every=2,
        eval_every=4,
        objectives={"class": 1.0, "redshift": 1.0, "peak_abs_mag": 0.5},
    )
    full = _cli("--config", cfg, "--output-dir", tmp_path / "full")
    assert full.wait(timeout=300) == 0, full.stderr.read().decode()[-2000:]
    run = tmp_path / "killed"
    _kill_after_step_4(cfg, run)
    resumed = _cli("--config", cfg, "--output-dir", run, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-2000:]
    for name in ("model/model.safetensors", AUX_HEADS):
        a, b = load_file(tmp_path / "full" / name), load_file(run / name)
        assert a.keys() == b.keys(), name
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in lines if r["split"] == "train"]
    val = [r for r in lines if r["split"] == "val"]
    assert {"contrastive_loss", "aux_class_photometry", "aux_redshift_spectrum"} <= set(train[-1])
    assert val[-1]["aux_class_spectrum"] > 0 and "aux_peak_abs_mag_photometry" in val[-1]
    heads = load_heads(run / AUX_HEADS)
    assert heads.weights == {"class": 1.0, "redshift": 1.0, "peak_abs_mag": 0.5}
    # model/ is a plain MavenModel folder: the strict loader finds no head keys in it
    model, _ = from_pretrained(run / "model")
    assert type(model).__name__ == "MavenModel"
    clf, _ = from_pretrained(run / "model", task="classification")
    assert clf.config.num_labels == 5


def test_length_bucketing_needs_shards(tmp_path):
    cfg = TrainingConfig.from_yaml(
        _config(tmp_path, data={"train": str(tmp_path / "toy"), "bucket": 2})
    )
    with pytest.raises(ConfigError, match="data.bucket needs a pre-tokenised shard set"):
        pretrain(cfg, tmp_path / "run")
    with pytest.raises(ConfigError, match="data.bucket"):
        TrainingConfig(data={"bucket": -1})


def test_warm_restart_from_saved_towers_and_heads_is_recorded(tmp_path):
    from maven.search.embed import model_hash
    from maven.training.objectives import AUX_HEADS

    objectives = {"class": 1.0, "redshift": 1.0}
    first = tmp_path / "first"
    pretrain(TrainingConfig.from_yaml(_config(tmp_path, max_steps=2, objectives=objectives)), first)
    again = TrainingConfig.from_yaml(
        _config(
            tmp_path, max_steps=1, lr=1e-9, init_from=str(first / "model"), objectives=objectives
        )
    )
    summary = pretrain(again, tmp_path / "second")
    start = json.loads((tmp_path / "second" / "metrics.jsonl").read_text().splitlines()[0])
    assert start == {
        "step": 0,
        "split": "warm_restart",
        "from": str(first / "model"),
        "towers": model_hash(first / "model"),
    }
    assert summary["warm_restart"] == start
    for name in ("model/model.safetensors", AUX_HEADS):  # one step at lr 1e-9: unchanged
        a, b = load_file(first / name), load_file(tmp_path / "second" / name)
        assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a), name
    bigger = _config(tmp_path, model={"preset": "base"}, init_from=str(first / "model"))
    with pytest.raises(ConfigError, match="do not fit"):
        pretrain(TrainingConfig.from_yaml(bigger), tmp_path / "third")
    # the towers and heads of a checkpoint, copied (what a fresh machine would have committed)
    import shutil

    from maven.training.trainer import _build, _warm_start

    committed = tmp_path / "committed"
    committed.mkdir()
    for name in ("model.safetensors", "model_1.safetensors"):
        shutil.copy(first / "checkpoints" / "step-000002" / name, committed / name)
    model, _, heads = _build(TrainingConfig(objectives=objectives))
    _warm_start(str(committed), model, heads)
    for module, name in ((model, "model/model.safetensors"), (heads, AUX_HEADS)):
        saved = load_file(first / name)
        assert all(torch.equal(v, saved[k]) for k, v in module.state_dict().items()), name
    # a shipped folder: the model's files with the heads inside it
    shipped = tmp_path / "shipped"
    shutil.copytree(first / "model", shipped)
    shutil.copy(first / AUX_HEADS, shipped / AUX_HEADS)
    model, _, heads = _build(TrainingConfig(objectives=objectives))
    _warm_start(str(shipped), model, heads)
    saved = load_file(first / AUX_HEADS)
    assert all(torch.equal(v, saved[k]) for k, v in heads.state_dict().items())
    with pytest.raises(ConfigError, match="neither a model nor a checkpoint"):
        _warm_start(str(tmp_path), model, heads)


def test_checkpoints_by_the_clock(tmp_path):
    cfg = _config(tmp_path, max_steps=3, save_every=100, eval_every=100, save_minutes=1e-9)
    pretrain(TrainingConfig.from_yaml(cfg), tmp_path / "run")
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("step-*"))
    assert names == ["step-000002", "step-000003"]  # every step is late; two are kept
    with pytest.raises(ConfigError, match="save_minutes"):
        TrainingConfig(save_minutes=0)
