"""The maven contrastive model (``CLIPModel``-shaped): two towers, one shared embedding.

Example (``supernovae``: a list of :class:`~maven.data.Supernova`):
    >>> from maven.models import MavenConfig, MavenModel, MavenProcessor
    >>> model = MavenModel(MavenConfig.from_preset("tiny")).eval()
    >>> batch = MavenProcessor()(supernovae)
    >>> out = model(**batch, return_loss=True)
    >>> out.logits_per_photometry.shape  # (B, B)
    >>> lc_embeddings = model.get_photometry_features(**batch)  # (B, 32), unnormalised
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.utils import ModelOutput

from maven.errors import ConfigError, MavenError
from maven.models.configuration_maven import MAX_LOGIT_SCALE, MavenConfig
from maven.models.encoders import MavenPhotometryEncoder, MavenSpectrumEncoder, RedshiftToken

try:  # transformers >= 5: init helpers that leave already-loaded weights alone
    from transformers import initialization as _init
except ImportError:  # pragma: no cover - transformers 4.x
    _init = nn.init

__all__ = [
    "contrastive_loss",
    "clip_loss",
    "MavenOutput",
    "MavenPreTrainedModel",
    "MavenModel",
    "PHOTOMETRY_INPUTS",
    "SPECTRUM_INPUTS",
]

#: keyword arguments of :meth:`MavenModel.get_photometry_features`
PHOTOMETRY_INPUTS = (
    "photometry_values",
    "photometry_time",
    "photometry_wavelength",
    "photometry_mask",
    "photometry_scale",
    "redshift",
    "redshift_mask",
)
#: keyword arguments of :meth:`MavenModel.get_spectrum_features`
SPECTRUM_INPUTS = (
    "spectrum_values",
    "spectrum_wavelength",
    "spectrum_mask",
    "redshift",
    "redshift_mask",
)


def contrastive_loss(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each row against the diagonal. ``logits`` (N, N) -> scalar."""
    return F.cross_entropy(logits, torch.arange(logits.shape[0], device=logits.device))


