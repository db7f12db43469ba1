"""Fine-tuning on observed supernovae: contrastive on real pairs, then a task head.

One recipe (:class:`FinetuneConfig`, YAML in ``finetune/configs/``) covers:

* **what**: ``task`` = ``"classification"`` (classes, default Ia/II/Ibc/IIn/SLSN-I) or
  ``"redshift"`` (Gaussian on log(1+z) with a per-object sigma), from ``modality`` =
  ``"photometry"``, ``"spectrum"`` or ``"both"``;
* **from where**: ``model`` = a pre-trained folder (``save_pretrained`` of a MavenModel or
  of a head), or ``null`` to train the same architecture from scratch (``preset``);
* **how**: ``mode`` = ``"full"`` (every weight trains: head at ``lr``, towers at
  ``encoder_lr``, with the processor's augmentations), or a frozen-encoder probe,
  ``"linear"`` or ``"mlp"``, trained on embeddings computed once;
  ``contrastive_steps`` > 0 first fine-tunes both towers CLIP-style on the training
  light-curve/spectrum pairs (as Maven did).

Every record of the training set that has the modality and the target trains the head
(photometry-only objects train a photometry head, spectrum-only ones a spectrum head).
Class imbalance: loss weights ``N / (K n_k)`` raised to ``balance_power`` (1 = scikit-learn's
"balanced", 0 = none). A grouped, stratified split of the *training* data
(``val_fraction``) chooses the epoch (best validation macro-F1, or NLL for redshift), fits
the calibration temperature (classification) or the sigma scale (redshift), and nothing
else: test data are never seen here.

Both stages step through the accelerate loop of :mod:`maven.training.loop` (the device,
``accelerate launch --mixed_precision``, several processes: each takes the whole batch).
"""

from __future__ import annotations

import copy
import json
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from maven.data.types import DEFAULT_CLASSES
from maven.errors import ConfigError, MavenError
from maven.training.loop import Loop, make_accelerator
from maven.utils.checks import (
    check_bool,
    check_choice,
    check_int,
    check_mapping,
    check_number,
    check_path,
    config_from_yaml,
    fail,
)

__all__ = ["FinetuneConfig", "copy_config", "finetune", "redshift_range", "select_supernovae"]

TASKS = ("classification", "redshift")
MODALITIES = ("photometry", "spectrum", "both")
MODES = ("full", "linear", "mlp")
_CONFIG = "fine-tuning"


