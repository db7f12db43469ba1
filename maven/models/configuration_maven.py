"""Configurations of the maven model: one per tower and a composite :class:`MavenConfig`.

No torch import here: a configuration can be read, validated and written without torch.

Example:
    >>> from maven.models import MavenConfig
    >>> config = MavenConfig.from_preset("tiny")
    >>> config.photometry_config.hidden_size, config.projection_dim
    (32, 32)
"""

from __future__ import annotations

import copy
import difflib
import functools
import inspect
import math
from typing import Any

from transformers import PretrainedConfig

from maven.errors import ConfigError

__all__ = [
    "HEAD_DEFAULTS",
    "MAX_LOGIT_SCALE",
    "MavenPhotometryConfig",
    "MavenSpectrumConfig",
    "MavenConfig",
    "PRESETS",
]

#: the largest logit scale (log of the inverse CLIP temperature): the initial value may not
#: exceed it, the forward pass and the trainer clamp at it (CLIP's temperature floor 1/100)
MAX_LOGIT_SCALE = math.log(100.0)

#: how a ``"both"`` head combines the towers (:mod:`maven.models.modeling_heads`)
HEAD_FUSIONS = ("concat", "mean", "per_input")

#: the settings of a task head (:mod:`maven.models.modeling_heads` says what each means) and
#: their defaults: :class:`MavenConfig` fields, checked with the others. A config holds those
#: it was given (a towers-only config none); a head's copy of it holds every one.
HEAD_DEFAULTS: dict[str, Any] = {
    "head_modality": "photometry",
    "head_fusion": "concat",
    "head_hidden_size": 0,
    "head_dropout": 0.0,
    "freeze_encoder": False,
    "use_redshift_input": True,
    "class_weights": None,
    "redshift_target": "log1p",
    "redshift_loss_beta": 0.0,
    "calibration_temperature": 1.0,
    "logit_bias": None,
    "redshift_sigma_scale": 1.0,
    "head_extra_features": 0,
    "extra_feature_center": None,
    "extra_feature_scale": None,
    "redshift_templates": 0,
    "redshift_template_grid": None,
    "redshift_template_window": 3.0,
    "redshift_template_sigma_scale": 1.0,
}


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def _positive_float(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def _probability(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not 0.0 <= v < 1.0:
        raise ConfigError(f"{name} must be in [0, 1), got {value!r}")
    return v


@functools.cache
def _transformers_attributes() -> frozenset[str]:
    """What transformers' own config sets on itself, and ``model_type`` (copied from a saved
    file)."""
    return frozenset(vars(PretrainedConfig())) | {"model_type"}


def _refuse_misspelt(config: PretrainedConfig, kwargs: dict[str, Any], known: set[str]) -> None:
    """ConfigError for a keyword argument that is no field but nearly one of ``known`` (a
    typo); others stay custom attributes, as transformers keeps them."""
    for key in kwargs:
        if key in vars(config) and key not in _transformers_attributes():
            near = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.85)
            if near:
                raise ConfigError(
                    f"{type(config).__name__}: unknown setting {key!r}; did you mean {near[0]!r}?"
                )


def _arguments(cls: type) -> set[str]:
    """The named arguments of ``cls.__init__`` and of its bases in this module."""
    return {
        name
        for c in cls.__mro__
        if c.__module__ == __name__ and "__init__" in vars(c)
        for name in inspect.signature(c.__init__).parameters
        if name not in ("self", "kwargs")
    }


def _numbers(value: Any, n: int, low: float) -> bool:
    """Whether ``value`` is a list (or tuple) of ``n`` finite numbers above ``low``."""
    return (
        isinstance(value, (list, tuple))
        and len(value) == n
        and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and low < x < math.inf
            for x in value
        )
    )


