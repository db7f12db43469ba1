"""Embedding supernovae with a :class:`~maven.models.MavenModel`, and naming the model.

:func:`embed_supernovae` runs the processor and the model in length-sorted batches (little
padding, :func:`~maven.models.inference.iter_batches`) and returns L2-normalised
:class:`~maven.search.Embeddings` in the input order. :func:`model_hash` is the model
identity an index records in its manifest: the same weights give the same hash whether the
model is in memory or in a ``save_pretrained`` folder.
:func:`supernova_metadata` is the row an index stores next to each vector.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maven.errors import ConfigError, FormatError, MavenError
from maven.search.embeddings import MODALITIES, Embeddings

__all__ = ["embed_supernovae", "model_hash", "model_name", "supernova_metadata"]


def _hash_tensors(items) -> str:
    """sha256 over (name, dtype, shape, bytes) of named tensors, sorted by name."""
    import torch

    h = hashlib.sha256()
    for name, t in sorted(items, key=lambda kv: kv[0]):
        t = t.detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        if t.dtype == torch.bfloat16:
            t = t.view(torch.int16)
        h.update(t.numpy().tobytes())
    return "sha256:" + h.hexdigest()


def model_hash(model: Any) -> str:
    """The identity of a model's weights: ``"sha256:<hex>"``.

    Args:
        model: a loaded ``MavenModel`` (any torch module), or a ``save_pretrained`` folder
            (its ``*.safetensors`` files are read; nothing is unpickled).

    The hash covers every tensor's name, dtype, shape and bytes, so a model and the folder it
    was saved to hash the same, and any change of weights changes the hash.

    Raises:
        MavenError: a folder without safetensors weights.
    """
    if isinstance(model, (str, Path)):
        from safetensors.torch import load_file

        folder = Path(model)
        files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
        if not files:
            raise FormatError(f"{folder}: no *.safetensors weights to hash (not a model folder?)")
        tensors: dict = {}
        for f in files:
            tensors.update(load_file(str(f)))
        return _hash_tensors(tensors.items())
    if not hasattr(model, "state_dict"):
        raise MavenError(f"model_hash needs a model or a model folder, got {type(model).__name__}")
    return _hash_tensors(model.state_dict().items())


def model_name(model: Any) -> str:
    """A readable name for a model: its folder name, ``name_or_path`` or class name."""
    if isinstance(model, (str, Path)):
        return Path(model).resolve().name
    name = getattr(model, "name_or_path", "") or getattr(
        getattr(model, "config", None), "_name_or_path", ""
    )
    return str(name) if name else type(model).__name__


def _survey(sn) -> str | None:
    meta = sn.meta if isinstance(sn.meta, dict) else {}
    if isinstance(meta.get("survey"), str):
        return meta["survey"]
    if sn.lightcurve is not None:
        prefixes = sorted({str(b).split("::")[0] for b in sn.lightcurve.band if "::" in str(b)})
        if prefixes:
            return "+".join(prefixes)
    return None


def supernova_metadata(sn) -> dict:
    """The metadata row of one supernova: id, aliases, type, redshift, survey.

    ``survey`` is ``meta["survey"]`` when set, otherwise the band-name prefixes of the light
    curve (``"ztf"`` for ``ztf::g``/``ztf::r``), otherwise ``None``.
    """
    return {
        "id": sn.id,
        "aliases": list(sn.aliases),
        "type": sn.type,
        "redshift": sn.redshift,
        "survey": _survey(sn),
    }


def embed_supernovae(
    model,
    processor,
    supernovae: Sequence,
    *,
    batch_size: int = 256,
    progress: bool = True,
) -> Embeddings:
    """Embed supernovae with both towers.

    Objects are processed in batches sorted by light-curve length (the processor pads to the
    longest light curve of a batch), with the model in eval mode under ``torch.inference_mode``;
    the results come back in the input order. The model's train/eval mode is restored.

    Args:
        model: a ``MavenModel``.
        processor: its ``MavenProcessor``.
        supernovae: the records.
        batch_size: objects per forward pass.
        progress: show a tqdm progress bar.

    Returns:
        :class:`~maven.search.Embeddings` (no model identity: the caller knows the model),
        L2-normalised, zero where a modality is missing, metadata from
        :func:`supernova_metadata`.

    Raises:
        MavenError: bad ``batch_size``, an empty list, what the processor raises (an input
            out of range, naming the object), or non-finite embeddings (naming the objects).
    """
    from maven.models.inference import iter_batches

    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    sne = list(supernovae)
    if not sne:
        raise MavenError("no supernovae to embed")
    dim, n = int(model.config.projection_dim), len(sne)
    vectors = {m: np.zeros((n, dim), np.float32) for m in MODALITIES}
    has = {m: np.zeros(n, bool) for m in MODALITIES}
    batches = iter_batches(
        model,
        processor,
        sne,
        batch_size=batch_size,
        by_length=True,
        progress=progress,
        desc="embedding",
    )
    for rows, batch, res in batches:
        for m in MODALITIES:
            emb = getattr(res, f"{m}_embeds")
            present = batch[f"has_{m}"].cpu().numpy().astype(bool)
            if emb is not None:
                vals = emb.float().cpu().numpy()
                vals[~present] = 0.0
                bad = np.flatnonzero(~np.isfinite(vals).all(axis=1))
                if bad.size:  # the processor's input is finite: the weights are not
                    names = [sne[rows[j]].id for j in bad[:5]]
                    raise MavenError(
                        f"the model gave non-finite {m} embeddings for {bad.size} "
                        f"object(s), e.g. {names} (damaged weights?)"
                    )
                vectors[m][rows] = vals
            has[m][rows] = present
    return Embeddings(
        ids=[sn.id for sn in sne],
        vectors=vectors,
        has=has,
        metadata=[supernova_metadata(sn) for sn in sne],
    )