@dataclass
class FinetuneConfig:
    """One fine-tuning recipe; see the module docstring.

    Args:
        model: pre-trained folder, or ``None`` for the same architecture from scratch.
        preset: architecture from scratch, when ``model`` is ``None``: a preset name
            (``tiny``, ``base``, ``large``) or a saved model folder, whose architecture and
            processor (not its weights) are used.
        task, modality, mode: see the module docstring.
        classes: class names (classification); records of other types are dropped.
        use_redshift_input: classification: give the known redshift to the model.
        head_hidden_size: MLP hidden width (``mode="mlp"`` uses 128 when 0).
        head_dropout: dropout before the head's output layer.
        contrastive_steps, contrastive_lr: CLIP-style fine-tuning on training pairs first.
        epochs, batch_size, lr, encoder_lr, weight_decay: head training (AdamW, linear
            warm-up over the first ``warmup_fraction`` of steps, then cosine decay).
        balance_power: class-weight exponent (classification).
        class_cap: at most this many objects of a class per epoch (a new random subset each
            epoch: the majority class is under-sampled, not thrown away); ``None``: all.
        augment: processor augmentations while training (``mode="full"``).
        fusion: ``modality="both"``: how the head combines the towers, the head setting
            ``head_fusion`` (:mod:`maven.models.modeling_heads`): ``"concat"``, ``"mean"``
            or ``"per_input"`` (one head per input set, each object with both inputs also
            trained given each input alone).
        val_fraction: share of the training groups used to choose the epoch and calibrate.
        patience: stop after this many epochs without a better validation score.
        processor: processor options (over the pre-trained folder's own), e.g.
            ``{spectrum_frame: rest}``.
        lightcurve_features: classification with photometry, ``mode="full"``: the head also
            reads the light-curve features of :mod:`maven.evaluation.features` (the
            processor's ``lightcurve_features``; standardised by the median and 1.4826 MAD
            of the training records' defined values, stored in the head config).
        simulated: a maven dataset of simulated supernovae (``maven simulate``) added to the
            *training* split only (never to validation, calibration or a test fold); with
            ``class_cap`` an epoch takes a class's real records first and fills the cap with
            simulated ones, and the loss weights follow those per-epoch counts.
        simulated_max: at most this many simulated records (the first ones; None: all).
        redshift_loss_beta: redshift: the head setting ``redshift_loss_beta`` (the beta-NLL:
            each object's NLL weighted by its sigma ** (2 beta); 0: the plain NLL).
        redshift_templates: redshift with a spectrum: store at most this many averaged
            rest-frame templates of the training spectra in the head (k-means, each the mean
            of >= ``MIN_MEMBERS`` spectra; :mod:`maven.models.template_redshift`)
            so that prediction refines the network's redshift by cross-correlation within
            ``redshift_template_window`` calibrated sigmas; 0: the network alone.
        redshift_template_window: that window, in sigmas.
        seed: initialisation, split, order and augmentations.
        cpu: use the CPU even where an accelerator exists.
    """

    model: str | None = None
    preset: str = "base"
    task: str = "classification"
    modality: str = "photometry"
    mode: str = "full"
    classes: list = field(default_factory=lambda: list(DEFAULT_CLASSES))
    use_redshift_input: bool = True
    head_hidden_size: int = 0
    head_dropout: float = 0.1
    contrastive_steps: int = 0
    contrastive_lr: float = 1e-4
    epochs: int = 15
    batch_size: int = 64
    lr: float = 1e-3
    encoder_lr: float = 2e-4
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    balance_power: float = 1.0
    class_cap: int | None = None
    augment: bool = True
    fusion: str = "concat"
    val_fraction: float = 0.15
    patience: int = 5
    processor: dict = field(default_factory=dict)
    lightcurve_features: bool = False
    simulated: str | None = None
    simulated_max: int | None = None
    redshift_loss_beta: float = 0.0
    redshift_templates: int = 0
    redshift_template_window: float = 3.0
    seed: int = 0
    cpu: bool = False

    def __post_init__(self) -> None:
        for name, allowed in (("task", TASKS), ("modality", MODALITIES), ("mode", MODES)):
            check_choice(_CONFIG, name, getattr(self, name), allowed)
        check_path(_CONFIG, "model", self.model, optional=True)
        check_path(_CONFIG, "preset", self.preset)
        if self.task == "classification" and (
            not isinstance(self.classes, list) or len(set(map(str, self.classes))) < 2
        ):
            fail(_CONFIG, "classes", "a list of at least 2 distinct names", self.classes)
        for name in ("epochs", "batch_size", "patience"):
            check_int(_CONFIG, name, getattr(self, name), minimum=1)
        check_int(_CONFIG, "class_cap", self.class_cap, minimum=1, optional=True)
        check_int(_CONFIG, "simulated_max", self.simulated_max, minimum=1, optional=True)
        check_path(_CONFIG, "simulated", self.simulated, optional=True)
        for name in ("contrastive_steps", "head_hidden_size", "redshift_templates", "seed"):
            check_int(_CONFIG, name, getattr(self, name), minimum=0)
        for name in ("lr", "encoder_lr", "contrastive_lr"):
            check_number(_CONFIG, name, getattr(self, name), above=0)
        check_number(_CONFIG, "val_fraction", self.val_fraction, above=0, below=0.5)
        check_number(_CONFIG, "warmup_fraction", self.warmup_fraction, minimum=0, below=1)
        check_number(_CONFIG, "head_dropout", self.head_dropout, minimum=0, below=1)
        from maven.models.configuration_maven import HEAD_FUSIONS

        if self.fusion not in HEAD_FUSIONS:
            fail(_CONFIG, "fusion", f"one of {', '.join(HEAD_FUSIONS)}", self.fusion)
        if self.fusion != "concat" and self.modality != "both":
            raise ConfigError(f"fusion: {self.fusion} needs modality: both")
        check_number(_CONFIG, "redshift_template_window", self.redshift_template_window, above=0)
        check_number(_CONFIG, "redshift_loss_beta", self.redshift_loss_beta, minimum=0, maximum=1)
        if self.redshift_loss_beta and self.task != "redshift":
            raise ConfigError(f"redshift_loss_beta needs task: redshift, got {self.task!r}")
        if self.redshift_templates and (self.task != "redshift" or self.modality == "photometry"):
            raise ConfigError(
                "redshift_templates needs task: redshift with a spectrum (modality spectrum "
                f"or both), got task={self.task!r}, modality={self.modality!r}"
            )
        for name in ("balance_power", "weight_decay"):
            check_number(_CONFIG, name, getattr(self, name), minimum=0)
        for name in ("use_redshift_input", "augment", "lightcurve_features", "cpu"):
            check_bool(_CONFIG, name, getattr(self, name))
        check_mapping(_CONFIG, "processor", self.processor)
        if self.model is None and self.mode != "full":
            raise ConfigError(f"mode={self.mode!r} probes a pre-trained model: give model")
        lcf = self.lightcurve_features
        if "lightcurve_features" in self.processor:
            raise ConfigError("give lightcurve_features as a recipe key, not a processor option")
        refusals = {
            f"task={self.task!r} (classification only)": self.task != "classification",
            "modality='spectrum' (no light curve)": self.modality == "spectrum",
            f"mode={self.mode!r}: a frozen probe trains on cached embeddings, use mode: full": (
                self.mode != "full"
            ),
            "use_redshift_input: false (the features carry the redshift)": (
                not self.use_redshift_input
            ),
        }
        for why, bad in refusals.items():
            if lcf and bad:
                raise ConfigError(f"lightcurve_features is not available with {why}")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> FinetuneConfig:
        """Read a YAML recipe; keyword ``overrides`` (not ``None``) replace its keys."""
        return config_from_yaml(cls, path, _CONFIG, overrides)

    def to_dict(self) -> dict:
        """A JSON-serialisable copy."""
        return asdict(self)


