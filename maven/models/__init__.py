"""maven models in Hugging Face form: configuration, model, processor.

Importing this package (``import maven`` is enough, see :mod:`maven._auto`) registers
``"maven"`` with transformers, without remote code:

=====================================  ==================================================
``AutoConfig``                         :class:`MavenConfig`
``AutoModel``                          :class:`MavenModel` (the towers; from a head folder
                                       too, with transformers' report of the head's keys)
``AutoModelForSequenceClassification``  :class:`MavenForSupernovaClassification`
``AutoProcessor``                      :class:`MavenProcessor`
=====================================  ==================================================

The redshift head has no Auto class: transformers has no regression Auto class, and one
config class maps to one model class per Auto class. Load it with
:func:`maven.from_pretrained` (which reads ``architectures`` and checks every tensor) or
``MavenForRedshift.from_pretrained``.
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoProcessor

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
AutoProcessor.register(MavenConfig, MavenProcessor, exist_ok=True)

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