def clip_loss(logits_per_photometry: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE: mean of the row-wise and column-wise :func:`contrastive_loss`.

    ``logits_per_photometry`` (N, N), pair i on the diagonal -> scalar.
    """
    return 0.5 * (
        contrastive_loss(logits_per_photometry) + contrastive_loss(logits_per_photometry.t())
    )


@dataclass
class MavenOutput(ModelOutput):
    """Output of :class:`MavenModel`.

    Attributes:
        loss: symmetric InfoNCE over the pairs with both modalities, scalar; only with
            ``return_loss=True``.
        logits_per_photometry: scaled cosine similarities, (B_p, B_s).
        logits_per_spectrum: its transpose, (B_s, B_p).
        photometry_embeds: L2-normalised light-curve embeddings, (B_p, projection_dim).
        spectrum_embeds: L2-normalised spectrum embeddings, (B_s, projection_dim).
        photometry_model_output: the tower's ``last_hidden_state`` (B_p, 1 + [1] + L, H:
            scale token, redshift token if used, observations) and ``pooler_output`` (B_p, H).
        spectrum_model_output: likewise, ``last_hidden_state`` (B_s, [1] + N / patch_size, H).
    """

    loss: torch.Tensor | None = None
    logits_per_photometry: torch.Tensor | None = None
    logits_per_spectrum: torch.Tensor | None = None
    photometry_embeds: torch.Tensor | None = None
    spectrum_embeds: torch.Tensor | None = None
    photometry_model_output: BaseModelOutputWithPooling | None = None
    spectrum_model_output: BaseModelOutputWithPooling | None = None

    def to_tuple(self) -> tuple:
        """As :meth:`ModelOutput.to_tuple`, with the nested tower outputs as tuples too."""
        return tuple(v.to_tuple() if isinstance(v, ModelOutput) else v for v in super().to_tuple())


class MavenPreTrainedModel(PreTrainedModel):
    """Weight initialisation and the Hugging Face plumbing shared by maven models."""

    config_class = MavenConfig
    base_model_prefix = "maven"
    main_input_name = "photometry_values"
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """LeCun-normal Linear weights (std ``factor / sqrt(fan_in)``, times the module's
        ``init_scale`` if set: ``1 / sqrt(2 * layers)`` for residual outputs), zero biases."""
        factor = getattr(self.config, "initializer_factor", 1.0)
        if isinstance(module, nn.Linear):
            std = factor * getattr(module, "init_scale", 1.0) / math.sqrt(module.in_features)
            _init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                _init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            _init.ones_(module.weight)
            _init.zeros_(module.bias)
        elif isinstance(module, MavenPhotometryEncoder):
            _init.normal_(module.scale_token, mean=0.0, std=factor)
        elif isinstance(module, RedshiftToken):
            _init.normal_(module.token, mean=0.0, std=factor)
        elif isinstance(module, MavenModel):
            _init.constant_(module.logit_scale, self.config.logit_scale_init_value)


class MavenModel(MavenPreTrainedModel):
    """Light-curve and spectrum towers with bias-free projections and a learnable temperature.

    Inputs are the tensors of :class:`~maven.models.MavenProcessor` (see its docs for shapes):
    ``model(**processor(supernovae))`` works. Either modality may be omitted; the logits and
    the loss need both.
    """

    def __init__(self, config: MavenConfig) -> None:
        super().__init__(config)
        self.photometry_model = MavenPhotometryEncoder(config.photometry_config)
        self.spectrum_model = MavenSpectrumEncoder(config.spectrum_config)
        self.photometry_projection = nn.Linear(
            config.photometry_config.hidden_size, config.projection_dim, bias=False
        )
        self.spectrum_projection = nn.Linear(
            config.spectrum_config.hidden_size, config.projection_dim, bias=False
        )
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init_value)))
        self.post_init()

    def _photometry(self, **inputs: torch.Tensor | None) -> BaseModelOutputWithPooling:
        missing = [k for k in PHOTOMETRY_INPUTS[:5] if inputs.get(k) is None]
        if missing:
            raise MavenError(f"photometry inputs missing: {missing}")
        hidden, pooled = self.photometry_model(**inputs)
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled)

    def _spectrum(self, **inputs: torch.Tensor | None) -> BaseModelOutputWithPooling:
        missing = [k for k in SPECTRUM_INPUTS[:3] if inputs.get(k) is None]
        if missing:
            raise MavenError(f"spectrum inputs missing: {missing}")
        hidden, pooled = self.spectrum_model(**inputs)
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled)

    def get_photometry_features(
        self,
        photometry_values: torch.Tensor,
        photometry_time: torch.Tensor,
        photometry_wavelength: torch.Tensor,
        photometry_mask: torch.Tensor,
        photometry_scale: torch.Tensor,
        redshift: torch.Tensor | None = None,
        redshift_mask: torch.Tensor | None = None,
        **_: object,
    ) -> torch.Tensor:
        """Projected, **unnormalised** light-curve embeddings, (B, projection_dim).

        Extra keyword arguments (the spectrum tensors of a processor batch) are ignored.
        """
        out = self._photometry(
            photometry_values=photometry_values,
            photometry_time=photometry_time,
            photometry_wavelength=photometry_wavelength,
            photometry_mask=photometry_mask,
            photometry_scale=photometry_scale,
            redshift=redshift,
            redshift_mask=redshift_mask,
        )
        return self.photometry_projection(out.pooler_output)

    def get_spectrum_features(
        self,
        spectrum_values: torch.Tensor,
        spectrum_wavelength: torch.Tensor,
        spectrum_mask: torch.Tensor,
        redshift: torch.Tensor | None = None,
        redshift_mask: torch.Tensor | None = None,
        **_: object,
    ) -> torch.Tensor:
        """Projected, **unnormalised** spectrum embeddings, (B, projection_dim).

        The redshift is used only if the spectrum config says ``use_redshift``. Extra keyword
        arguments (the photometry tensors of a processor batch) are ignored.
        """
        out = self._spectrum(
            spectrum_values=spectrum_values,
            spectrum_wavelength=spectrum_wavelength,
            spectrum_mask=spectrum_mask,
            redshift=redshift,
            redshift_mask=redshift_mask,
        )
        return self.spectrum_projection(out.pooler_output)

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
        return_loss: bool = False,
        return_dict: bool = True,
    ) -> MavenOutput | tuple:
        """Normalised embeddings, logits and (optionally) the contrastive loss.

        ``photometry_features`` / its mask (``MavenProcessor(lightcurve_features=True)``)
        are for a head's ``head_extra_features`` and ignored here, so one batch fits both.

        The logit scale is clamped at ``log(100)`` here (the trainer may also clamp the
        parameter in place). With ``has_photometry`` / ``has_spectrum`` (B,) given, the loss
        uses only the rows that have both modalities (zero, with grad, if none has).

        Raises:
            MavenError: ``return_loss`` without both modalities, or incomplete inputs.
        """
        del photometry_features, photometry_features_mask
        phot_out = spec_out = phot = spec = None
        if photometry_values is not None:
            phot_out = self._photometry(
                photometry_values=photometry_values,
                photometry_time=photometry_time,
                photometry_wavelength=photometry_wavelength,
                photometry_mask=photometry_mask,
                photometry_scale=photometry_scale,
                redshift=redshift,
                redshift_mask=redshift_mask,
            )
            phot = F.normalize(self.photometry_projection(phot_out.pooler_output), dim=-1)
        if spectrum_values is not None:
            spec_out = self._spectrum(
                spectrum_values=spectrum_values,
                spectrum_wavelength=spectrum_wavelength,
                spectrum_mask=spectrum_mask,
                redshift=redshift,
                redshift_mask=redshift_mask,
            )
            spec = F.normalize(self.spectrum_projection(spec_out.pooler_output), dim=-1)
        logits_p = logits_s = loss = None
        if phot is not None and spec is not None:
            scale = self.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()
            logits_p = scale * phot @ spec.t()
            logits_s = logits_p.t()
        if return_loss:
            if logits_p is None:
                raise ConfigError("return_loss=True needs both photometry and spectrum inputs")
            loss = self._pair_loss(logits_p, has_photometry, has_spectrum)
        out = MavenOutput(
            loss=loss,
            logits_per_photometry=logits_p,
            logits_per_spectrum=logits_s,
            photometry_embeds=phot,
            spectrum_embeds=spec,
            photometry_model_output=phot_out,
            spectrum_model_output=spec_out,
        )
        return out if return_dict else out.to_tuple()

    @staticmethod
    def _pair_loss(
        logits: torch.Tensor, has_p: torch.Tensor | None, has_s: torch.Tensor | None
    ) -> torch.Tensor:
        if logits.shape[0] != logits.shape[1]:
            raise MavenError(f"the loss needs paired inputs, got logits {tuple(logits.shape)}")
        if has_p is None and has_s is None:
            return clip_loss(logits)
        both = torch.ones(logits.shape[0], dtype=torch.bool, device=logits.device)
        if has_p is not None:
            both &= has_p.bool()
        if has_s is not None:
            both &= has_s.bool()
        if bool(both.all()):
            return clip_loss(logits)
        if not bool(both.any()):
            return logits.sum() * 0.0
        return clip_loss(logits[both][:, both])
