import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from maven import ConfigError, MavenError
from maven.data.records import Supernova
from maven.io import write_dataset
from maven.models import MavenProcessor
from maven.training.data import RecordSource, epoch_items
from maven.training.objectives import record_targets
from maven.training.shards import (
    MANIFEST,
    ShardSource,
    _open_safetensors,
    collate,
    pretokenize,
)

from .toy import toy_supernovae


def _records(n: int = 10) -> list[Supernova]:
    """Toy pairs of different light-curve lengths, one without a redshift, and one object
    without a spectrum (not a pair: left out)."""
    sne = toy_supernovae(n, seed=4)
    for i, sn in enumerate(sne):
        sn.lightcurve = sn.lightcurve.select(np.arange(len(sn.lightcurve)) < 12 + 3 * i)
    sne[1].redshift = None
    sne.append(Supernova("lonely", lightcurve=sne[0].lightcurve))
    return sne


@pytest.fixture
def source(tmp_path) -> Path:
    return write_dataset(_records(), tmp_path / "src", shard_size=4)


def _equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f"), k


def test_shards_round_trip_to_the_processor_output(source, tmp_path):
    proc = MavenProcessor(max_tokens=20)  # some light curves exceed the budget
    out = pretokenize(source, tmp_path / "tok", proc, views=1, augment=False, shard_size=3)
    shards = ShardSource(out, proc, augment=False)
    records = [sn for sn in _records() if sn.spectra]
    assert len(shards) == len(records) == 10
    manifest = json.loads((out / MANIFEST).read_text())
    assert [s["objects"] for s in manifest["shards"]] == [3, 3, 3, 1]
    expected = {**proc(records, return_tensors="np"), **record_targets(records)}
    # every key the processor returns, padded as the processor pads a batch of all of them
    _equal(collate([shards.row(i, 0) for i in range(10)]), expected)
    # a training batch: the objects of epoch_items in that order
    items = epoch_items(10, 3, 1, 2, 4, seed=5)
    picked = [records[i] for _, i in items]
    expected = {**proc(picked, return_tensors="np"), **record_targets(picked)}
    _equal(shards.batch(3, 1, 2, 4, seed=5), expected)
    # the memory-mapped reader gives what safetensors' own reader gives
    path = out / "shard-00001.safetensors"
    mine, meta = _open_safetensors(path)
    theirs = load_file(str(path))
    assert mine.keys() == theirs.keys() and json.loads(meta["maven"])["rows"] == 3
    for k in theirs:
        assert np.array_equal(mine[k], theirs[k], equal_nan=True), k


def test_augmented_views_are_the_processor_with_seeded_generators(source, tmp_path):
    proc = MavenProcessor()
    out = pretokenize(source, tmp_path / "tok", proc, views=3, seed=11, shard_size=4)
    shards = ShardSource(out, proc, augment=True)
    records = [sn for sn in _records() if sn.spectra]
    for obj, view in ((0, 0), (5, 2), (9, 1)):
        rng = np.random.default_rng([11, obj, view])
        expected = proc([records[obj]], augment=rng, return_tensors="np")
        got = collate([shards.row(obj, view)])
        for k in expected:
            assert np.array_equal(got[k], expected[k]), (obj, view, k)
    assert not np.array_equal(
        shards.row(5, 0)["photometry_mask"], shards.row(5, 1)["photometry_mask"]
    )
    # epoch e shows object i its view (e + i) % views: the batch of step 0 is epoch 0
    (epoch, obj), *_ = epoch_items(len(shards), 0, 0, 1, 1, seed=2)
    row = collate([shards.row(obj, (epoch + obj) % 3)])
    _equal(shards.batch(0, 0, 1, 1, seed=2), row)
    with pytest.raises(MavenError, match="no row"):
        shards.row(10, 0)


def test_pretokenize_is_deterministic_and_continues_an_interrupted_run(source, tmp_path):
    proc = MavenProcessor()
    a = pretokenize(source, tmp_path / "a", proc, views=2, shard_size=4)
    b = pretokenize(source, tmp_path / "b", proc, views=2, shard_size=4)
    files = sorted(p.name for p in a.glob("shard-*"))
    assert files == sorted(p.name for p in b.glob("shard-*")) and len(files) == 3
    for name in [*files, MANIFEST]:
        if name != MANIFEST:
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    manifest_b = json.loads((b / MANIFEST).read_text())
    assert {**json.loads((a / MANIFEST).read_text()), "source": None} == {
        **manifest_b,
        "source": None,
    }
    # interrupted: no manifest, one shard missing; the others are kept, not rewritten
    (a / MANIFEST).unlink()
    (a / "shard-00001.safetensors").unlink()
    kept = (a / "shard-00000.safetensors").stat().st_mtime_ns
    pretokenize(source, a, proc, views=2, shard_size=4)
    assert (a / "shard-00000.safetensors").stat().st_mtime_ns == kept
    assert (a / "shard-00001.safetensors").read_bytes() == (
        b / "shard-00001.safetensors"
    ).read_bytes()
    with pytest.raises(ConfigError, match="already holds"):
        pretokenize(source, a, proc, views=2, shard_size=4)
    pretokenize(source, a, proc, views=1, shard_size=4, overwrite=True)
    assert ShardSource(a, proc, augment=True).views == 1


