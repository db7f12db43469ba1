"""Cross-modal retrieval metrics: how often a light curve finds its own spectrum, and back."""

from __future__ import annotations

import torch

__all__ = ["retrieval_metrics"]


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
