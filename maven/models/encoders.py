"""The two towers: pre-LN transformer encoders over light-curve and spectrum tokens.

Pooling is a **masked mean** over the valid tokens (not a CLS token): it is invariant to the
number of padding tokens, degrades gracefully for very short light curves and needs no
position that all tokens must attend to. Rows with no valid token at all (an object without
that modality) get token 0 un-masked internally so attention stays finite; their pooled
output is meaningless and the caller's ``has_photometry`` / ``has_spectrum`` flags say so.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from maven.data.cosmology import Z_MAX, Z_MIN, distance_modulus_table
from maven.models.configuration_maven import (
    MavenPhotometryConfig,
    MavenSpectrumConfig,
    _TowerConfig,
)

__all__ = [
    "SinusoidalFeatures",
    "RedshiftToken",
    "distance_modulus",
    "MavenEncoderLayer",
    "MavenTransformer",
    "MavenPhotometryEncoder",
    "MavenSpectrumEncoder",
]

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}

#: log10(wavelength / Angstrom) subtracted before the encodings (about 5000 A).
LOG_WAVE_CENTER = 3.7
#: the redshift token's distance-modulus feature is (mu - CENTER) / SCALE (mu = 40 at z ~ 0.26)
DISTANCE_MODULUS_CENTER = 40.0
DISTANCE_MODULUS_SCALE = 5.0


class SinusoidalFeatures(nn.Module):
    """``[x / P_K, sin(2 pi x / P_k), cos(2 pi x / P_k)]`` for geometric periods P_1..P_K.

    Input ``(...)``, output ``(..., 2K + 1)``. The frequencies are recomputed in each call
    (not a buffer, so nothing can be left uninitialised when loading from a checkpoint).
    """

    def __init__(self, num_frequencies: int, min_period: float, max_period: float) -> None:
        super().__init__()
        self.num_frequencies = num_frequencies
        self.min_period = min_period
        self.max_period = max_period
        self.out_features = 2 * num_frequencies + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of ``x`` ``(...)`` -> ``(..., 2K + 1)``."""
        periods = torch.logspace(
            math.log10(self.min_period),
            math.log10(self.max_period),
            self.num_frequencies,
            dtype=x.dtype,
            device=x.device,
        )
        arg = x.unsqueeze(-1) * (2 * math.pi / periods)
        return torch.cat([x.unsqueeze(-1) / self.max_period, arg.sin(), arg.cos()], dim=-1)


