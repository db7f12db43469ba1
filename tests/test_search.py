"""maven.search: exact search, approximate indexes, persistence and its checks, novelty."""

import hashlib
import json

import numpy as np
import pytest

from maven import IndexFormatError, MavenError
from maven.search import (
    EmbeddingIndex,
    calibrate,
    exact_knn,
    novelty_scores,
    novelty_table,
)

DIM = 16


def clustered(n, seed=0, dim=DIM, ncomp=20):
    """Unit vectors from a Gaussian mixture on a 4-d latent manifold (like real embeddings)."""
    base = np.random.default_rng(99)
    centres = base.normal(size=(ncomp, 4))
    mix = base.normal(size=(4, dim))
    rng = np.random.default_rng(seed)
    z = centres[rng.integers(0, ncomp, n)] + 0.3 * rng.normal(size=(n, 4))
    x = z @ mix + 0.02 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def meta(n, start=0):
    return [
        {"id": f"sn{i}", "aliases": [f"alias{i}"], "type": "Ia", "redshift": 0.01 * i}
        for i in range(start, start + n)
    ]


def flat_index(n=500, seed=0, **kw):
    idx = EmbeddingIndex(DIM, model_hash="sha256:m1", model_name="m1", **kw)
    x = clustered(n, seed)
    idx.add(x, meta(n), modality="photometry")
    return idx, x


def test_exact_search_matches_brute_force():
    idx, x = flat_index(500)
    assert idx.info()["indexes"]["photometry"]["type"] == "flat"
    q = np.random.default_rng(5).normal(size=(20, DIM))
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    dist, keys = idx.search_vectors(q, 10, modality="photometry")
    sims = qn @ x.T
    order = np.argsort(-sims, axis=1)[:, :10]
    np.testing.assert_array_equal(keys, order)
    np.testing.assert_allclose(dist, 1 - np.take_along_axis(sims, order, 1), atol=1e-5)
    _, pos = exact_knn(qn.astype(np.float32), x, 10)
    np.testing.assert_array_equal(pos, order)
    hits = idx.search(q[:2], 3, modality="photometry")
    assert [h["rank"] for h in hits[0]] == [1, 2, 3]
    assert hits[0][0]["id"] == f"sn{order[0, 0]}" and hits[0][0]["type"] == "Ia"
    assert hits[0][0]["modality"] == "photometry"


def test_search_by_id_alias_exclusion_add_remove():
    idx, x = flat_index(200)
    res = idx.search_ids("alias7", k=3)[0]
    assert res["query_id"] == "sn7" and all(h["id"] != "sn7" for h in res["hits"])
    with_self = idx.search_ids(["sn7"], k=1, exclude_self=False)[0]["hits"][0]
    assert with_self["id"] == "sn7" and with_self["distance"] == pytest.approx(0, abs=1e-5)
    # incremental add, then remove by id and by alias
    extra = clustered(50, seed=1)
    keys = idx.add(extra, meta(50, start=200), modality="photometry")
    assert len(idx) == 250 and keys[0] == 200
    assert idx.search(extra[0], 1, modality="photometry")[0][0]["id"] == "sn200"
    assert idx.remove(["sn200", "alias201", "nope"]) == 2
    assert len(idx) == 248
    found = {h["id"] for h in idx.search(extra[:2], 5, modality="photometry")[0]}
    assert not found & {"sn200", "sn201"}
    with pytest.raises(MavenError, match="not in the index"):
        idx.search_ids("sn200")
    with pytest.raises(MavenError, match="dimension"):
        idx.search_vectors(np.ones(DIM + 1), 1, modality="photometry")
    with pytest.raises(MavenError, match="zero vector"):
        idx.add(np.zeros((1, DIM)), meta(1), modality="photometry")
    with pytest.raises(MavenError, match="id"):
        idx.add(np.ones((1, DIM)), [{"type": "Ia"}], modality="photometry")
    with pytest.raises(MavenError, match="modality"):
        idx.search_vectors(np.ones(DIM), 1, modality="radio")
    # an empty modality answers with no hits, not an error
    assert idx.search(np.ones(DIM), 3, modality="spectrum") == [[]]


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_approximate_indexes_recall_remove_and_round_trip(kind, tmp_path):
    n = 3000
    params = {"pq_m": 16, "nlist": 32, "opq_niter": 2} if kind == "ivfpq" else {}
    idx = EmbeddingIndex(DIM, model_hash="sha256:m1", index_type=kind, params=params)
    x = clustered(n)
    idx.add(x, meta(n), modality="photometry")
    info = idx.info()["indexes"]["photometry"]
    assert info["type"] == kind
    assert info["params"]["tuned_recall10"] > 0.7
    q = clustered(100, seed=3)
    _, truth = exact_knn(q, x, 10)
    _, keys = idx.search_vectors(q, 10, modality="photometry")
    recall = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(keys, truth, strict=True)])
    assert recall > 0.7
    # query by id reconstructs the stored (compressed) vector
    hit = idx.search_ids("sn5", k=1, exclude_self=False)[0]["hits"][0]
    assert hit["id"] == "sn5"
    assert idx.remove(["sn5", "sn6"]) == 2
    _, keys = idx.search_vectors(x[5:7], 20, modality="photometry")
    assert not np.isin(keys, [5, 6]).any()
    idx.save(tmp_path / "idx")
    back = EmbeddingIndex.load(tmp_path / "idx", model_hash="sha256:m1")
    assert len(back) == n - 2
    d1, k1 = idx.search_vectors(q, 10, modality="photometry")
    d2, k2 = back.search_vectors(q, 10, modality="photometry")
    np.testing.assert_array_equal(k1, k2)
    np.testing.assert_allclose(d1, d2, atol=1e-5)


