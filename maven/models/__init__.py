"""maven models in Hugging Face form: configuration, model, processor.

Importing this package registers ``"maven"`` with ``AutoConfig`` and ``AutoModel``, so
``AutoModel.from_pretrained(folder)`` loads a saved :class:`MavenModel` without remote code.
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

from maven.models.configuration_maven import (
    PRESETS,
    MavenConfig,
    MavenPhotometryConfig,
    MavenSpectrumConfig,
)
from maven.models.modeling_heads import (
    MavenForRedshift,
    MavenForSupernovaClassification,
)
from maven.models.modeling_maven import (
    MavenModel,
    MavenOutput,
    MavenPreTrainedModel,
    clip_loss,
    contrastive_loss,
)
from maven.models.processing_maven import MavenProcessor

AutoConfig.register("maven", MavenConfig, exist_ok=True)
AutoModel.register(MavenConfig, MavenModel, exist_ok=True)
AutoModelForSequenceClassification.register(
    MavenConfig, MavenForSupernovaClassification, exist_ok=True
)

__all__ = [
    "MavenForRedshift",
    "MavenForSupernovaClassification",
    "PRESETS",
    "MavenConfig",
    "MavenModel",
    "MavenOutput",
    "MavenPhotometryConfig",
    "MavenPreTrainedModel",
    "MavenProcessor",
    "MavenSpectrumConfig",
    "clip_loss",
    "contrastive_loss",
]