class MavenAttention(nn.Module):
    """Multi-head self-attention through ``F.scaled_dot_product_attention``."""

    def __init__(self, config: _TowerConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = config.attention_dropout

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        """``x`` (B, S, H); ``attn_mask`` (B, 1, 1, S) bool, True = attend."""
        b, s, h = x.shape
        qkv = self.qkv(x).view(b, s, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(
            qkv[0],
            qkv[1],
            qkv[2],
            attn_mask=attn_mask,
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out_proj(out.transpose(1, 2).reshape(b, s, h))


class MavenEncoderLayer(nn.Module):
    """Pre-LN block: ``x + attn(LN(x))`` then ``x + MLP(LN(x))``."""

    def __init__(self, config: _TowerConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = MavenAttention(config)
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = _ACTIVATIONS[config.hidden_act]()
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)
        # residual-branch outputs start smaller so the stream's variance stays ~constant
        residual = (2 * config.num_hidden_layers) ** -0.5
        self.attention.out_proj.init_scale = residual
        self.fc2.init_scale = residual

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        """One pre-LN block over ``x`` (B, S, H) with the attention mask ``attn_mask``."""
        x = x + self.dropout(self.attention(self.norm1(x), attn_mask))
        return x + self.dropout(self.fc2(self.act(self.fc1(self.norm2(x)))))


class MavenTransformer(nn.Module):
    """A stack of :class:`MavenEncoderLayer` + final LayerNorm + masked mean pooling."""

    def __init__(self, config: _TowerConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [MavenEncoderLayer(config) for _ in range(config.num_hidden_layers)]
        )
        self.final_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(
        self, tokens: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens`` (B, S, H), ``mask`` (B, S) bool -> (hidden (B, S, H), pooled (B, H))."""
        # empty rows: attend to token 0 so nothing is NaN (out of place: ONNX-exportable)
        first = torch.arange(mask.shape[1], device=mask.device) == 0
        mask = mask | (first & ~mask.any(dim=1, keepdim=True))
        attn_mask = mask[:, None, None, :]
        x = tokens
        for layer in self.layers:
            x = layer(x, attn_mask)
        x = self.final_norm(x)
        weights = mask.to(x.dtype).unsqueeze(-1)
        pooled = (x * weights).sum(dim=1) / weights.sum(dim=1)
        return x, pooled


def _mlp(n_in: int, hidden: int, act: str) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), _ACTIVATIONS[act](), nn.Linear(hidden, hidden))


def distance_modulus(z: torch.Tensor) -> torch.Tensor:
    """:func:`maven.data.cosmology.distance_modulus` for a tensor ``z`` (any shape, any
    device; the same table and clamping)."""
    log_z, mu = distance_modulus_table()
    grid = torch.tensor(log_z, dtype=torch.float64, device=z.device)
    values = torch.tensor(mu, dtype=torch.float64, device=z.device)
    x = torch.log(z.double().clamp(Z_MIN, Z_MAX))
    i = torch.searchsorted(grid, x).clamp(1, grid.numel() - 1)
    w = (x - grid[i - 1]) / (grid[i] - grid[i - 1])
    return (values[i - 1] + w * (values[i] - values[i - 1])).to(z.dtype)


class RedshiftToken(nn.Module):
    """One token from an optional redshift: ``token + Linear([z, log(1 + z)])``, plus
    ``Linear((mu(z) - 40) / 5)`` of the distance modulus when ``distance_modulus`` (so the
    tower forms luminosity by one subtraction from the light curve's log flux scale).

    ``forward(redshift (B,) | None, redshift_mask (B,) | None, batch, device)`` returns
    ``(token (B, H), valid (B,) bool)``; without a redshift every row is invalid (masked)
    and its features are zero.
    """

    def __init__(self, hidden_size: int, distance_modulus: bool = False) -> None:
        super().__init__()
        self.embedding = nn.Linear(2, hidden_size)
        self.distance_embedding = (
            nn.Linear(1, hidden_size, bias=False) if distance_modulus else None
        )
        self.token = nn.Parameter(torch.zeros(hidden_size))

    def forward(
        self,
        redshift: torch.Tensor | None,
        redshift_mask: torch.Tensor | None,
        batch: int,
        device: torch.device,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(token (B, H), valid (B,))``; see the class docstring."""
        dtype = self.token.dtype
        if redshift is None:
            z = torch.zeros(batch, dtype=dtype, device=device)
            valid = torch.zeros(batch, dtype=torch.bool, device=device)
        else:
            z = redshift.to(dtype)
            valid = (
                torch.ones(batch, dtype=torch.bool, device=device)
                if redshift_mask is None
                else redshift_mask.bool()
            )
        z = torch.where(valid, z, torch.zeros_like(z))
        feats = torch.stack([z, torch.log1p(z.clamp(min=-0.5))], dim=-1)
        token = self.token + self.embedding(feats)
        if self.distance_embedding is not None:
            mu = (distance_modulus(z) - DISTANCE_MODULUS_CENTER) / DISTANCE_MODULUS_SCALE
            mu = torch.where(valid, mu, torch.zeros_like(mu))
            token = token + self.distance_embedding(mu.unsqueeze(-1))
        return token, valid


class MavenPhotometryEncoder(nn.Module):
    """Light curve -> token sequence -> pooled vector.

    Tokens: ``[scale token, redshift token (if ``use_redshift``), one per observation]``. An
    observation's token is an MLP of ``[values (3), time features, wavelength features]``.
    """

    def __init__(self, config: MavenPhotometryConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden_size
        self.time_features = SinusoidalFeatures(
            config.num_time_frequencies, config.time_min_period, config.time_max_period
        )
        self.wavelength_features = SinusoidalFeatures(
            config.num_wavelength_frequencies,
            config.wavelength_min_period,
            config.wavelength_max_period,
        )
        n_in = 3 + self.time_features.out_features + self.wavelength_features.out_features
        self.observation_embedding = _mlp(n_in, h, config.hidden_act)
        self.scale_embedding = nn.Linear(1, h)
        self.scale_token = nn.Parameter(torch.zeros(h))
        self.redshift_token = (
            RedshiftToken(h, config.use_distance_modulus) if config.use_redshift else None
        )
        self.transformer = MavenTransformer(config)

    def forward(
        self,
        photometry_values: torch.Tensor,
        photometry_time: torch.Tensor,
        photometry_wavelength: torch.Tensor,
        photometry_mask: torch.Tensor,
        photometry_scale: torch.Tensor,
        redshift: torch.Tensor | None = None,
        redshift_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a batch of light curves.

        Args:
            photometry_values: ``[asinh(flux/scale), asinh(err/scale), detected]``, (B, L, 3).
            photometry_time: days from the object's reference time, (B, L).
            photometry_wavelength: log10 band effective wavelength (Angstrom), (B, L).
            photometry_mask: True for real observations, (B, L).
            photometry_scale: log10 of the object's flux scale (uJy), (B,).
            redshift: (B,), optional; redshift_mask: (B,) bool, True where known.

        Returns:
            ``(last_hidden_state (B, 1 + use_redshift + L, H), pooled (B, H))``.
        """
        b = photometry_values.shape[0]
        dtype = self.scale_token.dtype
        mask = photometry_mask.bool()
        feats = torch.cat(
            [
                photometry_values.to(dtype),
                self.time_features(photometry_time.to(dtype)),
                self.wavelength_features(photometry_wavelength.to(dtype) - LOG_WAVE_CENTER),
            ],
            dim=-1,
        )
        obs = self.observation_embedding(feats)
        scale = self.scale_token + self.scale_embedding(photometry_scale.to(dtype)[:, None] - 2.0)
        has_data = mask.any(dim=1, keepdim=True)
        tokens, masks = [scale[:, None]], [has_data]
        if self.redshift_token is not None:
            z_tok, z_valid = self.redshift_token(redshift, redshift_mask, b, obs.device)
            tokens.append(z_tok[:, None])
            masks.append(z_valid[:, None] & has_data)
        tokens = torch.cat([*tokens, obs], dim=1)
        return self.transformer(tokens, torch.cat([*masks, mask], dim=1))


class MavenSpectrumEncoder(nn.Module):
    """Spectrum on a fixed log-wavelength grid -> patch tokens -> pooled vector.

    A patch token is ``Linear([flux (P), err (P), mask (P)]) + MLP(wavelength features of the
    patch's mean log10 wavelength)``; a patch is valid when any of its bins is.
    """

    def __init__(self, config: MavenSpectrumConfig) -> None:
        super().__init__()
        self.config = config
        h, p = config.hidden_size, config.patch_size
        self.patch_embedding = nn.Linear(3 * p, h)
        self.wavelength_features = SinusoidalFeatures(
            config.num_wavelength_frequencies,
            config.wavelength_min_period,
            config.wavelength_max_period,
        )
        self.wavelength_embedding = _mlp(
            self.wavelength_features.out_features, h, config.hidden_act
        )
        self.redshift_token = (
            RedshiftToken(h, config.use_distance_modulus) if config.use_redshift else None
        )
        self.transformer = MavenTransformer(config)

    def forward(
        self,
        spectrum_values: torch.Tensor,
        spectrum_wavelength: torch.Tensor,
        spectrum_mask: torch.Tensor,
        redshift: torch.Tensor | None = None,
        redshift_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a batch of resampled spectra.

        Args:
            spectrum_values: ``[asinh(flux/norm), asinh(err/norm)]`` per bin, (B, N, 2).
            spectrum_wavelength: log10 bin-centre wavelength (Angstrom), (B, N).
            spectrum_mask: True for bins with data, (B, N).
            redshift, redshift_mask: (B,), used only when the config's ``use_redshift``.

        Returns:
            ``(last_hidden_state (B, use_redshift + N / patch_size, H), pooled (B, H))``
            (the redshift token, when used, comes first).

        Raises:
            ValueError: N is not a multiple of ``patch_size``.
        """
        b, n, _ = spectrum_values.shape
        p = self.config.patch_size
        if n % p:
            raise ValueError(f"spectrum length {n} is not a multiple of patch_size {p}")
        dtype = self.patch_embedding.weight.dtype
        mask = spectrum_mask.bool()
        m = mask.to(dtype)
        vals = spectrum_values.to(dtype) * m.unsqueeze(-1)
        t = n // p
        patches = torch.cat(
            [vals[..., 0].view(b, t, p), vals[..., 1].view(b, t, p), m.view(b, t, p)], dim=-1
        )
        # centre before the mean: the sinusoids' shortest period is 0.005 dex, and a float32
        # mean of values near 3.7 is off by ~5e-7 (6e-4 rad); near 0 it is ~30x finer
        wave = (spectrum_wavelength.to(dtype) - LOG_WAVE_CENTER).view(b, t, p).mean(dim=-1)
        tokens = self.patch_embedding(patches) + self.wavelength_embedding(
            self.wavelength_features(wave)
        )
        patch_mask = mask.view(b, t, p).any(dim=-1)
        if self.redshift_token is not None:
            z_tok, z_valid = self.redshift_token(redshift, redshift_mask, b, tokens.device)
            tokens = torch.cat([z_tok[:, None], tokens], dim=1)
            patch_mask = torch.cat([(z_valid & patch_mask.any(1))[:, None], patch_mask], dim=1)
        return self.transformer(tokens, patch_mask)