def test_auto_type_and_bad_options():
    idx, _ = flat_index(50, index_type="auto")
    assert idx.info()["indexes"]["photometry"]["type"] == "flat"
    with pytest.raises(MavenError, match="index type"):
        EmbeddingIndex(DIM, index_type="annoy")
    with pytest.raises(MavenError, match="unknown index params"):
        EmbeddingIndex(DIM, params={"nprob": 3})


def test_save_load_round_trip(tmp_path):
    idx, x = flat_index(300)
    idx.add(clustered(40, seed=2), meta(40, start=1000), modality="spectrum")
    calibrate(idx, modality="photometry", k=5)
    path = idx.save(tmp_path / "index")
    names = sorted(p.name for p in path.iterdir())
    assert names == [
        "calibration.json",
        "manifest.json",
        "metadata.parquet",
        "photometry.faiss",
        "spectrum.faiss",
    ]
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["model"] == {"name": "m1", "hash": "sha256:m1"}
    assert manifest["dim"] == DIM and manifest["count"] == 340
    assert manifest["counts"] == {"photometry": 300, "spectrum": 40}
    assert set(manifest["files"]) == set(names) - {"manifest.json"}
    assert all(len(f["sha256"]) == 64 for f in manifest["files"].values())
    back = EmbeddingIndex.load(path)
    assert back.metadata.to_pylist() == idx.metadata.to_pylist()
    np.testing.assert_allclose(
        back.calibration["photometry"]["scores"], idx.calibration["photometry"]["scores"]
    )
    q = clustered(5, seed=9)
    for m in ("photometry", "spectrum"):
        assert back.search(q, 4, modality=m) == idx.search(q, 4, modality=m)
    # keys keep increasing after a reload
    k = back.add(x[:1], meta(1, start=5000), modality="photometry")
    assert k[0] == 340
    # saving over an existing index replaces it and leaves no temporary folders behind (only
    # the writers' lock file)
    back.save(path)
    assert EmbeddingIndex.load(path).count() == 341
    assert sorted(p.name for p in tmp_path.iterdir()) == [".index.lock", "index"]


def test_metadata_is_compact_and_older_plain_string_indexes_load(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    idx, _ = flat_index(200)
    assert pa.types.is_dictionary(idx.metadata.schema.field("modality").type)
    assert not idx._keys.flags.owndata  # keys are a view of the table, not a second copy
    path = idx.save(tmp_path / "index")
    f = path / "metadata.parquet"
    table = pq.read_table(f)
    plain = table.cast(
        pa.schema(
            [
                fl if not pa.types.is_dictionary(fl.type) else (fl.name, pa.string())
                for fl in table.schema
            ]
        )
    )
    pq.write_table(plain, f)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["metadata.parquet"] = {
        "bytes": f.stat().st_size,
        "sha256": hashlib.sha256(f.read_bytes()).hexdigest(),
    }
    (path / "manifest.json").write_text(json.dumps(manifest))
    back = EmbeddingIndex.load(path)
    assert back.metadata.to_pylist() == idx.metadata.to_pylist()
    assert back.metadata.schema == idx.metadata.schema
    q = clustered(3, seed=4)
    assert back.search(q, 5, modality="photometry") == idx.search(q, 5, modality="photometry")


def _saved(tmp_path):
    idx, _ = flat_index(100)
    return idx, idx.save(tmp_path / "index")


def test_truncated_file_is_a_clear_error(tmp_path):
    _, path = _saved(tmp_path)
    f = path / "photometry.faiss"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(IndexFormatError, match="truncated"):
        EmbeddingIndex.load(path)


def test_corrupted_file_is_a_clear_error(tmp_path):
    _, path = _saved(tmp_path)
    f = path / "metadata.parquet"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match="checksum"):
        EmbeddingIndex.load(path)


