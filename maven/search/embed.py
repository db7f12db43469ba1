"""Embedding supernovae with a :class:`~maven.models.MavenModel`, and naming the model.

:func:`embed_supernovae` runs the processor and the model in length-sorted batches (little
padding), in eval mode without gradients, and returns L2-normalised embeddings in the input
order. :func:`model_hash` is the model identity an index records in its manifest: the same
weights give the same hash whether the model is in memory or in a ``save_pretrained`` folder.
:func:`supernova_metadata` is the row an index stores next to each vector.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maven.errors import MavenError

__all__ = ["embed_supernovae", "model_hash", "model_name", "supernova_metadata", "MODALITIES"]

#: the two embedding towers, also the modality names stored in an index
MODALITIES = ("photometry", "spectrum")


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
            raise MavenError(f"{folder}: no *.safetensors weights to hash (not a model folder?)")
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
) -> dict[str, Any]:
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
        a dict with ``ids`` (list of N str), ``photometry`` and ``spectrum`` (N, D) float32,
        L2-normalised (rows where the modality is missing are zero), ``has_photometry`` and
        ``has_spectrum`` (N,) bool, and ``metadata`` (N dicts, :func:`supernova_metadata`).

    Raises:
        MavenError: bad ``batch_size``, an empty list, what the processor raises (an input
            out of range, naming the object), or non-finite embeddings (naming the objects).
    """
    import torch

    if not isinstance(batch_size, int) or batch_size < 1:
        raise MavenError(f"batch_size must be a positive integer, got {batch_size!r}")
    sne = list(supernovae)
    if not sne:
        raise MavenError("no supernovae to embed")
    dim = int(model.config.projection_dim)
    n = len(sne)
    out = {
        "photometry": np.zeros((n, dim), np.float32),
        "spectrum": np.zeros((n, dim), np.float32),
        "has_photometry": np.zeros(n, bool),
        "has_spectrum": np.zeros(n, bool),
    }
    lengths = np.array([0 if sn.lightcurve is None else len(sn.lightcurve) for sn in sne])
    order = np.argsort(lengths, kind="stable")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    from tqdm.auto import tqdm

    try:
        with torch.inference_mode():
            bar = tqdm(total=n, desc="embedding", unit="obj", disable=not progress)
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                batch = processor([sne[i] for i in idx])
                batch = {k: v.to(device) for k, v in batch.items()}
                res = model(**batch)
                for m in MODALITIES:
                    emb = getattr(res, f"{m}_embeds")
                    has = batch[f"has_{m}"].cpu().numpy().astype(bool)
                    if emb is not None:
                        vals = emb.float().cpu().numpy()
                        vals[~has] = 0.0
                        bad = np.flatnonzero(~np.isfinite(vals).all(axis=1))
                        if bad.size:  # the processor's input is finite: the weights are not
                            names = [sne[idx[j]].id for j in bad[:5]]
                            raise MavenError(
                                f"the model gave non-finite {m} embeddings for {bad.size} "
                                f"object(s), e.g. {names} (damaged weights?)"
                            )
                        out[m][idx] = vals
                    out[f"has_{m}"][idx] = has
                bar.update(len(idx))
            bar.close()
    finally:
        model.train(was_training)
    out["ids"] = [sn.id for sn in sne]
    out["metadata"] = [supernova_metadata(sn) for sn in sne]
    return out
