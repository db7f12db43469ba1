"""Distribution-agnostic helpers: rank, world size and a differentiable all-gather.

They work without a process group (rank 0 of 1), so the same loss code runs on one CPU, one
GPU or many processes. ``accelerator.gather`` keeps no autograd history, so it is for metrics
only; contrastive negatives need :func:`gather_with_grad`.
"""

from __future__ import annotations

import torch
import torch.distributed as torch_dist

__all__ = ["is_distributed", "rank", "world_size", "gather_with_grad"]


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return torch_dist.is_available() and torch_dist.is_initialized() and world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        return torch_dist.get_rank()
    return 0


def world_size() -> int:
    """Number of processes (1 without a process group)."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        return torch_dist.get_world_size()
    return 1


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from all processes along dim 0, keeping gradients to every rank.

    Shape: ``(B, ...)`` -> ``(world_size * B, ...)``; every process must pass the same ``B``.
    """
    if not is_distributed():
        return tensor
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor), dim=0)
