"""Batched, deterministic inference of maven models on supernova records.

:func:`iter_batches` is the one batched-inference loop: the processor and the model over
any number of records, batch by batch. :func:`predict` runs a
:class:`~maven.models.MavenForSupernovaClassification` or
:class:`~maven.models.MavenForRedshift` with it and returns numpy arrays: class
probabilities (after the model's ``calibration_temperature``) or redshifts with their
(calibrated) 1-sigma uncertainties. The processor is never given an augmentation generator
here, so the same input always gives the same output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from maven.errors import MavenError
from maven.models.modeling_heads import MavenForRedshift, MavenForSupernovaClassification
from maven.utils.arrays import apply_temperature

__all__ = [
    "calibrated_probabilities",
    "has_modality",
    "iter_batches",
    "predict",
    "predict_batch",
    "usable",
]


def iter_batches(
    model,
    processor,
    records: Sequence,
    *,
    batch_size: int = 256,
    by_length: bool = False,
    device: str | torch.device | None = None,
    check: Callable[[Any, list], None] | None = None,
    progress: bool = False,
    desc: str = "inference",
) -> Iterator[tuple[np.ndarray, Any, Any]]:
    """Run ``model`` over ``records``, ``batch_size`` at a time.

    Each batch is processed (no augmentation), moved to ``device`` (default: the model's)
    and run in eval mode under ``torch.inference_mode``; the model's train/eval mode is
    restored before each batch is handed out.

    Args:
        by_length: batch the records in order of light-curve length (little padding).
        check: called as ``check(batch, chunk)`` on each processed batch before the model
            runs (it raises to refuse the batch).
        progress: show a tqdm progress bar (objects) named ``desc``.

    Yields:
        ``(rows, batch, output)``: the positions in ``records`` of the batch's objects, the
        processor's batch (on the device) and the model's output.
    """
    from tqdm.auto import tqdm

    records = list(records)
    if by_length:
        lengths = [0 if sn.lightcurve is None else len(sn.lightcurve) for sn in records]
        order = np.argsort(np.array(lengths), kind="stable")
    else:
        order = np.arange(len(records))
    device = next(model.parameters()).device if device is None else device
    bar = tqdm(total=len(records), desc=desc, unit="obj", disable=not progress)
    for start in range(0, len(records), batch_size):
        rows = order[start : start + batch_size]
        chunk = [records[i] for i in rows]
        batch = processor(chunk)
        if check is not None:
            check(batch, chunk)
        batch = {k: v.to(device) for k, v in batch.items()}
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                output = model(**batch)
        finally:
            model.train(was_training)
        bar.update(len(rows))
        yield rows, batch, output
    bar.close()


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
        ok[i : i + len(chunk)] = has_modality(model, processor(list(chunk), return_tensors="np"))
    return ok


def has_modality(model, batch) -> np.ndarray:
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


def _check_head(model) -> None:
    if not isinstance(model, (MavenForSupernovaClassification, MavenForRedshift)):
        raise MavenError(f"predict needs a maven head model, got {type(model).__name__}")


def calibrated_probabilities(model, logits: np.ndarray) -> np.ndarray:
    """Softmax of ``(logits + config.logit_bias) / config.calibration_temperature``, (N, K)."""
    bias = getattr(model.config, "logit_bias", None)
    adjusted = logits if bias is None else logits + np.asarray(bias, dtype=logits.dtype)
    t = float(model.config.calibration_temperature)
    return apply_temperature(adjusted, t) if len(logits) else np.zeros_like(adjusted)


@torch.no_grad()
def predict_batch(
    model, batch, chunk: Sequence, *, towers: bool = False, device: str | torch.device | None = None
) -> dict[str, Any]:
    """Raw outputs of a head (in eval mode) for one processor ``batch`` of the records
    ``chunk``, computed on ``device`` (default: the model's).

    Returns:
        numpy arrays: ``"embeddings"`` and ``"logits"`` (classification) or ``"redshift"``
        and ``"redshift_sigma"``; with ``towers`` also ``"photometry_embeds"`` and
        ``"spectrum_embeds"``, the towers' L2-normalised embeddings as an index stores them
        (``None`` for a tower the batch did not run).

    Raises:
        MavenError: not a maven head model, records without the head's modality, or
            non-finite outputs (naming the objects).
    """
    from maven.search.embeddings import MODALITIES

    _check_head(model)
    _require_modality(model, batch, chunk)
    device = next(model.parameters()).device if device is None else device
    captured: dict[str, torch.Tensor] = {}
    hooks = [
        getattr(model.maven, f"{m}_projection").register_forward_hook(
            lambda _mod, _inp, out, m=m: captured.__setitem__(m, out)
        )
        for m in (MODALITIES if towers else ())
    ]
    try:
        out = model(**{k: v.to(device) for k, v in batch.items()})
    finally:
        for h in hooks:
            h.remove()
    towers_out = {m: captured.get(m) for m in MODALITIES} if towers else None
    return _head_results(model, out, batch, chunk, towers_out)


def _require_modality(model, batch, chunk: Sequence) -> None:
    _require(chunk, has_modality(model, batch), f"no {model.config.head_modality} input")


def _head_results(model, out, batch, chunk: Sequence, towers: dict | None) -> dict[str, Any]:
    """The numpy arrays of :func:`predict_batch` from a head's output ``out`` (and the
    towers' projections ``towers`` per modality, when captured, L2-normalised here);
    non-finite ones refused."""
    res = {"embeddings": out.embeddings}
    if isinstance(model, MavenForSupernovaClassification):
        res["logits"] = out.logits
    else:
        res["redshift"], res["redshift_sigma"] = out.redshift_mean, out.redshift_sigma
    for m, e in (towers or {}).items():
        res[f"{m}_embeds"] = None if e is None else torch.nn.functional.normalize(e, dim=-1)
    res = {k: None if v is None else v.float().cpu().numpy() for k, v in res.items()}
    finite = np.ones(len(chunk), bool)
    for k, v in res.items():
        if v is not None and not k.endswith("_embeds"):
            finite &= np.isfinite(v.reshape(len(chunk), -1)).all(axis=1)
    for m in towers or ():
        if res[f"{m}_embeds"] is not None:  # rows without the modality hold padding output
            has = np.asarray(batch[f"has_{m}"]).astype(bool)
            finite &= ~has | np.isfinite(res[f"{m}_embeds"]).all(axis=1)
    _require(chunk, finite, "non-finite model outputs (damaged weights?)")
    bank = None if "redshift" not in res else model.template_bank()
    if bank is not None:
        from maven.models.template_redshift import refine_redshifts

        c = model.config
        res.update(
            refine_redshifts(
                bank,
                chunk,
                res["redshift"],
                res["redshift_sigma"],
                c.redshift_template_window,
                c.redshift_template_sigma_scale,
            )
        )
    return res


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
        ``{"redshift" (N,), "redshift_sigma" (N,), "embeddings" (N, D)}``; a head with
        template spectra (``config.redshift_templates``) refines the redshift of records with
        a spectrum and adds ``"redshift_network"``, ``"redshift_sigma_network"`` (the
        network's own estimate) and ``"template_score"`` (NaN where not refined).

    Raises:
        MavenError: not a maven head model, records without the needed modality, or
            non-finite outputs (each naming the objects).
    """
    _check_head(model)
    supernovae = list(supernovae)
    parts = [
        _head_results(model, out, batch, [supernovae[i] for i in rows], None)
        for rows, batch, out in iter_batches(
            model,
            processor,
            supernovae,
            batch_size=batch_size,
            device=device,
            check=lambda batch, chunk: _require_modality(model, batch, chunk),
            progress=progress,
            desc="predict",
        )
    ]

    def cat(key: str, shape: tuple) -> np.ndarray:
        return np.concatenate([p[key] for p in parts]) if parts else np.zeros(shape, np.float32)

    embeddings = cat("embeddings", (0, model.feature_dim))
    if isinstance(model, MavenForSupernovaClassification):
        names = [model.config.id2label[k] for k in range(model.num_labels)]
        lg = cat("logits", (0, len(names)))
        probs = calibrated_probabilities(model, lg)
        return {
            "logits": lg,
            "probabilities": probs,
            "predicted": [names[k] for k in probs.argmax(axis=1)] if len(probs) else [],
            "labels": names,
            "embeddings": embeddings,
        }
    out = {
        "redshift": cat("redshift", (0,)),
        "redshift_sigma": cat("redshift_sigma", (0,)),
        "embeddings": embeddings,
    }
    if model.template_bank() is not None:
        for key in ("redshift_network", "redshift_sigma_network", "template_score"):
            out[key] = cat(key, (0,))
    return out
