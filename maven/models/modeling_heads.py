"""Task heads on the maven embedding: supernova classification and redshift with uncertainty.

Two models, each wrapping a :class:`~maven.models.MavenModel` under the attribute ``maven``
(``base_model_prefix``), so

* ``MavenForSupernovaClassification.from_pretrained(pretrained_maven_folder)`` loads the
  pre-trained towers from a saved ``MavenModel`` (its keys ``photometry_model.*`` become
  ``maven.photometry_model.*``) and initialises only the new head;
* a saved head model loads back exactly, and ``MavenModel.from_pretrained(head_folder)``
  recovers the (fine-tuned) towers.

Two models rather than one multi-task head: each task has its own checkpoint, loss and
Hugging Face semantics (``labels`` -> cross-entropy), and a fine-tune for one task is not
made to carry the other's parameters; the shared part is :class:`MavenHeadModel`.

**Head settings** are fields of the :class:`~maven.models.MavenConfig`, checked there
(:data:`~maven.models.configuration_maven.HEAD_DEFAULTS`; saved in ``config.json``), and can
be given as config kwargs or as keyword arguments of the model (and hence of
``from_pretrained``), e.g. ``MavenForSupernovaClassification.from_pretrained(folder,
head_modality="both", freeze_encoder=True)``:

=====================  =====================================================================
head_modality          ``"photometry"`` (default), ``"spectrum"`` or ``"both"``.
head_fusion            for ``"both"``: ``"concat"`` (default; features = [phot, spec], a
                       missing spectrum is a zero vector), ``"mean"`` (average of the
                       embeddings present in each row) or ``"per_input"`` (features =
                       [phot, spec | phot only | spec only]: each row fills the slots of the
                       inputs it has, so a linear head is one head per input set; the loss
                       of a row with both inputs also scores it given each input alone,
                       :meth:`MavenHeadModel.input_views`).
head_hidden_size       0 (default): a linear probe; > 0: an MLP with one hidden layer.
head_dropout           dropout before the output layer(s) (default 0).
freeze_encoder         True: the towers are frozen (no grad, kept in eval mode), only the
                       head trains -- a probe of the pre-trained embedding.
use_redshift_input     classification only: feed the known redshift as the photometry
                       tower's redshift token (default True). The redshift head never does.
id2label / label2id    classes (default :data:`maven.data.types.DEFAULT_CLASSES`, which
                       replace transformers' unset ``{0: "LABEL_0", 1: "LABEL_1"}``; give
                       names for a binary classifier); ``label2id`` is derived.
class_weights          optional per-class loss weights (list of K floats > 0) against class
                       imbalance; see :func:`balanced_class_weights`.
redshift_target        ``"log1p"`` (default): the Gaussian is on ``log(1 + z)``, so sigma
                       is about ``dz / (1 + z)``; ``"z"``: on ``z`` itself.
redshift_loss_beta     redshift: beta in [0, 1] of the beta-NLL (Seitzer et al. 2022): each
                       object's NLL is weighted by its own ``sigma ** (2 beta)`` (no gradient
                       through the weight; weights normalised to mean 1 over the batch), so
                       the head cannot stop learning hard objects by widening their sigma;
                       0 (default): the plain NLL, 1: the mean's gradient is that of MSE.
calibration_temperature
                       classification: the temperature fitted on validation data after
                       fine-tuning; :func:`maven.models.inference.predict` divides the
                       logits by it (``forward`` returns raw logits). Default 1.
logit_bias             classification: K numbers added to the logits before the temperature
                       (the prior correction fitted after balanced fine-tuning); None: none.
redshift_sigma_scale   redshift: factor on the predicted sigma, fitted on validation data so
                       that the uncertainties are calibrated; applied by ``forward``.
head_extra_features    classification: F > 0 appends the processor's ``photometry_features``
                       (``MavenProcessor(lightcurve_features=True)``) to the embedding as
                       ``[clip((f - center) / scale, -5, 5) where defined else 0, mask]``
                       (feature_dim grows by 2F); 0 (default): the embedding only.
extra_feature_center,  F numbers each (scale > 0), e.g. the training median and 1.4826 MAD
extra_feature_scale    (fine-tuning fits them); None: 0 and 1.
redshift_templates     redshift: T > 0 rest-frame template spectra stored in the weights
                       (buffers ``template_flux`` / ``template_mask``, T x n_bins);
                       :func:`maven.models.inference.predict` then refines the network's
                       redshift of every record with a spectrum by cross-correlation with
                       them (:mod:`maven.models.template_redshift`); 0 (default): none.
redshift_template_grid [wave_min, wave_max, n_bins] of the templates (with T > 0).
redshift_template_window
                       the search window, in calibrated network sigmas (default 3).
redshift_template_sigma_scale
                       factor on the templates' scatter giving the refined sigma, fitted on
                       validation data (default 1).
=====================  =====================================================================

Embeddings given to the head are the projected embeddings, L2-normalised (the geometry the
contrastive loss trained) and scaled by ``sqrt(projection_dim)`` (unit RMS per entry).
Towers (and the contrastive ``logit_scale``) that the chosen modality does not use get
``requires_grad = False``, so data-parallel training finds no unused parameters.

Example (``supernovae``: records; ``classes``: their class names)::

    from maven.models import MavenProcessor
    from maven.models.modeling_heads import MavenForRedshift, MavenForSupernovaClassification

    model = MavenForSupernovaClassification.from_pretrained(
        "weights/maven-tiny", head_modality="both", freeze_encoder=True
    )
    batch = MavenProcessor.from_pretrained("weights/maven-tiny")(supernovae)
    out = model(**batch, labels=model.encode_labels(classes))
    out.loss.backward()  # out.logits: (B, 5)

    z_model = MavenForRedshift.from_pretrained("weights/maven-tiny")
    z_out = z_model(**batch, redshift_labels=torch.tensor([sn.redshift for sn in supernovae]))
    z_out.redshift_mean, z_out.redshift_sigma  # (B,) each
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers.utils import ModelOutput

from maven.data.types import DEFAULT_CLASSES
from maven.errors import ConfigError, MavenError
from maven.models.configuration_maven import MavenConfig
from maven.models.modeling_maven import MavenModel, MavenPreTrainedModel

try:  # transformers >= 5: init helpers that leave already-loaded weights alone
    from transformers import initialization as _init
except ImportError:  # pragma: no cover - transformers 4.x
    _init = nn.init

__all__ = [
    "MavenClassificationOutput",
    "MavenForRedshift",
    "MavenForSupernovaClassification",
    "MavenHeadModel",
    "MavenRedshiftOutput",
    "balanced_class_weights",
]

#: bounds of the predicted log-sigma (in the target's units): sigma in [1e-4, 10]
LOG_SIGMA_MIN = math.log(1e-4)
LOG_SIGMA_MAX = math.log(10.0)
#: initial sigma of the redshift head (its log is the initial bias of the log-sigma output)
INIT_SIGMA = 0.1
#: the ``labels`` value ignored by the classification loss (Hugging Face convention)
IGNORE_INDEX = -100


def balanced_class_weights(labels: Any, num_labels: int) -> list[float]:
    """Inverse-frequency weights ``N / (K * n_k)`` (scikit-learn's "balanced"), from the
    training labels (class indices); a class absent from them gets weight 1.

    Raises:
        MavenError: empty labels or indices outside ``0..num_labels-1``.
    """
    y = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.integer):
        raise MavenError("labels must be a non-empty 1-D array of class indices")
    if (y < 0).any() or (y >= num_labels).any():
        raise MavenError(f"labels must be class indices in 0..{num_labels - 1}")
    counts = np.bincount(y, minlength=num_labels)
    w = np.where(counts > 0, y.size / (num_labels * np.maximum(counts, 1)), 1.0)
    return [float(v) for v in w]


def _set_labels(config: MavenConfig) -> None:
    """Default classes for an unset config; ``label2id`` derived from ``id2label``."""
    id2label = config.id2label or {}
    # transformers' unset default is {0: "LABEL_0", 1: "LABEL_1"}
    untouched = {int(k): str(v) for k, v in id2label.items()} == {0: "LABEL_0", 1: "LABEL_1"}
    if not id2label or untouched:
        id2label = dict(enumerate(DEFAULT_CLASSES))
    id2label = {int(k): str(v) for k, v in id2label.items()}
    if sorted(id2label) != list(range(len(id2label))):
        raise ConfigError(f"id2label keys must be 0..K-1, got {sorted(id2label)}")
    if len(set(id2label.values())) != len(id2label):
        raise ConfigError(f"id2label has duplicate names: {list(id2label.values())}")
    if len(id2label) < 2:
        raise ConfigError("a classifier needs at least 2 classes")
    config.id2label = id2label
    config.label2id = {v: k for k, v in id2label.items()}
    w = config.class_weights
    if w is not None:
        if (
            not isinstance(w, (list, tuple))
            or len(w) != len(id2label)
            or not all(
                isinstance(v, (int, float))
                and not isinstance(v, bool)
                and math.isfinite(v)
                and v > 0
                for v in w
            )
        ):
            raise ConfigError(
                f"class_weights must be {len(id2label)} finite numbers > 0 (one per class), "
                f"got {w!r}"
            )
        config.class_weights = [float(v) for v in w]
    b = getattr(config, "logit_bias", None)
    if b is not None:
        if (
            not isinstance(b, (list, tuple))
            or len(b) != len(id2label)
            or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in b)
        ):
            raise ConfigError(f"logit_bias must be {len(id2label)} finite numbers, got {b!r}")
        config.logit_bias = [float(v) for v in b]


def _mlp(in_features: int, hidden: int, out_features: int, dropout: float) -> nn.Sequential:
    if hidden == 0:
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, out_features))
    return nn.Sequential(
        nn.Linear(in_features, hidden),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, out_features),
    )


class MavenHeadModel(MavenPreTrainedModel):
    """Shared part of the task heads: the wrapped :class:`MavenModel`, the choice of
    modality, freezing, and :meth:`embed`. Subclasses add the head and ``forward``."""

    def __init__(self, config: MavenConfig, **head_settings: Any) -> None:
        if not isinstance(config, MavenConfig):
            raise ConfigError(f"config must be a MavenConfig, got {type(config).__name__}")
        super().__init__(config.with_head_settings(**head_settings))  # a copy: not the caller's
        self.maven = MavenModel(self.config)
        dim = self.config.projection_dim
        slots = {"concat": 2, "mean": 1, "per_input": 4}[self.config.head_fusion]
        towers = slots * dim if self.config.head_modality == "both" else dim
        self.feature_dim = towers + 2 * self.config.head_extra_features

    # -------------------------------------------------------------- freezing

    def _apply_freeze(self) -> None:
        """``requires_grad`` of the towers: off when frozen and for unused towers."""
        mod = self.config.head_modality
        frozen = self.config.freeze_encoder
        use_p = mod in ("photometry", "both") and not frozen
        use_s = mod in ("spectrum", "both") and not frozen
        for m, on in (
            (self.maven.photometry_model, use_p),
            (self.maven.photometry_projection, use_p),
            (self.maven.spectrum_model, use_s),
            (self.maven.spectrum_projection, use_s),
        ):
            for p in m.parameters():
                p.requires_grad_(on)
        self.maven.logit_scale.requires_grad_(False)

    def set_encoder_frozen(self, frozen: bool) -> None:
        """Freeze (probe) or unfreeze (fine-tune) the towers, e.g. linear probing first and
        then full fine-tuning; updates ``config.freeze_encoder``. Build the optimizer after."""
        if not isinstance(frozen, bool):
            raise ConfigError(f"frozen must be a bool, got {frozen!r}")
        self.config.freeze_encoder = frozen
        self._apply_freeze()
        self.train(self.training)

    def post_init(self) -> None:
        """Hugging Face's ``post_init``, then freeze the towers if ``config.freeze_encoder``."""
        super().post_init()
        self._apply_freeze()

    def set_feature_scaling(self, center: Sequence[float], scale: Sequence[float]) -> None:
        """Set ``extra_feature_center`` / ``extra_feature_scale`` (validated, ConfigError)."""
        self.config.set_head_settings(extra_feature_center=center, extra_feature_scale=scale)

    @classmethod
    def from_pretrained(cls, *args: Any, **kwargs: Any):
        """As :meth:`transformers.PreTrainedModel.from_pretrained`; head settings may be
        given as keyword arguments. Loading a saved ``MavenModel`` folder initialises the
        towers from it and the head afresh."""
        model = super().from_pretrained(*args, **kwargs)
        model._apply_freeze()  # loading may have replaced the parameters
        model.train(model.training)
        return model

    def train(self, mode: bool = True):
        """As ``nn.Module.train``; a frozen encoder stays in eval mode (no dropout)."""
        super().train(mode)
        if getattr(self.config, "freeze_encoder", False):
            self.maven.eval()
        return self

    # -------------------------------------------------------------- features

    def embed(
        self,
        photometry_values: torch.Tensor | None = None,
        photometry_time: torch.Tensor | None = None,
        photometry_wavelength: torch.Tensor | None = None,
        photometry_mask: torch.Tensor | None = None,
        photometry_scale: torch.Tensor | None = None,
        redshift: torch.Tensor | None = None,
        redshift_mask: torch.Tensor | None = None,
        spectrum_values: torch.Tensor | None = None,
        spectrum_wavelength: torch.Tensor | None = None,
        spectrum_mask: torch.Tensor | None = None,
        has_photometry: torch.Tensor | None = None,
        has_spectrum: torch.Tensor | None = None,
        photometry_features: torch.Tensor | None = None,
        photometry_features_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The head's input features, (B, feature_dim), from a processor batch
        (``photometry_features`` and its mask are read only with ``head_extra_features``).

        Raises:
            MavenError: inputs of the chosen modality missing, or a row without the
                modality it needs (without either, for ``"both"``); light-curve features
                missing, misshapen or non-finite where defined when the head reads them.
        """
        mod = self.config.head_modality
        phot_inputs = {
            "photometry_values": photometry_values,
            "photometry_time": photometry_time,
            "photometry_wavelength": photometry_wavelength,
            "photometry_mask": photometry_mask,
            "photometry_scale": photometry_scale,
            "redshift": redshift,
            "redshift_mask": redshift_mask,
        }
        spec_inputs = {
            "spectrum_values": spectrum_values,
            "spectrum_wavelength": spectrum_wavelength,
            "spectrum_mask": spectrum_mask,
            "redshift": redshift,
            "redshift_mask": redshift_mask,
        }
        ref = photometry_values if mod != "spectrum" else spectrum_values
        if ref is None:
            need = "spectrum" if mod == "spectrum" else "photometry"
            raise ConfigError(f"head_modality={mod!r} needs the {need} inputs")
        b, device = ref.shape[0], ref.device

        def flag(x: torch.Tensor | None, name: str) -> torch.Tensor:
            if x is None:
                return torch.ones(b, dtype=torch.bool, device=device)
            if x.shape != (b,):
                raise MavenError(f"{name} must have shape ({b},), got {tuple(x.shape)}")
            return x.bool()

        has_p, has_s = flag(has_photometry, "has_photometry"), flag(has_spectrum, "has_spectrum")
        for name, need, present in (
            ("photometry", mod == "photometry", has_p),
            ("spectrum", mod == "spectrum", has_s),
        ):
            if need and not bool(present.all()):
                raise MavenError(
                    f"head_modality={mod!r}: {int((~present).sum())} of {b} objects have no "
                    f"{name}; drop them or use head_modality='both'"
                )
        if mod == "both" and not bool((has_p | has_s).all()):
            raise MavenError("some objects have neither photometry nor a spectrum")
        n = self.config.head_extra_features
        if n:
            f, m = photometry_features, photometry_features_mask
            if f is None or m is None:
                raise ConfigError(
                    f"head_extra_features={n}: the head needs photometry_features and "
                    "photometry_features_mask (MavenProcessor(lightcurve_features=True))"
                )
            for name, x in (("photometry_features", f), ("photometry_features_mask", m)):
                if tuple(x.shape) != (b, n):
                    raise MavenError(f"{name} must have shape ({b}, {n}), got {tuple(x.shape)}")
            if not bool(torch.isfinite(f[m.bool()]).all()):
                raise MavenError("photometry_features must be finite where the mask is True")
        else:  # an embedding-only head ignores them
            photometry_features = photometry_features_mask = None
        ep = es = None
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_encoder):
            # "both": a tower no row of the batch needs is skipped; its zeros are masked out
            # by fuse as a missing modality's features always are (the output is the same)
            if mod == "photometry" or (mod == "both" and bool(has_p.any())):
                ep = self.maven.get_photometry_features(**phot_inputs)
            if mod in ("spectrum", "both") and spectrum_values is None:
                raise ConfigError(f"head_modality={mod!r} needs the spectrum inputs")
            if mod == "spectrum" or (mod == "both" and bool(has_s.any())):
                es = self.maven.get_spectrum_features(**spec_inputs)
        if mod == "both":
            dtype = next(self.maven.parameters()).dtype
            zeros = torch.zeros(b, self.config.projection_dim, device=device, dtype=dtype)
            ep, es = (zeros if e is None else e for e in (ep, es))
        return self.fuse(ep, es, has_p, has_s, photometry_features, photometry_features_mask)

    def fuse(
        self,
        photometry_features: torch.Tensor | None,
        spectrum_features: torch.Tensor | None,
        has_photometry: torch.Tensor,
        has_spectrum: torch.Tensor,
        lightcurve_features: torch.Tensor | None = None,
        lightcurve_features_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The head's input features (B, feature_dim) from the towers' projected features
        (``get_*_features``; None for a modality the head does not use) and the (B,) bool
        flags: L2-normalised, times sqrt(projection_dim), fused for ``"both"``; with
        ``head_extra_features``, the processor's (B, F) ``photometry_features`` and mask
        (here ``lightcurve_features``, as the towers' outputs have the other name) follow,
        standardised by the config's centre and scale and clipped at +-5, 0 where undefined,
        then the mask as 0/1. Tensor operations only, no checks (:meth:`embed` checks; the
        ONNX head graph is this)."""
        x = self._fuse_towers(photometry_features, spectrum_features, has_photometry, has_spectrum)
        if not self.config.head_extra_features:
            return x
        cfg = self.config
        f, m = lightcurve_features.to(x.dtype), lightcurve_features_mask.bool()
        center = torch.tensor(cfg.extra_feature_center or 0.0, dtype=x.dtype, device=x.device)
        scale = torch.tensor(cfg.extra_feature_scale or 1.0, dtype=x.dtype, device=x.device)
        z = ((f - center) / scale).clamp(-5.0, 5.0)
        z = torch.where(m, z, torch.zeros_like(z))
        return torch.cat([x, z, m.to(x.dtype)], dim=-1)

    def _fuse_towers(self, photometry_features, spectrum_features, has_photometry, has_spectrum):
        """The towers' part of :meth:`fuse`."""
        scale = math.sqrt(self.config.projection_dim)
        feats = [
            (F.normalize(e, dim=-1) * scale, m)
            for e, m in ((photometry_features, has_photometry), (spectrum_features, has_spectrum))
            if e is not None
        ]
        if len(feats) == 1:
            return feats[0][0]
        (ep, mp), (es, ms) = feats
        # a missing modality contributes zeros (torch.where: never NaN * 0)
        ep = torch.where(mp.unsqueeze(-1), ep, torch.zeros_like(ep))
        es = torch.where(ms.unsqueeze(-1), es, torch.zeros_like(es))
        if self.config.head_fusion == "concat":
            return torch.cat([ep, es], dim=-1)
        if self.config.head_fusion == "per_input":
            both = (mp & ms).unsqueeze(-1)
            zero = torch.zeros_like(ep)
            return torch.cat(
                [
                    torch.where(both, ep, zero),
                    torch.where(both, es, zero),
                    torch.where(both, zero, ep),
                    torch.where(both, zero, es),
                ],
                dim=-1,
            )
        n = (mp.to(ep.dtype) + ms.to(ep.dtype)).clamp(min=1.0).unsqueeze(-1)
        return (ep + es) / n

    def input_views(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(views, rows)``: the head's input ``features`` (B, feature_dim) of every row
        and, with ``head_fusion="per_input"``, those of each row with both inputs given
        one input alone (its light curve, with the light-curve features; its spectrum),
        appended; ``rows`` (B') gives each view's row. Other fusions: ``features`` and
        ``arange(B)``. A slot is filled where its norm is not 0 (the embeddings are unit
        vectors times ``sqrt(projection_dim)``)."""
        b = features.shape[0]
        rows = torch.arange(b, device=features.device)
        cfg = self.config
        if cfg.head_modality != "both" or cfg.head_fusion != "per_input":
            return features, rows
        d = cfg.projection_dim
        both_p, both_s = features[:, :d], features[:, d : 2 * d]
        extra = features[:, 4 * d :]
        both = self._filled(features, 0) & self._filled(features, 1)
        if not bool(both.any()):
            return features, rows
        pick = rows[both]
        zero = torch.zeros_like(both_p[pick])
        photometry = torch.cat([zero, zero, both_p[pick], zero, extra[pick]], dim=-1)
        spectrum = torch.cat([zero, zero, zero, both_s[pick], torch.zeros_like(extra[pick])], -1)
        return torch.cat([features, photometry, spectrum]), torch.cat([rows, pick, pick])

    def input_sets(self, features: torch.Tensor) -> np.ndarray:
        """The input set of each row of the head's input ``features`` (B', feature_dim), as
        :meth:`input_views` lays them out: ``"both"``, ``"photometry"`` or ``"spectrum"`` for a
        ``per_input`` head, by the slot that is filled; ``"all"`` for other fusions."""
        cfg = self.config
        if cfg.head_modality != "both" or cfg.head_fusion != "per_input":
            return np.full(len(features), "all")
        both = (self._filled(features, 0) & self._filled(features, 1)).cpu().numpy()
        photometry = self._filled(features, 2).cpu().numpy()
        return np.where(both, "both", np.where(photometry, "photometry", "spectrum"))

    def _filled(self, features: torch.Tensor, slot: int) -> torch.Tensor:
        """(B,) bool: slot ``slot`` (of ``projection_dim`` columns) of ``features`` is not 0."""
        d = self.config.projection_dim
        return features[:, slot * d : (slot + 1) * d].abs().sum(-1) > 0


# ---------------------------------------------------------------------- classification


@dataclass
class MavenClassificationOutput(ModelOutput):
    """Output of :class:`MavenForSupernovaClassification`.

    Attributes:
        loss: (weighted) cross-entropy, scalar; only when ``labels`` are given.
        logits: unnormalised class scores, (B, num_labels); columns in ``config.id2label``
            order.
        embeddings: the head's input features, (B, feature_dim).
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    embeddings: torch.Tensor | None = None


class MavenForSupernovaClassification(MavenHeadModel):
    """Supernova classifier on the maven embedding (linear probe or MLP head).

    ``forward(**processor_batch, labels=None)``: ``labels`` are class indices (B,) in
    ``config.id2label`` order (:meth:`encode_labels` maps names); ``-100`` rows are ignored.
    The loss is the cross-entropy weighted by ``config.class_weights`` when set.
    """

    def __init__(self, config: MavenConfig, **head_settings: Any) -> None:
        super().__init__(config, **head_settings)
        _set_labels(self.config)
        self.num_labels = len(self.config.id2label)
        self.classifier = _mlp(
            self.feature_dim,
            self.config.head_hidden_size,
            self.num_labels,
            float(self.config.head_dropout),
        )
        self.post_init()

    def encode_labels(self, names: Sequence[str | None], unknown: str = "raise") -> torch.Tensor:
        """Class names -> indices (LongTensor). ``unknown="ignore"`` maps names outside the
        classes (and ``None``) to ``-100`` (ignored by the loss) instead of raising."""
        if unknown not in ("raise", "ignore"):
            raise ConfigError(f"unknown must be 'raise' or 'ignore', got {unknown!r}")
        label2id = self.config.label2id
        out = []
        for name in names:
            if name in label2id:
                out.append(label2id[name])
            elif unknown == "ignore":
                out.append(IGNORE_INDEX)
            else:
                raise MavenError(f"unknown class {name!r}; classes: {list(label2id)}")
        return torch.tensor(out, dtype=torch.long)

    def forward(
        self,
        photometry_values: torch.Tensor | None = None,
        photometry_time: torch.Tensor | None = None,
        photometry_wavelength: torch.Tensor | None = None,
        photometry_mask: torch.Tensor | None = None,
        photometry_scale: torch.Tensor | None = None,
        redshift: torch.Tensor | None = None,
        redshift_mask: torch.Tensor | None = None,
        spectrum_values: torch.Tensor | None = None,
        spectrum_wavelength: torch.Tensor | None = None,
        spectrum_mask: torch.Tensor | None = None,
        has_photometry: torch.Tensor | None = None,
        has_spectrum: torch.Tensor | None = None,
        photometry_features: torch.Tensor | None = None,
        photometry_features_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> MavenClassificationOutput | tuple:
        """Class logits and, with ``labels`` (B,) class indices, the loss.

        ``redshift`` / ``redshift_mask`` are the processor's redshift *input* (used only if
        ``config.use_redshift_input``), not a target. ``photometry_features`` / its mask:
        the processor's light-curve features, read with ``head_extra_features``.

        Raises:
            MavenError: missing inputs (see :meth:`embed`) or labels of the wrong shape or
                outside ``0..num_labels-1`` (other than -100).
        """
        if not self.config.use_redshift_input:
            redshift = redshift_mask = None
        feats = self.embed(
            photometry_values=photometry_values,
            photometry_time=photometry_time,
            photometry_wavelength=photometry_wavelength,
            photometry_mask=photometry_mask,
            photometry_scale=photometry_scale,
            redshift=redshift,
            redshift_mask=redshift_mask,
            spectrum_values=spectrum_values,
            spectrum_wavelength=spectrum_wavelength,
            spectrum_mask=spectrum_mask,
            has_photometry=has_photometry,
            has_spectrum=has_spectrum,
            photometry_features=photometry_features,
            photometry_features_mask=photometry_features_mask,
        )
        logits = self.classifier(feats)
        loss = None
        if labels is not None:
            views, rows = self.input_views(feats)  # per_input: every input set of each object
            labels = self._class_indices(labels, len(feats)).to(rows.device)[rows]
            loss = self._loss(logits if views is feats else self.classifier(views), labels)
        out = MavenClassificationOutput(loss=loss, logits=logits, embeddings=feats)
        return out if return_dict else out.to_tuple()

    def _class_indices(self, labels, n: int) -> torch.Tensor:
        """``labels`` as a checked (n,) LongTensor of class indices (or -100)."""
        if not isinstance(labels, torch.Tensor):
            labels = torch.as_tensor(labels)
        if labels.shape != (n,):
            raise MavenError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
        if labels.is_floating_point():
            raise MavenError("labels must be integer class indices (see encode_labels)")
        labels = labels.long()
        valid = labels != IGNORE_INDEX
        if bool(((labels[valid] < 0) | (labels[valid] >= self.num_labels)).any()):
            raise MavenError(
                f"labels must be class indices in 0..{self.num_labels - 1} (or {IGNORE_INDEX})"
            )
        return labels

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = self._class_indices(labels, logits.shape[0]).to(logits.device)
        valid = labels != IGNORE_INDEX
        if not bool(valid.any()):
            return logits.sum() * 0.0
        # from the config on each call: a non-persistent buffer is not restored (it would be
        # left uninitialised) when from_pretrained builds the model on the meta device
        w = self.config.class_weights
        weight = None if w is None else torch.tensor(w, dtype=logits.dtype, device=logits.device)
        return F.cross_entropy(logits, labels, weight=weight, ignore_index=IGNORE_INDEX)


# ---------------------------------------------------------------------- redshift


@dataclass
class MavenRedshiftOutput(ModelOutput):
    """Output of :class:`MavenForRedshift`.

    Attributes:
        loss: mean Gaussian negative log-likelihood (in the ``redshift_target`` space),
            scalar; only when ``redshift_labels`` are given.
        redshift_mean: point estimate of z, (B,) (for ``"log1p"``: ``exp(mu) - 1``, the
            median of the predicted distribution of z).
        redshift_sigma: 1-sigma uncertainty of z, (B,) (for ``"log1p"``:
            ``(1 + redshift_mean) * sigma``, the delta method).
        mu, log_sigma: the Gaussian's mean and log standard deviation in the target space,
            (B,) each.
        embeddings: the head's input features, (B, feature_dim).
    """

    loss: torch.Tensor | None = None
    redshift_mean: torch.Tensor | None = None
    redshift_sigma: torch.Tensor | None = None
    mu: torch.Tensor | None = None
    log_sigma: torch.Tensor | None = None
    embeddings: torch.Tensor | None = None


class MavenForRedshift(MavenHeadModel):
    """Redshift regression with a per-object uncertainty (heteroscedastic Gaussian).

    The head predicts ``(mu, log_sigma)`` of ``t = log(1 + z)`` (``redshift_target="log1p"``,
    default) or of ``t = z`` (``"z"``); the loss is the Gaussian NLL
    ``0.5 ((t - mu) / sigma)^2 + log sigma + 0.5 log 2 pi``, with ``log_sigma`` clamped to
    ``[log 1e-4, log 10]`` (weighted per object by ``sigma ** (2 beta)`` with
    ``redshift_loss_beta``).

    **The target is ``redshift_labels``, not ``redshift``**: the processor batch's
    ``redshift`` / ``redshift_mask`` are the optional redshift *input token* and are
    *ignored* here (accepted so that ``model(**batch)`` works), so the model never sees the
    answer.
    """

    def __init__(self, config: MavenConfig, **head_settings: Any) -> None:
        super().__init__(config, **head_settings)
        if self.config.head_extra_features:
            raise ConfigError(
                "head_extra_features is for classification only: the light-curve features "
                "carry the redshift input (redshift, peak_abs_mag), the redshift head's answer"
            )
        self.regressor = _mlp(
            self.feature_dim, self.config.head_hidden_size, 2, float(self.config.head_dropout)
        )
        self.regressor[-1]._maven_redshift_out = True
        t = self.config.redshift_templates
        if t:
            bins = int(self.config.redshift_template_grid[2])
            self.register_buffer("template_flux", torch.zeros(t, bins))
            self.register_buffer("template_mask", torch.zeros(t, bins, dtype=torch.bool))
        self._bank: tuple | None = None
        self.post_init()

    def template_bank(self):
        """The :class:`~maven.models.template_redshift.TemplateBank` in the weights, or None."""
        from maven.models.template_redshift import TemplateBank

        if not self.config.redshift_templates:
            return None
        key = (self.template_flux.data_ptr(), self.template_flux._version)
        if self._bank is None or self._bank[0] != key:
            flux = self.template_flux.detach().float().cpu().numpy()
            mask = self.template_mask.detach().cpu().numpy()
            bank = TemplateBank(flux, mask, self.config.redshift_template_grid)
            self._bank = (key, bank)
        return self._bank[1]

    def set_template_bank(self, bank) -> None:
        """Store ``bank`` (a :class:`~maven.models.template_redshift.TemplateBank`) in the
        weights and the config; None removes it."""
        for name in ("template_flux", "template_mask"):
            if name in self._buffers:
                del self._buffers[name]
        self._bank = None
        if bank is None:
            self.config.redshift_templates, self.config.redshift_template_grid = 0, None
            return
        device = next(self.parameters()).device
        self.register_buffer("template_flux", torch.from_numpy(bank.flux.copy()).to(device))
        self.register_buffer("template_mask", torch.from_numpy(bank.mask.copy()).to(device))
        self.config.redshift_templates = len(bank)
        self.config.redshift_template_grid = list(bank.grid)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if getattr(module, "_maven_redshift_out", False):
            # start at sigma = INIT_SIGMA rather than 1 (redshifts are ~0.01-1)
            _init.normal_(module.weight, mean=0.0, std=0.01 / math.sqrt(module.in_features))
            bias = torch.tensor([0.0, math.log(INIT_SIGMA)], dtype=module.bias.dtype)
            if hasattr(_init, "copy_"):
                _init.copy_(module.bias, bias)
            else:  # pragma: no cover - transformers 4.x
                module.bias.copy_(bias)

    def forward(
        self,
        photometry_values: torch.Tensor | None = None,
        photometry_time: torch.Tensor | None = None,
        photometry_wavelength: torch.Tensor | None = None,
        photometry_mask: torch.Tensor | None = None,
        photometry_scale: torch.Tensor | None = None,
        redshift: torch.Tensor | None = None,
        redshift_mask: torch.Tensor | None = None,
        spectrum_values: torch.Tensor | None = None,
        spectrum_wavelength: torch.Tensor | None = None,
        spectrum_mask: torch.Tensor | None = None,
        has_photometry: torch.Tensor | None = None,
        has_spectrum: torch.Tensor | None = None,
        photometry_features: torch.Tensor | None = None,
        photometry_features_mask: torch.Tensor | None = None,
        redshift_labels: torch.Tensor | None = None,
        redshift_labels_mask: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> MavenRedshiftOutput | tuple:
        """Predicted redshift and uncertainty; the NLL with ``redshift_labels`` (B,).

        Args:
            redshift, redshift_mask: the processor's redshift input; **ignored**.
            photometry_features, photometry_features_mask: **ignored** (they hold the
                redshift input too).
            redshift_labels: true redshifts (B,), > -1.
            redshift_labels_mask: optional (B,) bool, False for rows without a true
                redshift (left out of the loss).

        Raises:
            MavenError: missing inputs, labels of the wrong shape, non-finite or <= -1.
        """
        # never feed the answer to the model (the light-curve features hold it too)
        del redshift, redshift_mask, photometry_features, photometry_features_mask
        feats = self.embed(
            photometry_values=photometry_values,
            photometry_time=photometry_time,
            photometry_wavelength=photometry_wavelength,
            photometry_mask=photometry_mask,
            photometry_scale=photometry_scale,
            spectrum_values=spectrum_values,
            spectrum_wavelength=spectrum_wavelength,
            spectrum_mask=spectrum_mask,
            has_photometry=has_photometry,
            has_spectrum=has_spectrum,
        )
        mu, log_sigma, z_mean, z_sigma = self.gaussian(feats)
        loss = None
        if redshift_labels is not None:
            z, valid = self._redshift_labels(redshift_labels, redshift_labels_mask, mu)
            views, rows = self.input_views(feats)  # per_input: every input set of each object
            scored = (mu, log_sigma) if views is feats else self.gaussian(views)[:2]
            loss = self._loss(*scored, z[rows], valid[rows])
        out = MavenRedshiftOutput(
            loss=loss,
            redshift_mean=z_mean,
            redshift_sigma=z_sigma,
            mu=mu,
            log_sigma=log_sigma,
            embeddings=feats,
        )
        return out if return_dict else out.to_tuple()

    def gaussian(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(mu, log_sigma, redshift_mean, redshift_sigma)``, (B,) each, from the head's
        input features (see :class:`MavenRedshiftOutput`)."""
        raw = self.regressor(features)
        mu = raw[:, 0]
        log_sigma = raw[:, 1].clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX)
        sigma = log_sigma.exp() * float(self.config.redshift_sigma_scale)
        if self.config.redshift_target == "log1p":
            z_mean = torch.expm1(mu)
            return mu, log_sigma, z_mean, (1.0 + z_mean) * sigma
        return mu, log_sigma, mu, sigma

    def _redshift_labels(self, z, mask, mu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z, valid)``: the true redshifts on ``mu``'s device and dtype and the bool mask
        of the rows that have one, checked against ``mu`` (B,)."""
        if not isinstance(z, torch.Tensor):
            z = torch.as_tensor(z)
        if z.shape != mu.shape:
            raise MavenError(
                f"redshift_labels must have shape ({mu.shape[0]},), got {tuple(z.shape)}"
            )
        z = z.to(device=mu.device, dtype=mu.dtype)
        valid = torch.ones_like(z, dtype=torch.bool) if mask is None else mask.to(z.device).bool()
        if valid.shape != z.shape:
            raise MavenError(f"redshift_labels_mask must have shape {tuple(z.shape)}")
        zv = z[valid]
        if not bool(torch.isfinite(zv).all()) or bool((zv <= -1).any()):
            raise MavenError("redshift_labels must be finite and > -1 (mask unknown ones)")
        return z, valid

    def _loss(
        self,
        mu: torch.Tensor,
        log_sigma: torch.Tensor,
        z: torch.Tensor,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        z, valid = self._redshift_labels(z, mask, mu)
        zv = z[valid]
        if not bool(valid.any()):
            return mu.sum() * 0.0
        target = torch.log1p(zv) if self.config.redshift_target == "log1p" else zv
        ls = log_sigma[valid]
        nll = 0.5 * ((target - mu[valid]) * torch.exp(-ls)) ** 2 + ls + 0.5 * math.log(2 * math.pi)
        beta = float(self.config.redshift_loss_beta)
        if not beta:
            return nll.mean()
        w = torch.exp(2.0 * beta * ls.detach())
        return (w * nll).sum() / w.sum()
