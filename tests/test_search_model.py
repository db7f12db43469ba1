"""maven.search with a real (tiny, briefly trained) model: embedding, model identity, the
task-level functions behind the CLI, and cross-modal retrieval that beats chance."""

import math

import numpy as np
import pytest
import torch

from maven.data.records import Supernova
from maven.errors import IndexFormatError
from maven.models import MavenConfig, MavenModel, MavenProcessor
from maven.search import (
    EmbeddingIndex,
    Embeddings,
    build_index,
    embed_dataset,
    embed_supernovae,
    index_info,
    model_hash,
    novelty_table,
    search,
)

from .toy import toy_supernovae

N = 32


def _varied(sne):
    """Light curves of different lengths, plus a spectrum-only and a photometry-only object."""
    out = []
    for i, sn in enumerate(sne):
        keep = np.arange(len(sn.lightcurve)) < 12 + (i * 7) % 29
        out.append(
            Supernova(
                sn.id,
                lightcurve=sn.lightcurve.select(keep),
                spectra=sn.spectra,
                aliases=[f"AT{i}"],
                type_raw=sn.type_raw,
                redshift=sn.redshift,
            )
        )
    out.append(Supernova("speconly", spectra=sne[0].spectra))
    out.append(Supernova("lconly", lightcurve=sne[1].lightcurve))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.manual_seed(0)
    sne = toy_supernovae(N, seed=0)
    proc = MavenProcessor()
    model = MavenModel(MavenConfig.from_preset("tiny", logit_scale_init_value=math.log(1 / 0.07)))
    batch = proc(sne)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.0)
    model.train()
    for _ in range(120):
        loss = model(**batch, return_loss=True).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    folder = tmp_path_factory.mktemp("model")
    model.save_pretrained(folder)
    proc.save_pretrained(folder)
    return model, proc, folder, sne


def test_model_hash_identity(trained, tmp_path):
    model, _, folder, _ = trained
    h = model_hash(model)
    assert h.startswith("sha256:") and h == model_hash(folder)
    other = MavenModel(MavenConfig.from_preset("tiny"))
    assert model_hash(other) != h
    with pytest.raises(Exception, match="safetensors"):
        model_hash(tmp_path)


def test_embed_supernovae_sorted_batches_keep_input_order(trained):
    model, proc, _, sne = trained
    items = _varied(sne)
    emb = embed_supernovae(model, proc, items, batch_size=5, progress=False)
    assert emb.ids == [sn.id for sn in items]
    assert emb.has["photometry"].tolist() == [True] * N + [False, True]
    assert emb.has["spectrum"].tolist() == [True] * N + [True, False]
    assert model.training  # mode restored
    norms = np.linalg.norm(emb.vectors["photometry"][:N], axis=1)
    np.testing.assert_allclose(norms, 1, atol=1e-5)
    assert not emb.vectors["photometry"][N].any()
    with torch.no_grad():
        model.eval()
        for i in (0, 7, N - 1):
            out = model(**proc([items[i]]))
            np.testing.assert_allclose(
                emb.vectors["photometry"][i], out.photometry_embeds[0], atol=2e-5
            )
            np.testing.assert_allclose(
                emb.vectors["spectrum"][i], out.spectrum_embeds[0], atol=2e-5
            )
        model.train()
    assert emb.metadata[3] == {
        "id": "toy3",
        "aliases": ["AT3"],
        "type": "Ia",
        "redshift": 0.05,
        "survey": "ztf",
    }


def test_pipeline_and_cross_modal_retrieval_beats_chance(trained, tmp_path):
    model, proc, folder, sne = trained
    items = [*sne, *_varied(sne)[N:]]  # the training objects plus one-modality objects
    summary = embed_dataset(folder, items, tmp_path / "emb.parquet", progress=False)
    assert summary["count"] == N + 2 and summary["model_hash"] == model_hash(model)
    emb = Embeddings.from_parquet(tmp_path / "emb.parquet")
    direct = embed_supernovae(model, proc, items, progress=False)
    np.testing.assert_allclose(emb.vectors["photometry"], direct.vectors["photometry"], atol=2e-5)
    assert emb.model_hash == summary["model_hash"]

    manifest = build_index(tmp_path / "emb.parquet", tmp_path / "index", novelty_k=5)
    assert manifest["counts"] == {"photometry": N + 1, "spectrum": N + 1}
    assert manifest["model"]["hash"] == model_hash(model)
    assert index_info(tmp_path / "index")["count"] == 2 * N + 2

    # cross-modal: each light curve's nearest spectra, top-5, against chance 5/(N+1)
    ids = [sn.id for sn in sne]
    res = search(
        tmp_path / "index",
        ids=ids,
        k=5,
        query_modality="photometry",
        modality="spectrum",
        exclude_self=False,
    )
    assert all(r["modality"] == "spectrum" and len(r["hits"]) == 5 for r in res)
    p2s = np.mean([r["query_id"] in {h["id"] for h in r["hits"]} for r in res])
    res = search(
        tmp_path / "index",
        ids=ids,
        k=5,
        query_modality="spectrum",
        modality="photometry",
        exclude_self=False,
    )
    s2p = np.mean([r["query_id"] in {h["id"] for h in r["hits"]} for r in res])
    chance = 5 / (N + 1)
    print(f"cross-modal top-5: p2s={p2s:.2f} s2p={s2p:.2f} chance={chance:.2f}")
    assert p2s > 3 * chance and s2p > 3 * chance, (p2s, s2p, chance)

    # a raw record, embedded on the fly with the index's model: finds itself
    hit = search(tmp_path / "index", data=items[:2], model=folder, k=1)
    assert [r["hits"][0]["id"] for r in hit] == ["toy0", "toy1"]
    assert hit[0]["hits"][0]["distance"] == pytest.approx(0, abs=1e-4)
    # ... but not with another model
    other = tmp_path / "other_model"
    MavenModel(MavenConfig.from_preset("tiny")).save_pretrained(other)
    with pytest.raises(IndexFormatError, match="model"):
        search(tmp_path / "index", data=items[:2], model=other, k=1)
    with pytest.raises(IndexFormatError, match="model"):
        EmbeddingIndex.load(tmp_path / "index", model_hash=model_hash(other))

    # novelty of new objects, embedded with the model; a table on disk
    rows = novelty_table(
        tmp_path / "index", items[:3], model=folder, k=5, output=tmp_path / "nov.parquet"
    )
    assert len(rows) == 3 and [r["rank"] for r in rows] == [1, 2, 3]
    assert all(r["percentile"] < 50 for r in rows)  # they are in the reference set
    assert (tmp_path / "nov.parquet").stat().st_size > 0