# ---------------------------------------------------------------------- data


def missing_target(sn, task: str, classes) -> str | None:
    """Why ``sn`` has no target for ``task`` (a type among ``classes``, or a redshift), or
    ``None`` when it has one."""
    if task == "classification" and sn.type not in classes:
        return "no type" if sn.type is None else f"type {sn.type} not in classes"
    if task == "redshift" and sn.redshift is None:
        return "no redshift"
    return None


def select_supernovae(supernovae: Sequence, config: FinetuneConfig) -> tuple[list, dict[str, int]]:
    """The records that can train or test ``config``'s head, and why others were dropped
    (reason -> count). A spectrum counts if it exists; one off the processor's wavelength
    grid is found later and dropped the same way."""
    keep, dropped = [], Counter()
    classes = set(map(str, config.classes))
    for sn in supernovae:
        if reason := missing_target(sn, config.task, classes):
            dropped[reason] += 1
        elif config.modality == "photometry" and sn.lightcurve is None:
            dropped["no light curve"] += 1
        elif config.modality == "spectrum" and not sn.spectra:
            dropped["no spectrum"] += 1
        else:
            keep.append(sn)
    return keep, dict(dropped)


def _split(supernovae: list, config: FinetuneConfig) -> tuple[list, list]:
    """Grouped, stratified train/validation split of the training records."""
    from maven.data.folds import assign_folds

    n_folds = max(2, round(1 / config.val_fraction))
    labels = [sn.type if config.task == "classification" else "all" for sn in supernovae]
    folds = assign_folds(supernovae, n_folds=n_folds, seed=config.seed, labels=labels)
    train = [sn for sn, f in zip(supernovae, folds, strict=True) if f != 0]
    val = [sn for sn, f in zip(supernovae, folds, strict=True) if f == 0]
    return train, val


# ---------------------------------------------------------------------- model


def _head_class(task: str):
    from maven.models import MavenForRedshift, MavenForSupernovaClassification

    return MavenForSupernovaClassification if task == "classification" else MavenForRedshift


