import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from maven import ConfigError
from maven.io import write_dataset
from maven.training.config import TrainingConfig
from maven.training.trainer import latest_checkpoint, pretrain

from .toy import toy_supernovae

REPO = Path(__file__).resolve().parents[1]


def _config(tmp_path, **kw) -> Path:
    data = tmp_path / "toy"
    if not data.exists():
        write_dataset(toy_supernovae(48, seed=1), data)
    base = dict(
        model={"preset": "tiny"},
        data={"train": str(data), "val": str(data)},
        batch_size=8,
        max_steps=6,
        lr=2e-3,
        warmup_steps=1,
        log_every=1,
        eval_every=3,
        save_every=3,
        cpu=True,
        augment=False,
        seed=3,
    )
    base.update(kw)
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
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_kill_and_resume_gives_the_same_weights(tmp_path):
    cfg = _config(tmp_path, max_steps=8, save_every=2, eval_every=4, augment=True)
    full = _cli("--config", cfg, "--output-dir", tmp_path / "full")
    assert full.wait(timeout=300) == 0, full.stderr.read().decode()[-2000:]
    run = tmp_path / "killed"
    p = _cli("--config", cfg, "--output-dir", run)
    deadline = time.time() + 300
    while latest_checkpoint(run) is None or latest_checkpoint(run).name < "step-000004":
        assert p.poll() is None, "finished before it could be killed"
        assert time.time() < deadline
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
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
