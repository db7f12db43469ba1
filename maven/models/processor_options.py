"""The options of :class:`~maven.models.processing_maven.MavenProcessor`: one validated
dataclass, written as ``processor_config.json`` and given as the ``processor:`` section of
training and fine-tuning recipes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from maven.utils.checks import (
    check_bool,
    check_choice,
    check_int,
    check_keys,
    check_mapping,
    check_number,
    config_from_yaml,
    fail,
)

__all__ = ["ProcessorOptions"]

_CONFIG = "processor"


@dataclass
class ProcessorOptions:
    """How records become tensors (see :mod:`maven.models.processing_maven`).

    Args:
        max_tokens: most observations per light curve (see the token budget).
        time_reference: ``"peak"`` or ``"first_detection"``.
        spectrum_wave_min, spectrum_wave_max: grid range, observer-frame Angstrom.
        spectrum_bins: number of log-spaced bins (a multiple of the model's patch size).
        gap_bins: empty stretches wider than this many bins are masked, not interpolated.
        spectrum_frame: ``"observer"`` (default) or ``"rest"``: spectra are resampled at
            ``wavelength / (1 + z)``, so lines sit in the same bins at any redshift; an
            object without a redshift then has no usable spectrum (``has_spectrum``
            False): a rest-frame model is never given an observer-frame spectrum.
        extra_band_wavelengths: ``{band name: effective wavelength in A}`` for bands outside
            the registry.
        lightcurve_features: also return ``photometry_features`` and
            ``photometry_features_mask`` (added to ``model_input_names``).
        aug_*: augmentation strengths (only used when the processor is given ``augment``).
    """

    max_tokens: int = 256
    time_reference: str = "peak"
    spectrum_wave_min: float = 3000.0
    spectrum_wave_max: float = 10000.0
    spectrum_bins: int = 512
    gap_bins: int = 4
    spectrum_frame: str = "observer"
    extra_band_wavelengths: dict[str, float] = field(default_factory=dict)
    lightcurve_features: bool = False
    aug_max_drop_fraction: float = 0.5
    aug_truncate_probability: float = 0.3
    aug_noise_probability: float = 0.5
    aug_max_stretch: float = 0.05
    aug_hide_redshift_probability: float = 0.5

    def __post_init__(self) -> None:
        check_int(_CONFIG, "max_tokens", self.max_tokens, minimum=1)
        check_choice(_CONFIG, "time_reference", self.time_reference, ("peak", "first_detection"))
        for name in ("spectrum_wave_min", "spectrum_wave_max"):
            setattr(self, name, check_number(_CONFIG, name, getattr(self, name), above=0))
        if self.spectrum_wave_max <= self.spectrum_wave_min:
            fail(_CONFIG, "spectrum_wave_max", "> spectrum_wave_min", self.spectrum_wave_max)
        check_int(_CONFIG, "spectrum_bins", self.spectrum_bins, minimum=2)
        check_int(_CONFIG, "gap_bins", self.gap_bins, minimum=1)
        check_choice(_CONFIG, "spectrum_frame", self.spectrum_frame, ("observer", "rest"))
        extra = check_mapping(_CONFIG, "extra_band_wavelengths", self.extra_band_wavelengths)
        self.extra_band_wavelengths = {
            band: check_number(_CONFIG, f"extra_band_wavelengths[{band!r}]", wave, above=0)
            for band, wave in extra.items()
        }
        check_bool(_CONFIG, "lightcurve_features", self.lightcurve_features)
        for name, high in (
            ("aug_max_drop_fraction", 0.95),
            ("aug_truncate_probability", 1.0),
            ("aug_noise_probability", 1.0),
            ("aug_max_stretch", 0.5),
            ("aug_hide_redshift_probability", 1.0),
        ):
            setattr(
                self,
                name,
                check_number(_CONFIG, name, getattr(self, name), minimum=0, maximum=high),
            )

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> ProcessorOptions:
        """From a mapping such as ``processor_config.json`` (whose ``processor_class`` is
        ignored); unknown keys raise :class:`~maven.errors.ConfigError`."""
        options = {k: v for k, v in options.items() if k != "processor_class"}
        check_keys(_CONFIG, options, [f.name for f in fields(cls)])
        return cls(**options)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> ProcessorOptions:
        """Read the options from YAML; keyword ``overrides`` (not ``None``) replace its keys."""
        return config_from_yaml(cls, path, _CONFIG, overrides)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-serialisable options; ``lightcurve_features`` only when on (so older
        configs, and the processor hash of pre-tokenised sets, are unchanged)."""
        out = asdict(self)
        if not self.lightcurve_features:
            del out["lightcurve_features"]
        return out