def test_missing_foreign_and_mismatched_indexes(tmp_path):
    idx, path = _saved(tmp_path)
    with pytest.raises(IndexFormatError, match="no such index"):
        EmbeddingIndex.load(tmp_path / "nothing")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "index.faiss").write_bytes(b"\0" * 64)
    with pytest.raises(IndexFormatError, match="not a maven index"):
        EmbeddingIndex.load(tmp_path / "foreign")
    (tmp_path / "foreign" / "manifest.json").write_text('{"format": "other"}')
    with pytest.raises(IndexFormatError, match="not a maven index"):
        EmbeddingIndex.load(tmp_path / "foreign")
    (tmp_path / "foreign" / "manifest.json").write_text("{not json")
    with pytest.raises(IndexFormatError, match="unreadable manifest"):
        EmbeddingIndex.load(tmp_path / "foreign")
    # a file swapped in from another index: the checksum no longer matches
    other = EmbeddingIndex(DIM)
    other.add(clustered(7, seed=4), meta(7), modality="photometry")
    other.save(tmp_path / "other")
    (path / "photometry.faiss").write_bytes((tmp_path / "other" / "photometry.faiss").read_bytes())
    with pytest.raises(IndexFormatError, match="photometry.faiss"):
        EmbeddingIndex.load(path)
    # an index built with another model
    idx.save(path)
    with pytest.raises(IndexFormatError, match="requested model"):
        EmbeddingIndex.load(path, model_hash="sha256:m2")
    loaded = EmbeddingIndex.load(path, model_hash="sha256:m1")
    with pytest.raises(IndexFormatError, match="another model"):
        loaded.search(np.ones(DIM), 3, modality="photometry", model_hash="sha256:m2")
    with pytest.raises(IndexFormatError, match="another model"):
        loaded.add(np.ones((1, DIM)), meta(1), modality="photometry", model_hash="sha256:m2")


def test_failed_save_keeps_the_previous_index(tmp_path, monkeypatch):
    import faiss

    idx, path = _saved(tmp_path)
    idx.add(clustered(10, seed=7), meta(10, start=100), modality="photometry")

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(faiss, "write_index", broken)
    with pytest.raises(IndexFormatError, match="disk full"):
        idx.save(path)
    assert EmbeddingIndex.load(path).count() == 100
    assert sorted(p.name for p in tmp_path.iterdir()) == [".index.lock", "index"]


def test_novelty_duplicate_low_outlier_high(tmp_path):
    idx, x = flat_index(2000)
    cal = calibrate(idx, modality="photometry", k=10)
    assert len(cal["scores"]) == 2000 and np.all(np.diff(cal["scores"]) >= 0)
    rng = np.random.default_rng(11)
    outlier = rng.normal(size=DIM)
    outlier -= (outlier @ x.mean(0)) * x.mean(0) / (x.mean(0) @ x.mean(0))  # off the manifold
    dup = x[17]  # an exact copy of a reference object
    res = novelty_scores(idx, np.stack([dup, outlier]), modality="photometry", k=10)
    assert res["score"][0] < res["score"][1]
    assert res["percentile"][0] < 50
    assert res["percentile"][1] > 99
    assert res["nearest_id"][0] == "sn17" and res["nearest_distance"][0] == pytest.approx(
        0, abs=1e-5
    )
    # leave-one-out: a reference object scored against the others is typical
    loo = novelty_scores(idx, dup, modality="photometry", k=10, exclude_ids=["sn17"])
    assert 0 < loo["percentile"][0] <= 100 and loo["nearest_id"][0] != "sn17"
    # the novelty table ranks an injected outlier first
    idx.add(outlier, [{"id": "weird"}], modality="photometry")
    idx.add(dup, [{"id": "copy_of_17"}], modality="photometry")
    table = novelty_table(idx, k=10, output=tmp_path / "novelty.csv")
    assert table[0]["id"] == "weird" and table[0]["rank"] == 1
    assert table[0]["percentile"] > 99
    by_id = {r["id"]: r for r in table}
    assert by_id["copy_of_17"]["percentile"] < 50
    assert (tmp_path / "novelty.csv").read_text().splitlines()[0].startswith('"rank","id"')


def test_docstring_examples():
    import doctest

    import maven.search.index

    assert doctest.testmod(maven.search.index).failed == 0