def _build(config: FinetuneConfig, class_weights: list[float] | None):
    from maven.evaluation.features import FEATURE_NAMES
    from maven.models import MavenConfig, MavenProcessor
    from maven.models.loading import from_pretrained

    settings: dict[str, Any] = {
        "head_modality": config.modality,
        "head_fusion": config.fusion,
        "head_hidden_size": config.head_hidden_size or (128 if config.mode == "mlp" else 0),
        "head_dropout": config.head_dropout,
        "freeze_encoder": config.mode != "full",
        "calibration_temperature": 1.0,
        "logit_bias": None,
        "redshift_sigma_scale": 1.0,
    }
    head = _head_class(config.task)
    options = dict(config.processor)
    if config.task == "redshift":  # time dilation is a redshift cue: no time stretch
        options["aug_max_stretch"] = 0.0
        settings["redshift_loss_beta"] = config.redshift_loss_beta
    options["lightcurve_features"] = config.lightcurve_features
    if config.task == "classification":
        settings["id2label"] = dict(enumerate(map(str, config.classes)))
        settings["class_weights"] = class_weights
        settings["use_redshift_input"] = config.use_redshift_input
        # the scaling is fitted on the training split (see finetune)
        settings["head_extra_features"] = len(FEATURE_NAMES) if config.lightcurve_features else 0
        settings["extra_feature_center"] = settings["extra_feature_scale"] = None
    if config.model is None and Path(config.preset).is_dir():  # its architecture, new weights
        model = head(MavenConfig.from_pretrained(config.preset), **settings)
        processor = MavenProcessor.from_pretrained(config.preset, **options)
    elif config.model is None:
        model = head(MavenConfig.from_preset(config.preset), **settings)
        processor = MavenProcessor(**options)
    else:
        if not (Path(config.model) / "config.json").is_file():
            raise ConfigError(
                f"pre-trained model folder {config.model!r} not found (no config.json): run "
                "maven pretrain, or give --model / model: a save_pretrained folder"
            )
        # strict: the folder's towers (a new head unless it holds this task's head)
        model, _ = from_pretrained(config.model, task=config.task, **settings)
        processor = MavenProcessor.from_pretrained(config.model, **options)
    if config.task == "redshift" and processor.spectrum_frame == "rest":
        raise ConfigError("a redshift head cannot read rest-frame spectra: the shift is the answer")
    if config.task == "redshift":  # a start model's templates go: they are refitted after training
        model.set_template_bank(None)
    return model, processor


# ---------------------------------------------------------------------- training


def _targets(model, supernovae: list, task: str) -> torch.Tensor:
    if task == "classification":
        return model.encode_labels([sn.type for sn in supernovae])
    return torch.tensor([float(sn.redshift) for sn in supernovae], dtype=torch.float32)


def _loss(model, out, y: torch.Tensor, task: str) -> torch.Tensor:
    if task == "classification":
        return model._loss(out.logits, y)
    return model._loss(out.mu, out.log_sigma, y, None)


def _schedule(optimizer, total: int, warmup_fraction: float):
    from transformers import get_cosine_schedule_with_warmup

    return get_cosine_schedule_with_warmup(optimizer, int(warmup_fraction * total), total)


def _contrastive(model, processor, pairs: list, config: FinetuneConfig, accelerator, log) -> None:
    """CLIP-style fine-tuning of both towers on the training pairs (every process takes the
    whole batch, so its negatives are not gathered)."""
    from tqdm.auto import tqdm

    from maven.training.loss import ClipLoss

    maven = model.maven
    params = [p for p in maven.parameters()]
    saved = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=config.contrastive_lr, weight_decay=0.05)
    scheduler = _schedule(optimizer, config.contrastive_steps, config.warmup_fraction)
    loop = Loop(accelerator, [maven], optimizer, scheduler, params, 1.0)
    loss_fn = ClipLoss(gather_distributed=False)
    bs = min(config.batch_size, len(pairs))
    maven.train()
    for step in tqdm(range(config.contrastive_steps), desc="contrastive", leave=False):
        rng = np.random.default_rng([config.seed, 7, step])
        idx = rng.choice(len(pairs), size=bs, replace=False)
        batch, ok = _with_input(None, processor([pairs[i] for i in idx], augment=rng), None)
        if ok is None or len(ok) < 2:
            continue
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        with loop.accumulate():
            out = loop.modules[0](**batch)
            loss = loss_fn(out.photometry_embeds, out.spectrum_embeds, maven.logit_scale.exp())
            loop.update(loss)
        if step % 10 == 0 or step == config.contrastive_steps - 1:
            log({"stage": "contrastive", "step": step, "loss": loss.item()})
    loop.finish()
    for p, r in zip(params, saved, strict=True):
        p.requires_grad_(r)


