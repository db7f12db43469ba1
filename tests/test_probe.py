import json

import pytest
import torch

from maven import ConfigError
from maven.cli import main
from maven.evaluation.probe import linear_probe, probe
from maven.io import write_dataset
from maven.models import MavenConfig, MavenModel, MavenProcessor
from maven.training.config import TrainingConfig
from maven.training.trainer import pretrain

from .toy import toy_supernovae

SMALL = {"sim": {"preset": "tiny"}, "n_sim": 40, "n_retrieval": 16, "n_novel": 10}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe")
    torch.manual_seed(0)
    MavenModel(MavenConfig.from_preset("tiny")).save_pretrained(root / "model")
    MavenProcessor().save_pretrained(root / "model")
    real = toy_supernovae(30, seed=2)
    for i, sn in enumerate(real):  # three classes, a spread of redshifts
        sn.type = ("Ia", "II", "Ibc")[i % 3]
        sn.redshift = 0.01 + 0.01 * i
    write_dataset(real, root / "real")
    return root


def test_probe_reports_every_probe_on_a_tiny_model(folders, tmp_path):
    out = probe(folders / "model", tmp_path, novel=("TDE", "KN"), real=folders / "real", **SMALL)
    t = out["table"]
    assert out["n_sim"] == 40 and out["n_real"] == 30
    for where in ("sim", "real"):
        for m in ("photometry", "spectrum", "both"):
            assert 0.0 <= t[where]["class_macro_f1"][m] <= 1.0, (where, m)
            assert t[where]["redshift_nmad"][m] > 0.0, (where, m)
    r = t["retrieval"]
    assert r["n"] == 16 and 0.0 <= r["phot2spec_top1"] <= r["phot2spec_top10"] <= 1.0
    assert 1.0 <= r["phot2spec_median_rank"] <= 16 and 1.0 <= r["spec2phot_median_rank"] <= 16
    assert set(t["novelty_auroc"]) == {"photometry", "spectrum", "both"}
    assert all(0.0 <= v <= 1.0 for v in t["novelty_auroc"].values())
    assert json.loads((tmp_path / "probe.json").read_text())["table"] == json.loads(json.dumps(t))
    md = (tmp_path / "probe.md").read_text()
    assert "| light curve |" in md and "median rank" in md and "TDE, KN" in md
    again = probe(folders / "model", None, novel=("TDE", "KN"), real=folders / "real", **SMALL)
    assert again["table"] == t  # deterministic


def test_linear_probe_learns_a_separable_embedding():
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    x = torch.nn.functional.one_hot(y).float() * 3 + 0.1 * torch.randn(60, 3, generator=gen)
    pred = linear_probe(x[:30].numpy(), y[:30].numpy(), x[30:].numpy(), "class")
    assert (pred == y[30:].numpy()).all()
    z = torch.linspace(0.01, 0.5, 60)
    feats = torch.log1p(z)[:, None].repeat(1, 3).numpy()
    zp = linear_probe(feats[::2], z[::2].numpy(), feats[1::2], "redshift")
    assert abs(zp - z[1::2].numpy()).max() < 1e-2


def test_probe_command_and_bad_input(folders, tmp_path, capsys):
    argv = ["probe", "--model", str(folders / "model"), "--sim-preset", "tiny"]
    assert main([*argv, "--n-sim", "20", "--n-retrieval", "8", "--novel", "", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["table"]["novelty_auroc"] is None and out["table"]["real"] is None
    assert out["table"]["retrieval"]["n"] == 8
    # the follow-up stream (what pre-training mixes in) can be probed too
    assert (
        main(
            [
                *argv,
                "--n-sim",
                "20",
                "--n-retrieval",
                "8",
                "--novel",
                "",
                "--json",
                "--survey",
                "followup",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["survey"] == "followup"
    with pytest.raises(ConfigError, match="n_sim"):
        probe(folders / "model", n_sim=2, sim={"preset": "tiny"})
    assert main(["probe", "--model", str(tmp_path / "nothing"), "--n-sim", "20"]) == 2
    assert "maven probe: error" in capsys.readouterr().err


def test_every_pretraining_run_with_probe_options_writes_the_table(tmp_path):
    data = write_dataset(toy_supernovae(16, seed=1), tmp_path / "toy")
    config = TrainingConfig(
        model={"preset": "tiny"},
        data={"train": str(data), "val": str(data)},
        batch_size=8,
        max_steps=2,
        warmup_steps=1,
        log_every=1,
        eval_every=2,
        save_every=2,
        cpu=True,
        probe={**SMALL, "n_sim": 20, "n_retrieval": 8, "novel": ["TDE"], "n_novel": 6},
    )
    summary = pretrain(config, tmp_path / "run")
    assert summary["probe"]["table"]["retrieval"]["n"] == 8
    assert json.loads((tmp_path / "run" / "probe.json").read_text()) == summary["probe"]
    assert (tmp_path / "run" / "probe.md").exists()


def test_probe_options_are_checked_before_a_run(tmp_path):
    with pytest.raises(ConfigError, match=r"probe: unknown options \['n_sims'\]"):
        TrainingConfig(probe={"n_sims": 10})
    data = write_dataset(toy_supernovae(8, seed=1), tmp_path / "toy")
    config = TrainingConfig(
        data={"train": str(data), "val": str(data)},
        cpu=True,
        probe={"real": str(tmp_path / "absent")},
    )
    with pytest.raises(ConfigError, match="probe.real: .* does not exist"):
        pretrain(config, tmp_path / "run")
    config.probe = {"sim": {"preset": "tiny"}, "novel": ["Ia-91bg"]}  # needs a template
    with pytest.raises(ConfigError, match="Ia-91bg"):
        pretrain(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
