"""Checked numeric arrays (one error type, :class:`~maven.errors.MavenError`, naming the
argument) and probabilities from logits: the checks the metrics, calibration and inference
share.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from maven.errors import ConfigError, MavenError

__all__ = [
    "apply_temperature",
    "as_1d",
    "as_float_1d",
    "check_logits",
    "check_probabilities",
    "check_same_length",
    "log_softmax",
    "to_numpy",
]


def to_numpy(x: Any, name: str) -> np.ndarray:
    """``x`` (an array-like or a torch tensor) as a numpy array; ``None`` is refused."""
    if x is None:
        raise MavenError(f"{name} is required")
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise MavenError(f"{name} cannot be read as an array: {exc}") from None
    return arr


def as_1d(x: Any, name: str) -> np.ndarray:
    """A non-empty 1-D array (a scalar or a ragged input raises :class:`MavenError`)."""
    arr = to_numpy(x, name)
    if arr.ndim != 1:
        raise MavenError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise MavenError(f"{name} is empty")
    return arr


def as_float_1d(x: Any, name: str) -> np.ndarray:
    """A non-empty 1-D float64 array of finite values."""
    arr = as_1d(x, name)
    try:
        arr = arr.astype(np.float64)
    except (TypeError, ValueError):
        raise MavenError(f"{name} must be numeric, got dtype {arr.dtype}") from None
    bad = ~np.isfinite(arr)
    if bad.any():
        raise MavenError(
            f"{name} has {int(bad.sum())} non-finite value(s), first at index {int(bad.argmax())}"
        )
    return arr


def check_same_length(**arrays: np.ndarray) -> int:
    """Raise :class:`MavenError` unless all arrays have the same length; return it."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise MavenError(f"length mismatch: {lengths}")
    return next(iter(lengths.values()))


def check_probabilities(probabilities: Any, name: str = "probabilities") -> np.ndarray:
    """An (N, K) float array of finite, non-negative rows summing to 1 (within 1e-3)."""
    probs = to_numpy(probabilities, name)
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] == 0:
        raise MavenError(f"{name} must be a non-empty (N, K) array, got shape {probs.shape}")
    probs = probs.astype(np.float64)
    if not np.isfinite(probs).all() or (probs < 0).any():
        raise MavenError(f"{name} must be finite and >= 0")
    if not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
        raise MavenError(f"{name} rows must sum to 1 (softmax the logits first)")
    return probs


def check_logits(logits: Any) -> np.ndarray:
    """An (N, K >= 2) float64 array of finite logits."""
    arr = to_numpy(logits, "logits")
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] < 2:
        raise MavenError(f"logits must be a (N, K >= 2) array, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise MavenError("logits must be finite")
    return arr


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis."""
    m = logits.max(axis=-1, keepdims=True)
    z = logits - m
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def apply_temperature(logits: Any, temperature: float) -> np.ndarray:
    """``softmax(logits / temperature)``, (N, K) float64 probabilities."""
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature)) or (
        temperature <= 0
    ):
        raise ConfigError(f"temperature must be a finite number > 0, got {temperature!r}")
    return np.exp(log_softmax(check_logits(logits) / float(temperature)))