@torch.no_grad()
def _validation_score(model, processor, val, y_val, task: str, device, x_val=None):
    """(score to maximise, metrics) on the validation records: macro-F1 of the argmax, or
    minus the Gaussian NLL. A ``per_input`` head is scored on every input set it serves
    (both, light curve alone, spectrum alone: :meth:`input_views`), the score the mean over
    those, so that the epoch kept is not chosen for the objects with both inputs alone.
    ``x_val``: cached embeddings (frozen encoder), run through the head only."""
    was_training = model.training
    model.eval()
    x = _features(model, processor, val, device) if x_val is None else x_val
    feats, rows = model.input_views(x.to(device))
    out = _head_output(model, _head_module(model)(feats), feats)
    model.train(was_training)
    y = y_val.to(rows.device)[rows]
    views = model.input_sets(feats)
    names = list(dict.fromkeys(views))
    key = "macro_f1" if task == "classification" else "nll"
    metrics, scores = {}, []
    for view in names:
        part = _view_score(model, out, y, torch.as_tensor(views == view), task)
        scores.append(part[key])
        metrics.update(part if len(names) == 1 else {f"{k}_{view}": v for k, v in part.items()})
    metrics[key] = float(np.mean(scores))
    return (metrics[key] if task == "classification" else -metrics[key]), metrics


def _view_score(model, out, y: torch.Tensor, keep: torch.Tensor, task: str) -> dict:
    """The validation metrics of the rows ``keep`` of one input set."""
    from maven.evaluation import classification_metrics

    if task == "classification":
        names = [model.config.id2label[k] for k in range(model.num_labels)]
        pred = out.logits[keep].argmax(dim=1).tolist()
        m = classification_metrics(
            [names[k] for k in y[keep].tolist()], [names[k] for k in pred], labels=names
        )
        return {"macro_f1": m["macro_f1"], "accuracy": m["accuracy"]}
    nll = float(model._loss(out.mu[keep], out.log_sigma[keep], y[keep].to(out.mu.device), None))
    return {"nll": nll}


def _features(model, processor, records: list, device) -> torch.Tensor:
    """The head's input features of ``records`` (deterministic, no augmentation)."""
    from maven.models.inference import predict

    return torch.from_numpy(predict(model, processor, records, device=device)["embeddings"])