def test_stale_or_mismatched_shards_are_refused(source, tmp_path, monkeypatch):
    proc = MavenProcessor()
    out = pretokenize(source, tmp_path / "tok", proc, views=2, shard_size=4)
    with pytest.raises(ConfigError, match=r"stale.*processor options differ: \['max_tokens'\]"):
        ShardSource(out, MavenProcessor(max_tokens=8), augment=True)
    with pytest.raises(ConfigError, match="augment=False"):
        ShardSource(out, proc, augment=False)

    call = MavenProcessor.__call__

    def changed(self, *args, **kwargs):  # same options, other output: a processor code change
        out = call(self, *args, **kwargs)
        out["photometry_time"] = out["photometry_time"] * 2
        return out

    monkeypatch.setattr(MavenProcessor, "__call__", changed)
    with pytest.raises(ConfigError, match="output has changed"):
        ShardSource(out, proc, augment=True)
    monkeypatch.undo()
    (out / "shard-00002.safetensors").unlink()
    with pytest.raises(ConfigError, match="shards missing"):
        ShardSource(out, proc, augment=True)
    (out / MANIFEST).write_text('{"format": "something else"}')
    with pytest.raises(ConfigError, match="shard format"):
        ShardSource(out, proc, augment=True)
    (out / MANIFEST).write_text("{")
    with pytest.raises(ConfigError, match="cannot read"):
        ShardSource(out, proc, augment=True)


def test_pretokenize_bad_input(source, tmp_path):
    proc = MavenProcessor()
    for kw, match in (
        ({"views": 0}, "views"),
        ({"shard_size": 0}, "shard_size"),
        ({"workers": 1.5}, "workers"),
        ({"views": 2, "augment": False}, "needs augment"),
    ):
        with pytest.raises(ConfigError, match=match):
            pretokenize(source, tmp_path / "x", proc, **kw)
    lonely = write_dataset([_records()[-1]], tmp_path / "lonely")
    with pytest.raises(MavenError, match="no supernova has both"):
        pretokenize(lonely, tmp_path / "y", proc)
    with pytest.raises(MavenError, match="no rows"):
        collate([])
    with pytest.raises(MavenError, match="different dtypes"):
        collate([{"a": np.zeros(2, np.float32)}, {"a": np.zeros(2, np.int64)}])
    with pytest.raises(MavenError, match="different keys"):
        collate([{"a": np.zeros(2)}, {"b": np.zeros(2)}])


def test_record_source_and_shards_give_the_same_batches(source, tmp_path):
    proc = MavenProcessor()
    shards = ShardSource(pretokenize(source, tmp_path / "tok", proc, augment=False), proc, False)
    records = RecordSource(source)
    for step in (0, 4):  # epoch 0 and (10 objects, global batch 6) epoch 2
        recs = records.batch(step, 0, 2, 3, seed=1)
        expected = {**proc(recs, return_tensors="np"), **record_targets(recs)}
        _equal(shards.batch(step, 0, 2, 3, seed=1), expected)


def test_length_bucketing_batches_similar_rows_and_sees_the_same_objects(source, tmp_path):
    proc = MavenProcessor()
    out = pretokenize(source, tmp_path / "tok", proc, augment=False)
    plain = ShardSource(out, proc, augment=False)
    bucketed = ShardSource(out, proc, augment=False, bucket=3)
    length = plain.sizes()[:, 0]
    assert (np.diff(length) > 0).all()  # the toy light curves grow with the index

    # a window of 3 global batches of 2 ranks x 2: the same objects, sorted into batches
    def objects(src, step, rank):
        return src.batch(step, rank, 2, 2, seed=4)["photometry_mask"].sum(axis=1).tolist()

    seen_plain = sorted(x for s in range(3) for r in range(2) for x in objects(plain, s, r))
    seen = {s: objects(bucketed, s, 0) + objects(bucketed, s, 1) for s in range(3)}
    assert sorted(x for v in seen.values() for x in v) == seen_plain
    spans = sorted((min(v), max(v)) for v in seen.values())
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))  # disjoint ranges
    assert seen == {s: objects(bucketed, s, 0) + objects(bucketed, s, 1) for s in range(3)}
    with pytest.raises(ConfigError, match="bucket"):
        ShardSource(out, proc, augment=False, bucket=-1)
