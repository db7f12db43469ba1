"""Similarity search, cross-modal retrieval and novelty over maven embeddings (FAISS).

>>> from maven.search import EmbeddingIndex, embed_supernovae, model_hash   # doctest: +SKIP
>>> emb = embed_supernovae(model, processor, supernovae)                    # doctest: +SKIP
>>> index = EmbeddingIndex.from_embeddings(emb, model_hash=model_hash(model))  # doctest: +SKIP
>>> index.search(emb["photometry"][:1], k=5, modality="spectrum")           # doctest: +SKIP

See ``embeddings/README.md`` for the recipes (building from real data, querying, novelty,
sharding).
"""

from __future__ import annotations

from maven.search.api import (
    build_index,
    embed_dataset,
    index_info,
    novelty_table,
    read_embeddings,
    search,
    write_embeddings,
    write_table,
)
from maven.search.embed import (
    MODALITIES,
    embed_supernovae,
    model_hash,
    model_name,
    supernova_metadata,
)
from maven.search.index import (
    AUTO_EXACT_MAX,
    DEFAULT_PARAMS,
    INDEX_TYPES,
    EmbeddingIndex,
    IndexError_,
    exact_knn,
    normalize,
)
from maven.search.novelty import calibrate, knn_scores, novelty_scores, score_percentile

__all__ = [
    "AUTO_EXACT_MAX",
    "DEFAULT_PARAMS",
    "INDEX_TYPES",
    "MODALITIES",
    "EmbeddingIndex",
    "IndexError_",
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
    "read_embeddings",
    "score_percentile",
    "search",
    "supernova_metadata",
    "write_embeddings",
    "write_table",
]
