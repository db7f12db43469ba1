"""Embeddings of supernovae by both towers, with their metadata: :class:`Embeddings`.

On disk (``maven embed``) they are a parquet table, one row per object: ``id, aliases, type,
redshift, survey, has_photometry, has_spectrum, photometry, spectrum`` (the last two
fixed-size float32 lists, zeros where the modality is missing), with the model name, hash and
dimension in the schema metadata (``maven.model_name``, ``maven.model_hash``, ``maven.dim``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from maven.errors import FormatError

__all__ = ["MODALITIES", "Embeddings"]

#: the two embedding towers, also the modality names stored in an index
MODALITIES = ("photometry", "spectrum")
_META = ("id", "aliases", "type", "redshift", "survey")


@dataclasses.dataclass
class Embeddings:
    """N objects' embeddings in each modality, and their metadata.

    Attributes:
        ids: the N object ids.
        vectors: per modality (:data:`MODALITIES`), an (N, D) float32 array, L2-normalised,
            zero where the object lacks the modality.
        has: per modality, an (N,) bool mask of the objects that have it.
        metadata: N rows ``{id, aliases, type, redshift, survey}``
            (:func:`~maven.search.supernova_metadata`).
        model_hash, model_name: the model that made them, when known.
    """

    ids: list[str]
    vectors: dict[str, np.ndarray]
    has: dict[str, np.ndarray]
    metadata: list[dict]
    model_hash: str | None = None
    model_name: str | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        """The embedding dimension D."""
        return int(self.vectors["photometry"].shape[1])

    def concatenated(self, modalities: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(vectors, has)``: the vectors of ``modalities`` side by side, (N, len * D), and
        the mask of the objects that have all of them."""
        has = np.logical_and.reduce([self.has[m] for m in modalities])
        return np.concatenate([self.vectors[m] for m in modalities], axis=1), has

    def to_parquet(self, path: str | Path) -> Path:
        """Write the embeddings file (see the module docs); returns ``path``."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        dim = self.dim
        cols = {
            "id": pa.array(self.ids, pa.string()),
            "aliases": pa.array([m["aliases"] for m in self.metadata], pa.list_(pa.string())),
            "type": pa.array([m["type"] for m in self.metadata], pa.string()),
            "redshift": pa.array([m["redshift"] for m in self.metadata], pa.float64()),
            "survey": pa.array([m["survey"] for m in self.metadata], pa.string()),
            "has_photometry": pa.array(self.has["photometry"]),
            "has_spectrum": pa.array(self.has["spectrum"]),
        }
        for m in MODALITIES:
            flat = pa.array(np.ascontiguousarray(self.vectors[m], np.float32).ravel())
            cols[m] = pa.FixedSizeListArray.from_arrays(flat, dim)
        identity = {"maven.model_hash": self.model_hash, "maven.model_name": self.model_name}
        table = pa.table(cols).replace_schema_metadata(
            {**{k: v for k, v in identity.items() if v is not None}, "maven.dim": str(dim)}
        )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        return path

    @classmethod
    def from_parquet(cls, path: str | Path) -> Embeddings:
        """Read an embeddings file written by :meth:`to_parquet` (``maven embed``).

        Raises:
            FormatError: not a maven embeddings file.
        """
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:
            raise FormatError(f"{path}: not a readable parquet file ({exc})") from None
        md = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        need = {"id", "photometry", "spectrum", "has_photometry", "has_spectrum"}
        if "maven.dim" not in md or not need <= set(table.column_names):
            raise FormatError(f"{path}: not a maven embeddings file (write one with `maven embed`)")
        dim = int(md["maven.dim"])
        vectors, has = {}, {}
        for m in MODALITIES:
            flat = table[m].combine_chunks().flatten().to_numpy()
            vectors[m] = np.asarray(flat, np.float32).reshape(-1, dim)
            has[m] = table[f"has_{m}"].to_numpy().astype(bool)
        cols = [c for c in _META if c in table.column_names]
        return cls(
            ids=table["id"].to_pylist(),
            vectors=vectors,
            has=has,
            metadata=table.select(cols).to_pylist(),
            model_hash=md.get("maven.model_hash"),
            model_name=md.get("maven.model_name"),
        )

    @staticmethod
    def is_parquet(path) -> bool:
        """Whether ``path`` is an embeddings file (a parquet file with ``maven.dim``)."""
        if not isinstance(path, (str, Path)) or not Path(path).is_file():
            return False
        try:
            import pyarrow.parquet as pq

            md = pq.read_schema(path).metadata or {}
        except Exception:
            return False
        return b"maven.dim" in md
