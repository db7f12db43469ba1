"""The contrastive (CLIP) loss over the global batch: negatives gathered across processes."""

from __future__ import annotations

import torch
from torch import nn

from maven.models.modeling_maven import clip_loss
from maven.training import dist

__all__ = ["ClipLoss"]


class ClipLoss(nn.Module):
    """Symmetric InfoNCE between photometry and spectrum embeddings of the *global* batch.

    Each process gathers all embeddings with gradient (:func:`dist.gather_with_grad`) and
    computes the loss of the full ``(W*B) x (W*B)`` logit matrix, so its value equals the
    single-process loss on the concatenated batch, and data-parallel gradient averaging gives
    the single-process gradient.

    Args:
        gather_distributed: gather negatives across processes (the default; set False to use
            per-device negatives only).
    """

    def __init__(self, gather_distributed: bool = True):
        super().__init__()
        self.gather_distributed = gather_distributed

    def get_logits(
        self, photometry_embeds: torch.Tensor, spectrum_embeds: torch.Tensor, logit_scale
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(N, N)`` per photometry and per spectrum, N the (global) batch size.

        Embeddings: ``(B, D)``, L2-normalised. ``logit_scale``: the *exponentiated* scale.
        """
        if self.gather_distributed:
            photometry_embeds = dist.gather_with_grad(photometry_embeds)
            spectrum_embeds = dist.gather_with_grad(spectrum_embeds)
        logits = logit_scale * photometry_embeds @ spectrum_embeds.T
        return logits, logits.T

    def forward(
        self,
        photometry_embeds: torch.Tensor,
        spectrum_embeds: torch.Tensor,
        logit_scale: torch.Tensor,
        output_dict: bool = False,
    ):
        """Mean of the photometry->spectrum and spectrum->photometry cross-entropies."""
        per_phot, _ = self.get_logits(photometry_embeds, spectrum_embeds, logit_scale)
        loss = clip_loss(per_phot)
        return {"contrastive_loss": loss} if output_dict else loss
