"""maven.from_pretrained: every saved folder kind loads exactly; damaged weights are refused
(a missing tower, a NaN, an extra or misshapen tensor), with the tensor named."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

import maven
from maven.cli import main
from maven.errors import ConfigError, FormatError
from maven.io import write_dataset
from maven.models import (
    MavenConfig,
    MavenForRedshift,
    MavenForSupernovaClassification,
    MavenModel,
    MavenProcessor,
)

from .toy import toy_supernovae


def _save(model, folder, processor: MavenProcessor | None = None):
    model.save_pretrained(folder)
    if processor is not None:
        processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("models")
    config = MavenConfig.from_preset("tiny")
    towers = MavenModel(config).eval()
    head = MavenForSupernovaClassification(config, head_modality="both").eval()
    return {
        "towers": (towers, _save(towers, root / "towers", MavenProcessor())),
        "head": (head, _save(head, root / "head", MavenProcessor(spectrum_frame="rest"))),
    }


@pytest.fixture(scope="module")
def batch():
    return MavenProcessor()(toy_supernovae(4, seed=1))


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _damage(src, dst, edit):
    """A copy of the folder ``src`` whose weights went through ``edit(state) -> state``."""
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    state = edit(load_file(str(src / "model.safetensors")))
    save_file(state, str(dst / "model.safetensors"), metadata={"format": "pt"})
    return dst


def test_each_folder_kind_loads_what_it_holds(folders, batch):
    towers, path = folders["towers"]
    model, processor = maven.from_pretrained(path)
    assert type(model) is MavenModel and not model.training and _same(model, towers)
    assert processor.to_dict() == MavenProcessor().to_dict()
    head, path = folders["head"]
    model, processor = maven.from_pretrained(str(path))
    assert type(model) is MavenForSupernovaClassification and _same(model, head)
    assert processor.spectrum_frame == "rest"
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, head(**batch).logits)


def test_towers_of_a_head_folder_and_a_new_head_on_towers(folders):
    head, path = folders["head"]
    model, _ = maven.from_pretrained(path, task="towers")
    assert type(model) is MavenModel and _same(model, head.maven)
    towers, path = folders["towers"]
    z, _ = maven.from_pretrained(path, task="redshift", freeze_encoder=True)
    assert type(z) is MavenForRedshift and z.config.freeze_encoder
    assert _same(z.maven, towers)
    clf, _ = maven.from_pretrained(folders["head"][1], task="classification", head_dropout=0.2)
    assert clf.config.head_dropout == 0.2 and _same(clf, head)


def test_a_weights_file_without_the_spectrum_tower_is_refused(folders, tmp_path, batch):
    towers, path = folders["towers"]

    def drop(state):
        return {k: v for k, v in state.items() if not k.startswith("spectrum_model.")}

    damaged = _damage(path, tmp_path / "damaged", drop)
    with pytest.raises(FormatError, match=r"missing: spectrum_model\.") as err:
        maven.from_pretrained(damaged)
    assert "model.safetensors" in str(err.value)
    with pytest.raises(FormatError, match="missing"):  # also as the towers of a head folder
        maven.from_pretrained(
            _damage(
                folders["head"][1],
                tmp_path / "head",
                lambda s: {k: v for k, v in s.items() if "spectrum_model" not in k},
            ),
            task="towers",
        )
    # maven embed used to embed with a random spectrum tower and exit 0
    data = write_dataset(toy_supernovae(4, seed=2), tmp_path / "data")
    out = tmp_path / "emb.parquet"
    argv = ["embed", "--model", str(damaged), "--data", str(data), "--output", str(out)]
    assert main(argv) == 2 and not out.exists()


def test_a_nan_tensor_is_refused_by_name(folders, tmp_path):
    name = "photometry_model.transformer.layers.0.fc1.weight"

    def poison(state):
        state[name] = state[name].clone()
        state[name][0, 0] = float("nan")
        return state

    with pytest.raises(FormatError, match=rf"'{name}' has 1 non-finite"):
        maven.from_pretrained(_damage(folders["towers"][1], tmp_path / "nan", poison))

    def inf(state):
        state["classifier.1.bias"] = torch.full_like(state["classifier.1.bias"], float("inf"))
        return state

    with pytest.raises(FormatError, match="classifier.1.bias"):
        maven.from_pretrained(_damage(folders["head"][1], tmp_path / "inf", inf))


def test_unexpected_and_misshapen_tensors_are_refused(folders, tmp_path):
    path = folders["towers"][1]

    def extra(state):
        return {**state, "surprise.weight": torch.zeros(3)}

    with pytest.raises(FormatError, match="does not have: surprise.weight"):
        maven.from_pretrained(_damage(path, tmp_path / "extra", extra))
    with pytest.raises(FormatError, match="unexpected tensors for a"):
        maven.from_pretrained(
            _damage(folders["head"][1], tmp_path / "extra-head", extra), task="towers"
        )

    def reshape(state):
        return {**state, "logit_scale": torch.zeros(2)}

    with pytest.raises(FormatError, match=r"'logit_scale' has shape \(2,\)"):
        maven.from_pretrained(_damage(path, tmp_path / "shape", reshape))


def test_bad_folders_and_arguments(folders, tmp_path):
    path = folders["towers"][1]
    with pytest.raises(ConfigError, match="no such model folder"):
        maven.from_pretrained(tmp_path / "nowhere" / "at" / "all")
    with pytest.raises(ConfigError, match="task must be one of"):
        maven.from_pretrained(path, task="regression")
    with pytest.raises(ConfigError, match="head settings"):
        maven.from_pretrained(path, head_dropout=0.1)
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text((path / "config.json").read_text())
    (no_weights / "pytorch_model.bin").write_bytes(b"pickles are never read")
    with pytest.raises(FormatError, match="safetensors weights only"):
        maven.from_pretrained(no_weights)
    cfg = json.loads((path / "config.json").read_text())
    (no_weights / "config.json").write_text(json.dumps({**cfg, "architectures": ["BertModel"]}))
    with pytest.raises(ConfigError, match="'architectures'"):
        maven.from_pretrained(no_weights)
    (no_weights / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="config.json"):
        maven.from_pretrained(no_weights)
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "config.json").write_text((path / "config.json").read_text())
    (tmp_path / "garbage" / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(FormatError, match="not a readable safetensors"):
        maven.from_pretrained(tmp_path / "garbage")
    head, _ = folders["head"]
    bare = _save(head, tmp_path / "bare-head")
    with pytest.raises(ConfigError, match="processor"):
        maven.from_pretrained(bare)


def test_hub_ids_are_read_from_the_cache_offline(folders, tmp_path):
    """A Hub repository in the Hugging Face cache loads with nothing downloaded; one that
    is not cached is a clear error, not a network call."""
    head, path = folders["head"]
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--maven-test--tiny-head"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for f in path.iterdir():
        (snapshot / f.name).write_bytes(f.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    hub = {"cache_dir": tmp_path / "hub", "local_files_only": True}
    model, processor = maven.from_pretrained("maven-test/tiny-head", **hub)
    assert _same(model, head) and processor.spectrum_frame == "rest"
    assert MavenProcessor.from_pretrained("maven-test/tiny-head", **hub).spectrum_frame == "rest"
    with pytest.raises(ConfigError, match="not a Hugging Face Hub model that can be had"):
        maven.from_pretrained("maven-test/not-cached", **hub)
