"""maven: a multimodal contrastive foundation model for supernova light curves and spectra."""

from __future__ import annotations

from maven.errors import ConfigError, FormatError, MavenError, UnknownBandError, ValidationError

__version__ = "0.1.0.dev0"

__all__ = [
    "ConfigError",
    "FormatError",
    "MavenError",
    "UnknownBandError",
    "ValidationError",
    "__version__",
]
