"""maven: a multimodal contrastive foundation model for supernova light curves and spectra.

The public API is re-exported here. Model classes load lazily (importing them pulls in torch
and transformers and registers ``"maven"`` with ``AutoConfig`` / ``AutoModel``):

>>> import maven
>>> sne = maven.read_supernovae("data/")                    # doctest: +SKIP
>>> model = maven.MavenModel.from_pretrained("weights/x")   # doctest: +SKIP
"""

from __future__ import annotations

import importlib

from maven.errors import ConfigError, FormatError, MavenError, UnknownBandError, ValidationError

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
}

__all__ = [
    "ConfigError",
    "FormatError",
    "MavenError",
    "UnknownBandError",
    "ValidationError",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'maven' has no attribute {name!r}")
