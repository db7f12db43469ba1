"""The contrastive (CLIP) loss over the global batch: negatives gathered across processes."""

from __future__ import annotations

import torch
from torch import nn

from maven.models.modeling_maven import clip_loss
from maven.training import dist

__all__ = ["ClipLoss", "retrieval_metrics"]


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


@torch.no_grad()
def retrieval_metrics(
    photometry_embeds: torch.Tensor, spectrum_embeds: torch.Tensor, ks=(1, 10)
) -> dict[str, float]:
    """Cross-modal retrieval of the true partner, both directions.

    Returns ``phot2spec_top{k}``, ``spec2phot_top{k}`` (fraction whose partner ranks in the top
    k) and the mean and median rank (1 = best) each way. Embeddings ``(N, D)``, row i pairs
    with row i.
    """
    sims = photometry_embeds.float() @ spectrum_embeds.float().T
    out: dict[str, float] = {}
    for name, s in (("phot2spec", sims), ("spec2phot", sims.T)):
        true = s.diagonal().unsqueeze(1)
        rank = (s > true).sum(dim=1) + 1  # 1-based rank of the partner
        for k in ks:
            out[f"{name}_top{k}"] = float((rank <= k).float().mean())
        out[f"{name}_mean_rank"] = float(rank.float().mean())
        out[f"{name}_median_rank"] = float(rank.float().median()) if len(rank) else float("nan")
    return out
