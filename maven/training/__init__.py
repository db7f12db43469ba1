"""Contrastive pre-training and fine-tuning: one accelerate loop (:mod:`maven.training.loop`)
for CPU, GPUs and nodes."""

from maven.training.loss import ClipLoss

__all__ = ["ClipLoss"]
