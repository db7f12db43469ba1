"""maven: a multimodal contrastive foundation model for supernova light curves and spectra.

The public API is re-exported here; model classes load lazily (they pull in torch). One
loader for every saved model, strict about its weights
(:func:`maven.models.loading.from_pretrained`):

>>> import maven
>>> sne = maven.read_supernovae("data/")                                # doctest: +SKIP
>>> model, processor = maven.from_pretrained("weights/maven-base")      # doctest: +SKIP
>>> table = maven.classify("alerts/", model="weights/maven-base")       # doctest: +SKIP

``import maven`` is also enough for transformers' ``AutoConfig``, ``AutoModel``,
``AutoModelForSequenceClassification`` and ``AutoProcessor`` to know ``"maven"`` folders
(registered when those are first imported; see :mod:`maven._auto`).
"""

from __future__ import annotations

import importlib

from maven._auto import register_when_used
from maven.errors import (
    ConfigError,
    FormatError,
    IndexFormatError,
    MavenError,
    StorageError,
    UnknownBandError,
    ValidationError,
)

__version__ = "0.1.0.dev0"

_LAZY = {
    "LightCurve": "maven.data.records",
    "Spectrum": "maven.data.records",
    "Supernova": "maven.data.records",
    "get_band": "maven.data.bands",
    "resolve_band": "maven.data.bands",
    "map_type": "maven.data.types",
    "read_supernovae": "maven.io",
    "write_dataset": "maven.io",
    "read_dataset": "maven.io",
    "load_dataset": "maven.io",
    "MavenConfig": "maven.models",
    "MavenModel": "maven.models",
    "MavenProcessor": "maven.models",
    "MavenForSupernovaClassification": "maven.models",
    "MavenForRedshift": "maven.models",
    "SimConfig": "maven.simulate",
    "from_pretrained": "maven.models.loading",
    "classify": "maven.classifier",
}

__all__ = [
    "ConfigError",
    "FormatError",
    "IndexFormatError",
    "MavenError",
    "StorageError",
    "UnknownBandError",
    "ValidationError",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'maven' has no attribute {name!r}")


register_when_used()
