"""Where the simulator's templates and cadences come from: only an argument, a config key or
``$MAVEN_TEMPLATE_DIR``, never a folder found from the working directory, so ``maven simulate``
gives the same data wherever it runs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from maven.errors import ConfigError
from maven.simulate import SimConfig, find_template_dir, provenance
from maven.simulate.templates import _log_no_template_dir

NOTICE = "no template directory given"


@pytest.fixture
def no_template_env(monkeypatch):
    monkeypatch.delenv("MAVEN_TEMPLATE_DIR", raising=False)
    _log_no_template_dir.cache_clear()
    yield
    _log_no_template_dir.cache_clear()


@pytest.fixture
def beside_fake_shared(tmp_path):
    """A checkout-like folder ``repo/sub`` whose ancestors hold ``shared/data/templates``, where
    the old walk up from the working directory found a template directory."""
    (tmp_path / "team" / "shared" / "data" / "templates" / "sed").mkdir(parents=True)
    cwd = tmp_path / "team" / "repo" / "sub"
    cwd.mkdir(parents=True)
    return cwd


def test_no_walk_up_from_the_working_directory(
    no_template_env, beside_fake_shared, monkeypatch, caplog
):
    for cwd in (beside_fake_shared, beside_fake_shared.parent):
        monkeypatch.chdir(cwd)
        with caplog.at_level(logging.WARNING, logger="maven.simulate.templates"):
            assert find_template_dir() is None
        prov = provenance(SimConfig(classes=("Ia",), host_light=0.0), seed=0)
        assert prov["template_dir"] is None and prov["cadence"] == "synthetic"
    notices = [r for r in caplog.records if NOTICE in r.getMessage()]
    assert len(notices) == 1  # said once per process


def test_explicit_sources_only(no_template_env, beside_fake_shared, tmp_path, monkeypatch):
    monkeypatch.chdir(beside_fake_shared)
    assert find_template_dir(tmp_path) == tmp_path.resolve()  # the argument / config key
    monkeypatch.setenv("MAVEN_TEMPLATE_DIR", str(tmp_path / "team"))
    assert find_template_dir() == (tmp_path / "team").resolve()  # else the variable
    assert find_template_dir(tmp_path) == tmp_path.resolve()  # the argument wins
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ConfigError, match="not a directory"):
        find_template_dir(tmp_path / "a_file")


def _maven_simulate(cwd, out, env, *extra):
    cmd = [sys.executable, "-m", "maven.cli", "simulate", "--n", "4", "--shard-size", "2"]
    cmd += ["--seed", "1", "--config", str(out.parent / "cfg.yaml")]
    res = subprocess.run(
        [*cmd, "--out", str(out), "--json", *extra],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    shards = {p.name: p.read_bytes() for p in sorted(out.glob("shard-*.parquet"))}
    return res.stdout, shards, res.stderr


def test_maven_simulate_is_the_same_from_any_working_directory(beside_fake_shared, tmp_path):
    (tmp_path / "cfg.yaml").write_text("classes: [Ia, II]\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "MAVEN_TEMPLATE_DIR"}
    # two workers in one run: the fallback notice still comes once
    near, near_shards, near_err = _maven_simulate(
        beside_fake_shared, tmp_path / "a", env, "--workers", "2"
    )
    far, far_shards, far_err = _maven_simulate(elsewhere, tmp_path / "b", env)
    assert near == far and len(near_shards) == 2 and near_shards == far_shards
    assert '"template_dir": null' in near
    assert near_err.count(NOTICE) == 1 and far_err.count(NOTICE) == 1