def _feature_scaling(processor, records: list) -> tuple[list[float], list[float]]:
    """Per light-curve feature, the median and 1.4826 MAD (the std where the MAD is 0,
    floored at 1e-3) of the defined values among ``records`` (the processor's features, no
    augmentation); 0 and 1 for a feature defined in none."""
    starts = range(0, len(records), 512)
    parts = [processor(records[i : i + 512], return_tensors="np") for i in starts]
    f = np.concatenate([p["photometry_features"] for p in parts]).astype(np.float64)
    f[~np.concatenate([p["photometry_features_mask"] for p in parts])] = np.nan
    defined = np.isfinite(f).any(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        center = np.nanmedian(f, axis=0)
        mad = 1.4826 * np.nanmedian(np.abs(f - center), axis=0)
        scale = np.where(mad > 0, mad, np.nanstd(f, axis=0))
    center = np.where(defined, center, 0.0)
    scale = np.where(defined, np.maximum(scale, 1e-3), 1.0)
    return [float(v) for v in center], [float(v) for v in scale]


def _epoch_batches(train: list, config: FinetuneConfig, epoch: int) -> list[np.ndarray]:
    """The epoch's mini-batches (indices into ``train``): each class capped at
    ``class_cap`` (a new random subset each epoch), shuffled, and, within windows of 16
    batches, sorted by light-curve length so that little of a batch is padding."""
    rng = np.random.default_rng([config.seed, 11, epoch])
    idx = rng.permutation(len(train))
    if config.simulated:  # real records first: simulated ones only fill a class's cap
        simulated = np.array([_is_simulated(train[i]) for i in idx], bool)
        idx = np.concatenate([idx[~simulated], idx[simulated]])
    if config.class_cap is not None and config.task == "classification":
        taken: Counter = Counter()
        keep = []
        for i in idx:
            if taken[train[i].type] < config.class_cap:
                taken[train[i].type] += 1
                keep.append(i)
        idx = np.array(keep)
    if config.simulated:
        idx = rng.permutation(idx)
    length = np.array([0 if sn.lightcurve is None else len(sn.lightcurve.time) for sn in train])
    bs, window = config.batch_size, 16 * config.batch_size
    batches = []
    for w in range(0, len(idx), window):
        chunk = idx[w : w + window]
        chunk = chunk[np.argsort(length[chunk], kind="stable")]
        batches += [chunk[b : b + bs] for b in range(0, len(chunk), bs)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _is_simulated(sn) -> bool:
    return bool(sn.meta.get("simulated", False))


def simulated_records(config: FinetuneConfig) -> list:
    """The recipe's simulated training supplement (``config.simulated``), filtered like the
    real records."""
    from maven.io.dataset import iter_supernovae

    out = []
    for sn in iter_supernovae(config.simulated):
        if not _is_simulated(sn):
            raise ConfigError(f"simulated: {config.simulated} holds a real record ({sn.id})")
        out.append(sn)
        if config.simulated_max is not None and len(out) >= config.simulated_max:
            break
    return select_supernovae(out, config)[0]


def _with_input(model, batch: dict, y: torch.Tensor | None) -> tuple[dict, torch.Tensor | None]:
    """The rows of an augmented batch that still have the head's input (hiding a redshift
    can move a rest-frame spectrum off the grid); ``(batch, None)`` when none is left.
    ``model=None``: rows with both a light curve and a spectrum (contrastive pairs)."""
    mod = "pair" if model is None else model.config.head_modality
    has_p, has_s = batch["has_photometry"], batch["has_spectrum"]
    keep = {"photometry": has_p, "spectrum": has_s, "both": has_p | has_s}.get(mod, has_p & has_s)
    y = torch.zeros(len(keep)) if y is None else y
    if bool(keep.all()):
        return batch, y
    if not bool(keep.any()):
        return batch, None
    return {k: v[keep] for k, v in batch.items()}, y[keep]


def _head_module(model):
    return model.classifier if hasattr(model, "classifier") else model.regressor


def _train_epochs(model, processor, train, val, config, accelerator, log) -> dict:
    """Head training with early stopping; returns the best epoch's validation record. A
    frozen encoder's probe trains the head alone, on embeddings computed once."""
    from tqdm.auto import tqdm

    task, device = config.task, accelerator.device
    y_train, y_val = _targets(model, train, task), _targets(model, val, task)
    frozen = config.mode != "full"
    x_val = None
    if frozen:  # embeddings once; only the head trains
        x_train = _features(model, processor, train, device)
        x_val = _features(model, processor, val, device)
    head = _head_module(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    head_ids = {id(p) for p in head.parameters()}
    groups = [
        {"params": [p for p in trainable if id(p) in head_ids], "lr": config.lr},
        {"params": [p for p in trainable if id(p) not in head_ids], "lr": config.encoder_lr},
    ]
    optimizer = torch.optim.AdamW(
        [g for g in groups if g["params"]], weight_decay=config.weight_decay
    )
    steps_per_epoch = len(_epoch_batches(train, config, 0))
    scheduler = _schedule(optimizer, steps_per_epoch * config.epochs, config.warmup_fraction)
    loop = Loop(accelerator, [head if frozen else model], optimizer, scheduler, trainable, 1.0)
    trained = loop.modules[0]
    best, best_state, bad = None, None, 0
    for epoch in range(config.epochs):
        model.train()
        losses = []
        batches = _epoch_batches(train, config, epoch)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False)
        for s, idx in enumerate(bar):
            y = y_train[idx]
            if not frozen:
                rng = np.random.default_rng([config.seed, 13, epoch, s]) if config.augment else None
                records = [train[i] for i in idx]
                batch, y = _with_input(model, processor(records, augment=rng), y)
                if y is None:
                    continue
            with loop.accumulate():
                if frozen:
                    feats, rows = model.input_views(x_train[idx])
                    out = _head_output(model, trained(feats), feats)
                    loss = _loss(model, out, y[rows.cpu()].to(device), task)
                else:
                    key = "labels" if task == "classification" else "redshift_labels"
                    inputs = {k: v.to(device) for k, v in batch.items()}
                    loss = trained(**inputs, **{key: y.to(device)}).loss
                loop.update(loss)
            losses.append(loss.item())
        score, metrics = _validation_score(model, processor, val, y_val, task, device, x_val)
        record = {"stage": "head", "epoch": epoch + 1, "train_loss": float(np.mean(losses))}
        record.update({f"val_{k}": v for k, v in metrics.items()})
        log(record)
        if best is None or score > best[0]:
            best, bad = (score, record), 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= config.patience:
                break
    loop.finish()
    model.load_state_dict(best_state)
    return best[1]


def _head_output(model, raw: torch.Tensor, feats: torch.Tensor):
    """The head's output object from raw head outputs (frozen-feature training)."""
    from maven.models.modeling_heads import (
        LOG_SIGMA_MAX,
        LOG_SIGMA_MIN,
        MavenClassificationOutput,
        MavenRedshiftOutput,
    )

    if hasattr(model, "classifier"):
        return MavenClassificationOutput(logits=raw, embeddings=feats)
    return MavenRedshiftOutput(
        mu=raw[:, 0], log_sigma=raw[:, 1].clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX), embeddings=feats
    )


#: strengths tried for the prior correction (0: keep the balanced training prior, 1: the
#: training set's own class frequencies)
PRIOR_STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _sigma_scale(z: np.ndarray, z_hat: np.ndarray, sigma: np.ndarray, upper: float) -> float:
    """The factor on ``sigma`` that puts 68.27% of ``|z - z_hat|`` within 1 sigma, clipped
    to [0.1, ``upper``]."""
    return float(np.clip(np.quantile(np.abs(z - z_hat) / sigma, 0.6827), 0.1, upper))


def _calibrate(model, processor, val: list, config: FinetuneConfig, device, counts) -> dict:
    """Fit on validation data: for classification, the prior correction (logit bias) that
    maximises macro-F1, then the temperature; for redshift, the sigma scale.

    Balanced training (class cap, loss weights) teaches the head a flat class prior; the
    correction ``alpha * log(training frequency)`` moves it back towards the real mix, with
    ``alpha`` chosen on validation among :data:`PRIOR_STRENGTHS`.
    """
    from maven.evaluation import (
        apply_temperature,
        classification_metrics,
        expected_calibration_error,
        fit_temperature,
    )
    from maven.models.inference import predict

    pred = predict(model, processor, val, device=device)
    if config.task == "classification":
        labels = pred["labels"]
        y = model.encode_labels([sn.type for sn in val]).numpy()
        truth = [labels[k] for k in y]
        logits = pred["logits"]
        log_prior = np.log(
            np.array([counts[c] for c in labels], dtype=float) / sum(counts.values())
        )
        log_prior -= log_prior.mean()
        f1 = {
            a: classification_metrics(
                truth, [labels[k] for k in (logits + a * log_prior).argmax(axis=1)], labels=labels
            )["macro_f1"]
            for a in PRIOR_STRENGTHS
        }
        alpha = max(PRIOR_STRENGTHS, key=lambda a: (f1[a], -a))
        bias = alpha * log_prior
        model.config.logit_bias = [float(b) for b in bias]
        before = expected_calibration_error(pred["probabilities"], y)
        t = fit_temperature(logits + bias, y)
        model.config.calibration_temperature = t
        after = expected_calibration_error(apply_temperature(logits + bias, t), y)
        return {
            "prior_strength": alpha,
            "val_macro_f1_by_prior_strength": f1,
            "logit_bias": model.config.logit_bias,
            "temperature": t,
            "val_ece_before": before,
            "val_ece_after": after,
        }
    z = np.array([sn.redshift for sn in val])
    scale = _sigma_scale(z, pred["redshift"], pred["redshift_sigma"], upper=10.0)
    model.config.redshift_sigma_scale = scale
    return {"redshift_sigma_scale": scale}


def _fit_templates(model, processor, train: list, val: list, config: FinetuneConfig, device):
    """Store averaged rest-frame templates of the training spectra in the redshift head and
    fit the scale of their sigma on validation data (68.27% of |dz| within 1 sigma)."""
    from maven.models.inference import predict
    from maven.models.template_redshift import TemplateBank

    spectra = [sn for sn in train if sn.spectra]
    bank = TemplateBank.from_supernovae(spectra, [sn.redshift for sn in spectra]).averaged(
        config.redshift_templates, seed=config.seed
    )
    model.set_template_bank(bank)
    model.config.redshift_template_window = float(config.redshift_template_window)
    model.config.redshift_template_sigma_scale = 1.0
    pred = predict(model, processor, val, device=device)
    refined = np.isfinite(pred["template_score"])
    info = {"redshift_templates": len(bank), "val_refined": int(refined.sum())}
    if refined.any():
        z = np.array([sn.redshift for sn in val])[refined]
        zhat, sigma = pred["redshift"][refined], pred["redshift_sigma"][refined]
        scale = _sigma_scale(z, zhat, sigma, upper=1e3)
        model.config.redshift_template_sigma_scale = scale
        info["redshift_template_sigma_scale"] = scale
    return info


def finetune(
    config: FinetuneConfig,
    supernovae: Sequence,
    output_dir: str | Path | None = None,
    *,
    progress: bool = True,
) -> tuple[Any, Any, dict]:
    """Fine-tune on ``supernovae`` (all of them train or validate; nothing is tested here).

    Args:
        config: the recipe.
        supernovae: labelled records; those without the target or the modality are dropped
            and counted in the summary.
        output_dir: if given, the model (``save_pretrained``), its processor,
            ``finetune_summary.json`` and ``finetune_log.jsonl`` are written there.

    Returns:
        ``(model, processor, summary)``; the model is calibrated and in eval mode.

    Raises:
        MavenError: too few usable records (fewer than 10, or a class with no record).
    """
    from maven.models.inference import usable

    start = time.time()
    accelerator = make_accelerator(cpu=config.cpu)
    device = accelerator.device
    torch.manual_seed(config.seed)
    records, dropped = select_supernovae(supernovae, config)
    log_records: list[dict] = []

    def log(record: dict) -> None:
        log_records.append(record)
        if not progress or not accelerator.is_local_main_process:
            return
        from tqdm.auto import tqdm

        tqdm.write(
            json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()})
        )

    counts = Counter(sn.type for sn in records)
    simulated = simulated_records(config) if config.simulated else []
    weights = None
    if config.task == "classification":
        missing = [c for c in config.classes if counts.get(c, 0) == 0]
        if missing:
            raise MavenError(f"no training record of class(es) {missing}; counts: {dict(counts)}")
        seen = counts
        if simulated:  # what an epoch sees: real + simulated, capped
            cap = config.class_cap or len(records) + len(simulated)
            seen = counts + Counter(sn.type for sn in simulated)
            seen = Counter({c: min(cap, seen[c]) for c in config.classes})
        n, k = sum(seen[c] for c in config.classes), len(config.classes)
        weights = [float((n / (k * seen[c])) ** config.balance_power) for c in config.classes]
    model, processor = _build(config, weights)
    model.to(device)
    ok = usable(model, processor, records)
    if (~ok).any():
        reason = "no usable spectrum (off the grid, or no redshift for a rest-frame one)"
        dropped[reason] = int((~ok).sum())
        records = [sn for sn, good in zip(records, ok, strict=True) if good]
    if len(records) < 10:
        raise MavenError(f"only {len(records)} usable records for fine-tuning: {dropped}")
    given, val = _split(records, config)
    ok = usable(model, processor, simulated) if simulated else []
    supplement = [sn for sn, good in zip(simulated, ok, strict=True) if good]
    train = given + supplement
    if config.lightcurve_features:
        model.set_feature_scaling(*_feature_scaling(processor, train))
    if config.contrastive_steps:
        pairs = [sn for sn in train if sn.lightcurve is not None and sn.spectra]
        if len(pairs) < 2:
            raise MavenError("contrastive_steps > 0 needs light-curve + spectrum pairs")
        _contrastive(model, processor, pairs, config, accelerator, log)
    best = _train_epochs(model, processor, train, val, config, accelerator, log)
    calibration = _calibrate(model, processor, val, config, device, counts)
    if config.redshift_templates:
        calibration.update(_fit_templates(model, processor, train, val, config, device))
    model.eval()
    summary = {
        "config": config.to_dict(),
        "n_train": len(train),
        "n_val": len(val),
        "train_counts": dict(Counter(str(sn.type) for sn in given)),
        "simulated_counts": dict(Counter(str(sn.type) for sn in supplement)),
        "val_counts": dict(Counter(str(sn.type) for sn in val)),
        "redshift_range": redshift_range(given),
        "dropped": dropped,
        "class_weights": weights,
        "best": best,
        "calibration": calibration,
        "wall_time_s": time.time() - start,
        "device": str(device),
    }
    if output_dir is not None and accelerator.is_main_process:
        out = Path(output_dir)
        model.save_pretrained(out)
        processor.save_pretrained(out)
        (out / "finetune_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        with open(out / "finetune_log.jsonl", "w") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in log_records)
    return model, processor, summary


def redshift_range(records: Sequence) -> list[float] | None:
    """``[0, the 99.5th percentile]`` of the records' known redshifts (``None`` without any):
    the training range ``maven classify`` flags redshifts outside of (fine-tuning gives it
    the training split of the given records, not the ``simulated`` supplement)."""
    z = [sn.redshift for sn in records if sn.redshift is not None]
    return [0.0, round(float(np.percentile(z, 99.5)), 4)] if z else None


def copy_config(config: FinetuneConfig, **changes: Any) -> FinetuneConfig:
    """A validated copy of ``config`` with ``changes``."""
    return FinetuneConfig(**{**copy.deepcopy(config.to_dict()), **changes})
