"""Contrastive pre-training and fine-tuning: one accelerate loop for CPU, GPUs and nodes."""

from maven.training.loss import ClipLoss, retrieval_metrics

__all__ = ["ClipLoss", "retrieval_metrics"]