def _check_head_settings(s: dict[str, Any]) -> dict[str, Any]:
    """Every head setting of ``s`` checked (the feature centre and scale as lists of floats;
    the per-class lists are the classifier's, which knows the classes).

    Raises:
        ConfigError: a bad value, naming the setting.
    """
    if s["head_modality"] not in ("photometry", "spectrum", "both"):
        raise ConfigError(
            f"head_modality must be 'photometry', 'spectrum' or 'both', got {s['head_modality']!r}"
        )
    if s["head_fusion"] not in HEAD_FUSIONS:
        raise ConfigError(
            f"head_fusion must be one of {', '.join(map(repr, HEAD_FUSIONS))}, "
            f"got {s['head_fusion']!r}"
        )
    for key in ("head_hidden_size", "head_extra_features", "redshift_templates"):
        v = s[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"{key} must be an integer >= 0, got {v!r}")
    d = s["head_dropout"]
    if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 <= d < 1:
        raise ConfigError(f"head_dropout must be in [0, 1), got {d!r}")
    for key in ("freeze_encoder", "use_redshift_input"):
        if not isinstance(s[key], bool):
            raise ConfigError(f"{key} must be a bool, got {s[key]!r}")
    if s["redshift_target"] not in ("log1p", "z"):
        raise ConfigError(f"redshift_target must be 'log1p' or 'z', got {s['redshift_target']!r}")
    b = s["redshift_loss_beta"]
    if isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 <= b <= 1:
        raise ConfigError(f"redshift_loss_beta must be in [0, 1], got {b!r}")
    positive = (
        "calibration_temperature",
        "redshift_sigma_scale",
        "redshift_template_window",
        "redshift_template_sigma_scale",
    )
    for key in positive:
        v = s[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf:
            raise ConfigError(f"{key} must be a finite number > 0, got {v!r}")
    n = s["head_extra_features"]
    if n and not s["use_redshift_input"]:
        raise ConfigError(
            "head_extra_features with use_redshift_input=False: the light-curve features "
            "carry the redshift input (redshift, peak_abs_mag); the head cannot hide it"
        )
    t, g = s["redshift_templates"], s["redshift_template_grid"]
    if t and not (_numbers(g, 3, 0.0) and g[0] < g[1] and float(g[2]).is_integer()):
        raise ConfigError(
            "redshift_template_grid must be [wave_min, wave_max, n_bins] (Angstrom, "
            f"0 < wave_min < wave_max) with redshift_templates > 0, got {g!r}"
        )
    checked = dict(s)
    if t:
        checked["redshift_template_grid"] = [float(g[0]), float(g[1]), int(g[2])]
    for key, low in (("extra_feature_center", -math.inf), ("extra_feature_scale", 0.0)):
        v = s[key]
        if v is None:
            continue
        if not _numbers(v, n, low):
            what = "finite numbers > 0" if low == 0 else "finite numbers"
            raise ConfigError(f"{key} must be None or {n} {what} (head_extra_features), got {v!r}")
        checked[key] = [float(x) for x in v]
    return checked


class _TowerConfig(PretrainedConfig):
    """Transformer settings shared by both towers (pre-LN encoder blocks)."""

    def __init__(
        self,
        hidden_size: int = 128,
        num_hidden_layers: int = 4,
        num_attention_heads: int = 4,
        intermediate_size: int = 256,
        hidden_act: str = "gelu",
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        layer_norm_eps: float = 1e-5,
        use_distance_modulus: bool = False,
        **kwargs: Any,
    ) -> None:
        self.hidden_size = _positive_int("hidden_size", hidden_size)
        self.num_hidden_layers = _positive_int("num_hidden_layers", num_hidden_layers)
        self.num_attention_heads = _positive_int("num_attention_heads", num_attention_heads)
        if hidden_size % num_attention_heads:
            raise ConfigError(
                f"hidden_size ({hidden_size}) must be a multiple of "
                f"num_attention_heads ({num_attention_heads})"
            )
        self.intermediate_size = _positive_int("intermediate_size", intermediate_size)
        if hidden_act not in ("gelu", "relu", "silu"):
            raise ConfigError(f"hidden_act must be 'gelu', 'relu' or 'silu', got {hidden_act!r}")
        self.hidden_act = hidden_act
        self.dropout = _probability("dropout", dropout)
        self.attention_dropout = _probability("attention_dropout", attention_dropout)
        self.layer_norm_eps = _positive_float("layer_norm_eps", layer_norm_eps)
        if not isinstance(use_distance_modulus, bool):
            raise ConfigError(f"use_distance_modulus must be a bool, got {use_distance_modulus!r}")
        self.use_distance_modulus = use_distance_modulus
        super().__init__(**kwargs)
        _refuse_misspelt(self, kwargs, _arguments(type(self)))


class MavenPhotometryConfig(_TowerConfig):
    r"""Configuration of the light-curve (photometry) tower.

    One token per observation: ``[asinh(flux/scale), asinh(err/scale), detected]`` plus
    sinusoidal features of the time (days from the reference time) and of the band's
    log10 effective wavelength; an extra token carries the object's log10 flux scale and
    (optionally) one the redshift.

    Args:
        hidden_size (`int`, *optional*, defaults to 128): width of the tokens.
        num_hidden_layers (`int`, *optional*, defaults to 4): transformer blocks.
        num_attention_heads (`int`, *optional*, defaults to 4): heads per block.
        intermediate_size (`int`, *optional*, defaults to 256): MLP width.
        hidden_act (`str`, *optional*, defaults to ``"gelu"``): MLP activation.
        dropout, attention_dropout (`float`, *optional*, default 0): dropout probabilities.
        layer_norm_eps (`float`, *optional*, defaults to 1e-5): LayerNorm epsilon.
        num_time_frequencies (`int`, *optional*, defaults to 16): sinusoid pairs for time.
        time_min_period, time_max_period (`float`, *optional*, 0.5 and 2000 days): the
            geometric range of time periods.
        num_wavelength_frequencies (`int`, *optional*, defaults to 8): sinusoid pairs for the
            band's log10 wavelength.
        wavelength_min_period, wavelength_max_period (`float`, 0.02 and 4 dex): their range.
        use_redshift (`bool`, *optional*, defaults to True): add a redshift token, masked
            where the input has none (never required). Train with the processor's
            ``aug_hide_redshift_probability`` so the tower also works without it.
        use_distance_modulus (`bool`, *optional*, defaults to False; True in the presets):
            the redshift token also carries the distance modulus (Planck18), so the
            absolute magnitude is one subtraction from the log flux scale. False reads
            checkpoints saved before it existed.
    """

    model_type = "maven_photometry"
    base_config_key = "photometry_config"

    def __init__(
        self,
        num_time_frequencies: int = 16,
        time_min_period: float = 0.5,
        time_max_period: float = 2000.0,
        num_wavelength_frequencies: int = 8,
        wavelength_min_period: float = 0.02,
        wavelength_max_period: float = 4.0,
        use_redshift: bool = True,
        **kwargs: Any,
    ) -> None:
        self.num_time_frequencies = _positive_int("num_time_frequencies", num_time_frequencies)
        self.time_min_period = _positive_float("time_min_period", time_min_period)
        self.time_max_period = _positive_float("time_max_period", time_max_period)
        self.num_wavelength_frequencies = _positive_int(
            "num_wavelength_frequencies", num_wavelength_frequencies
        )
        self.wavelength_min_period = _positive_float("wavelength_min_period", wavelength_min_period)
        self.wavelength_max_period = _positive_float("wavelength_max_period", wavelength_max_period)
        if not isinstance(use_redshift, bool):
            raise ConfigError(f"use_redshift must be a bool, got {use_redshift!r}")
        self.use_redshift = use_redshift
        super().__init__(**kwargs)


class MavenSpectrumConfig(_TowerConfig):
    r"""Configuration of the spectrum tower.

    The processor resamples a spectrum onto a log-wavelength grid of ``n_bins`` bins with
    channels ``[asinh(flux/norm), asinh(err/norm)]`` and a per-bin mask; the tower cuts it
    into patches of ``patch_size`` bins (one token each, with sinusoidal features of the
    patch's mean log10 wavelength), so ``n_bins`` must be a multiple of ``patch_size``.

    Args:
        patch_size (`int`, *optional*, defaults to 16): bins per token.
        num_wavelength_frequencies (`int`, *optional*, defaults to 16): sinusoid pairs for the
            patch's log10 wavelength.
        wavelength_min_period, wavelength_max_period (`float`, 0.005 and 2 dex): their range.
        use_redshift (`bool`, *optional*, defaults to False): add a redshift token. Off by
            default: with the redshift on both sides, contrastive matching could shortcut
            through it (and a spectrum carries its redshift in its lines anyway).
        Other arguments as in :class:`MavenPhotometryConfig`.
    """

    model_type = "maven_spectrum"
    base_config_key = "spectrum_config"

    def __init__(
        self,
        patch_size: int = 16,
        num_wavelength_frequencies: int = 16,
        wavelength_min_period: float = 0.005,
        wavelength_max_period: float = 2.0,
        use_redshift: bool = False,
        **kwargs: Any,
    ) -> None:
        self.patch_size = _positive_int("patch_size", patch_size)
        self.num_wavelength_frequencies = _positive_int(
            "num_wavelength_frequencies", num_wavelength_frequencies
        )
        self.wavelength_min_period = _positive_float("wavelength_min_period", wavelength_min_period)
        self.wavelength_max_period = _positive_float("wavelength_max_period", wavelength_max_period)
        if not isinstance(use_redshift, bool):
            raise ConfigError(f"use_redshift must be a bool, got {use_redshift!r}")
        self.use_redshift = use_redshift
        super().__init__(**kwargs)


#: name -> (photometry tower kwargs, spectrum tower kwargs, projection_dim)
PRESETS: dict[str, tuple[dict[str, int], dict[str, int], int]] = {
    # Seconds on CPU; for tests and smoke runs.
    "tiny": (
        {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "num_time_frequencies": 8,
            "num_wavelength_frequencies": 4,
        },
        {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "num_wavelength_frequencies": 8,
        },
        32,
    ),
    # About Maven's scale (~1M parameters in all).
    "base": (
        {
            "hidden_size": 128,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "intermediate_size": 256,
        },
        {
            "hidden_size": 128,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "intermediate_size": 256,
        },
        128,
    ),
    # For GPU pre-training on millions of simulated objects.
    "large": (
        {
            "hidden_size": 256,
            "num_hidden_layers": 8,
            "num_attention_heads": 8,
            "intermediate_size": 1024,
        },
        {
            "hidden_size": 256,
            "num_hidden_layers": 8,
            "num_attention_heads": 8,
            "intermediate_size": 1024,
        },
        256,
    ),
}


class MavenConfig(PretrainedConfig):
    r"""Configuration of :class:`~maven.models.MavenModel` (two towers + shared embedding).

    Args:
        photometry_config (`dict` or `MavenPhotometryConfig`, *optional*): the light-curve
            tower; defaults when omitted.
        spectrum_config (`dict` or `MavenSpectrumConfig`, *optional*): the spectrum tower.
        projection_dim (`int`, *optional*, defaults to 128): size of the shared embedding.
        logit_scale_init_value (`float`, *optional*, defaults to log(1/0.07)): initial
            log inverse temperature of the contrastive logits.
        initializer_factor (`float`, *optional*, defaults to 1.0): multiplier of the init
            stds (Linear weights: ``factor / sqrt(fan_in)``, residual outputs further scaled
            by ``1 / sqrt(2 * num_hidden_layers)``).
        kwargs: the settings of a task head (:data:`HEAD_DEFAULTS`; kept only when given),
            transformers' own fields (``id2label``, ...) and custom attributes.

    Raises:
        ConfigError: a bad value, or an unknown keyword argument that is nearly a field's
            name (``freeze_encoderr``).

    Example:
        >>> config = MavenConfig(projection_dim=64, photometry_config={"hidden_size": 64})
        >>> config.photometry_config.hidden_size
        64
    """

    model_type = "maven"
    sub_configs = {
        "photometry_config": MavenPhotometryConfig,
        "spectrum_config": MavenSpectrumConfig,
    }

    def __init__(
        self,
        photometry_config: dict | MavenPhotometryConfig | None = None,
        spectrum_config: dict | MavenSpectrumConfig | None = None,
        projection_dim: int = 128,
        logit_scale_init_value: float = math.log(1 / 0.07),
        initializer_factor: float = 1.0,
        **kwargs: Any,
    ) -> None:
        head = {k: kwargs.pop(k) for k in HEAD_DEFAULTS if k in kwargs}
        self.photometry_config = self._sub(photometry_config, MavenPhotometryConfig, "photometry")
        self.spectrum_config = self._sub(spectrum_config, MavenSpectrumConfig, "spectrum")
        self.projection_dim = _positive_int("projection_dim", projection_dim)
        try:
            scale = float(logit_scale_init_value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"logit_scale_init_value must be a number, got {logit_scale_init_value!r}"
            ) from None
        if not math.isfinite(scale) or not 0.0 <= scale <= MAX_LOGIT_SCALE:
            raise ConfigError(
                f"logit_scale_init_value must be in [0, log(100)], got {logit_scale_init_value!r}"
            )
        self.logit_scale_init_value = scale
        self.initializer_factor = _positive_float("initializer_factor", initializer_factor)
        super().__init__(**kwargs)
        _refuse_misspelt(self, kwargs, _arguments(type(self)) | set(HEAD_DEFAULTS))
        self.set_head_settings(**head)

    def set_head_settings(self, **settings: Any) -> None:
        """Set head settings (:data:`HEAD_DEFAULTS`), checked together with those this config
        already holds and the defaults of the others.

        Raises:
            ConfigError: an unknown setting or a bad value.
        """
        unknown = sorted(set(settings) - set(HEAD_DEFAULTS))
        if unknown:
            raise ConfigError(f"unknown head settings {unknown}; known: {sorted(HEAD_DEFAULTS)}")
        merged = {
            k: settings[k] if k in settings else getattr(self, k, d)
            for k, d in HEAD_DEFAULTS.items()
        }
        checked = _check_head_settings(merged)
        for key in settings:
            setattr(self, key, checked[key])

    def with_head_settings(self, **settings: Any) -> MavenConfig:
        """A copy holding every head setting: from ``settings``, else this config's, else the
        default. ``id2label`` replaces the classes; ``label2id`` is ignored (the classifier
        derives it).

        Raises:
            ConfigError: an unknown setting or a bad value.
        """
        config = copy.deepcopy(self)
        settings.pop("label2id", None)
        if "id2label" in settings:
            config.id2label = {int(k): str(v) for k, v in settings.pop("id2label").items()}
            config.label2id = None
        held = {k: getattr(config, k, d) for k, d in HEAD_DEFAULTS.items()}
        config.set_head_settings(**{**held, **settings})
        return config

    @staticmethod
    def _sub(value: Any, cls: type[PretrainedConfig], name: str) -> PretrainedConfig:
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "model_type"}
            return cls(**value)
        raise ConfigError(
            f"{name}_config must be a dict or {cls.__name__}, got {type(value).__name__}"
        )

    @classmethod
    def from_preset(cls, name: str, **kwargs: Any) -> MavenConfig:
        """A configuration by size: ``"tiny"`` (tests), ``"base"`` (~1M params), ``"large"``.

        ``kwargs`` override top-level fields (e.g. ``projection_dim``); dicts given as
        ``photometry_config`` / ``spectrum_config`` update the preset's tower fields.

        Raises:
            ConfigError: unknown preset name or a tower override that is not a dict.
        """
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        phot, spec, proj = PRESETS[name]
        towers = {}
        for key, preset in (("photometry_config", phot), ("spectrum_config", spec)):
            update = kwargs.pop(key, None) or {}
            if not isinstance(update, dict):
                raise ConfigError(f"{key} overrides must be a dict, got {type(update).__name__}")
            # every preset gives the redshift token the distance modulus
            towers[key] = {"use_distance_modulus": True, **preset, **update}
        kwargs.setdefault("projection_dim", proj)
        return cls(**towers, **kwargs)
