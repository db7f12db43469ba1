"""Batched, deterministic predictions of the task heads on supernova records.

:func:`predict` runs a :class:`~maven.models.MavenForSupernovaClassification` or
:class:`~maven.models.MavenForRedshift` over any number of records with a progress bar and
returns numpy arrays: class probabilities (after the model's ``calibration_temperature``)
or redshifts with their (calibrated) 1-sigma uncertainties. The processor is never given an
augmentation generator here, so the same input always gives the same output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from maven.errors import MavenError
from maven.evaluation.calibration import apply_temperature
from maven.models.modeling_heads import MavenForRedshift, MavenForSupernovaClassification

__all__ = ["predict", "usable"]


def usable(model, processor, supernovae: Sequence, batch_size: int = 256) -> np.ndarray:
    """Boolean mask of the records that have the modality the model's head needs
    (photometry, a spectrum on the processor's grid, or either for ``"both"``)."""
    mod = model.config.head_modality
    ok = np.zeros(len(supernovae), dtype=bool)
    for i in range(0, len(supernovae), batch_size):
        chunk = supernovae[i : i + batch_size]
        if mod == "photometry":
            ok[i : i + len(chunk)] = [sn.lightcurve is not None for sn in chunk]
            continue
        ok[i : i + len(chunk)] = _has_modality(model, processor(list(chunk), return_tensors="np"))
    return ok


def _has_modality(model, batch) -> np.ndarray:
    """Per object of a processed batch: has it the input the head's modality needs?"""
    has_p, has_s = np.asarray(batch["has_photometry"]), np.asarray(batch["has_spectrum"])
    mod = model.config.head_modality
    return has_p if mod == "photometry" else has_s if mod == "spectrum" else has_p | has_s


def _require(chunk: Sequence, ok: np.ndarray, what: str) -> None:
    """Raise a MavenError naming the objects of ``chunk`` where ``ok`` is false."""
    if not ok.all():
        bad = np.flatnonzero(~ok)
        names = [getattr(chunk[j], "id", f"#{j}") for j in bad[:5]]
        raise MavenError(f"{bad.size} object(s) with {what}, e.g. {names}")


@torch.no_grad()
def predict(
    model,
    processor,
    supernovae: Sequence,
    *,
    batch_size: int = 128,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Predictions for ``supernovae`` (all must have the modality the head needs; see
    :func:`usable`).

    Returns:
        classification: ``{"logits" (N, K; raw), "probabilities" (N, K; softmax of
        (logits + config.logit_bias) / config.calibration_temperature), "predicted" (N,)
        class names, "labels" [K names], "embeddings" (N, D)}``; redshift:
        ``{"redshift" (N,), "redshift_sigma" (N,), "embeddings" (N, D)}``.

    Raises:
        MavenError: not a maven head model, records without the needed modality, or
            non-finite outputs (each naming the objects).
    """
    from tqdm.auto import tqdm

    if not isinstance(model, (MavenForSupernovaClassification, MavenForRedshift)):
        raise MavenError(f"predict needs a maven head model, got {type(model).__name__}")
    supernovae = list(supernovae)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    logits, z, sigma, emb = [], [], [], []
    try:
        for i in tqdm(range(0, len(supernovae), batch_size), desc="predict", disable=not progress):
            chunk = supernovae[i : i + batch_size]
            batch = processor(chunk)
            _require(chunk, _has_modality(model, batch), f"no {model.config.head_modality} input")
            batch = {k: v.to(device) for k, v in batch.items()}
            out = model(**batch)
            outputs = [out.embeddings.float().cpu()]
            if isinstance(model, MavenForSupernovaClassification):
                outputs.append(out.logits.float().cpu())
                logits.append(outputs[-1])
            else:
                outputs += [out.redshift_mean.float().cpu(), out.redshift_sigma.float().cpu()]
                z.append(outputs[1])
                sigma.append(outputs[2])
            finite = np.ones(len(chunk), bool)
            for t in outputs:
                finite &= torch.isfinite(t.reshape(len(chunk), -1)).all(dim=1).numpy()
            _require(chunk, finite, "non-finite model outputs (damaged weights?)")
            emb.append(outputs[0])
    finally:
        model.train(was_training)
    dim = model.feature_dim
    embeddings = torch.cat(emb).numpy() if emb else np.zeros((0, dim), np.float32)
    if isinstance(model, MavenForSupernovaClassification):
        names = [model.config.id2label[k] for k in range(model.num_labels)]
        lg = torch.cat(logits).numpy() if logits else np.zeros((0, len(names)), np.float32)
        bias = getattr(model.config, "logit_bias", None)
        adjusted = lg if bias is None else lg + np.asarray(bias, dtype=lg.dtype)
        t = float(model.config.calibration_temperature)
        probs = apply_temperature(adjusted, t) if len(lg) else np.zeros_like(adjusted)
        return {
            "logits": lg,
            "probabilities": probs,
            "predicted": [names[k] for k in probs.argmax(axis=1)] if len(probs) else [],
            "labels": names,
            "embeddings": embeddings,
        }
    return {
        "redshift": torch.cat(z).numpy() if z else np.zeros(0, np.float32),
        "redshift_sigma": torch.cat(sigma).numpy() if sigma else np.zeros(0, np.float32),
        "embeddings": embeddings,
    }
