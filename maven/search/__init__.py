"""Similarity search, cross-modal retrieval and novelty over maven embeddings (FAISS).

>>> from maven.search import EmbeddingIndex, embed_supernovae, model_hash   # doctest: +SKIP
>>> emb = embed_supernovae(model, processor, supernovae)                    # doctest: +SKIP
>>> index = EmbeddingIndex.from_embeddings(emb, model_hash=model_hash(model))  # doctest: +SKIP
>>> index.search(emb.vectors["photometry"][:1], k=5, modality="spectrum")   # doctest: +SKIP

Modules: :mod:`~maven.search.embeddings` (the :class:`Embeddings` of a set of objects and
their parquet file), :mod:`~maven.search.embed` (embedding records, model identity),
:mod:`~maven.search.index` (the :class:`EmbeddingIndex`) over
:mod:`~maven.search.backends` (one FAISS back-end per index type),
:mod:`~maven.search.metadata` and :mod:`~maven.search.storage` (the verified folder on
disk), :mod:`~maven.search.novelty` (kNN novelty scores) and :mod:`~maven.search.api` (what
the CLI calls). See ``embeddings/README.md`` for the recipes (building from real data,
querying, novelty, sharding).
"""

from __future__ import annotations

from maven.search.api import (
    build_index,
    embed_dataset,
    index_info,
    novelty_table,
    search,
    write_table,
)
from maven.search.backends import AUTO_EXACT_MAX, DEFAULT_PARAMS, INDEX_TYPES
from maven.search.embed import embed_supernovae, model_hash, model_name, supernova_metadata
from maven.search.embeddings import MODALITIES, Embeddings
from maven.search.index import EmbeddingIndex
from maven.search.novelty import calibrate, knn_scores, novelty_scores, score_percentile
from maven.search.vectors import exact_knn, normalize

__all__ = [
    "AUTO_EXACT_MAX",
    "DEFAULT_PARAMS",
    "INDEX_TYPES",
    "MODALITIES",
    "EmbeddingIndex",
    "Embeddings",
    "build_index",
    "calibrate",
    "embed_dataset",
    "embed_supernovae",
    "exact_knn",
    "index_info",
    "knn_scores",
    "model_hash",
    "model_name",
    "normalize",
    "novelty_scores",
    "novelty_table",
    "score_percentile",
    "search",
    "supernova_metadata",
    "write_table",
]
