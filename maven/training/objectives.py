"""Auxiliary pre-training objectives on what a simulation knows: supervised heads beside the
contrastive loss.

Every simulated record carries its truth (:func:`maven.simulate.simulate`: ``Supernova.type``,
``redshift``, ``meta`` and each spectrum's ``meta``). :func:`record_targets` turns it into
``target_<name>`` arrays (NaN, or class -1, where unknown), and :class:`AuxiliaryHeads` puts
one linear head per (target, tower) on the towers' L2-normalised embeddings scaled by
``sqrt(projection_dim)`` -- the vectors a linear probe and the fine-tuning heads read -- so
what the heads learn is linearly decodable from the embedding.

===============  ==========  =============================================================
target           towers      truth (regressions on ``(value - offset) / scale``)
===============  ==========  =============================================================
class            both        ``Supernova.type`` among :data:`~maven.data.types.DEFAULT_CLASSES`
redshift         both        ``log(1 + z)``
peak_abs_mag     photometry  ``meta["peak_abs_mag"]``: rest-frame B at maximum, before dust
host_av          photometry  ``meta["host_av"]``: host-galaxy extinction A_V
spectrum_phase   spectrum    the spectrum's ``meta["phase_rest"]``: rest-frame days from peak
host_fraction    spectrum    the spectrum's ``meta["host_fraction"]``: host / SN light
===============  ==========  =============================================================

Spectrum targets are used only for objects with exactly one spectrum (the simulator's default),
so the target is the spectrum the processor saw. Classification uses cross-entropy,
regressions the smooth-L1 (Huber) loss; each head's loss is a mean over the rows whose target is
known and whose tower has input (zero, with gradient, when there is none) and is logged on its
own as ``aux_<target>_<tower>``. The training loss is ``contrastive_weight * clip`` plus the
sum of ``weight * loss`` over the heads (:class:`~maven.training.config.TrainingConfig`).

The heads are a separate module: the saved towers (``OUT/model``) stay a plain
:class:`~maven.models.MavenModel` folder that fine-tuning loads as before, and the heads are
saved beside it (``OUT/auxiliary_heads.safetensors``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from maven.data.types import DEFAULT_CLASSES
from maven.errors import ConfigError

__all__ = [
    "AUX_HEADS",
    "TARGETS",
    "AuxiliaryHeads",
    "Target",
    "check_weights",
    "load_heads",
    "record_targets",
    "save_heads",
    "split_targets",
]

TOWERS = ("photometry", "spectrum")
PREFIX = "target_"
#: where :func:`~maven.training.trainer.pretrain` saves the heads, beside ``model/``
AUX_HEADS = "auxiliary_heads.safetensors"


@dataclass(frozen=True)
class Target:
    """One supervised target: which towers predict it and how it is normalised."""

    towers: tuple[str, ...]
    offset: float = 0.0
    scale: float = 1.0
    classes: tuple[str, ...] = ()

    @property
    def n_outputs(self) -> int:
        """Outputs of the head: the number of classes, or 1 for a regression target."""
        return len(self.classes) or 1


#: the targets :func:`record_targets` extracts (see the module docstring)
TARGETS: dict[str, Target] = {
    "class": Target(TOWERS, classes=DEFAULT_CLASSES),
    "redshift": Target(TOWERS, offset=0.1, scale=0.1),
    "peak_abs_mag": Target(("photometry",), offset=-18.5, scale=1.5),
    "host_av": Target(("photometry",), offset=0.3, scale=0.4),
    "spectrum_phase": Target(("spectrum",), offset=5.0, scale=6.0),
    "host_fraction": Target(("spectrum",), offset=0.2, scale=0.3),
}


def _number(x) -> float:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else math.nan


def record_targets(records: Sequence) -> dict[str, np.ndarray]:
    """The ``target_<name>`` arrays (B,) of ``records``: class index (int64, -1 unknown) and
    float32 regression targets in natural units (NaN unknown)."""
    index = {c: i for i, c in enumerate(DEFAULT_CLASSES)}
    rows = []
    for sn in records:
        spec_meta = sn.spectra[0].meta if len(sn.spectra) == 1 else {}
        z = sn.redshift
        rows.append(
            (
                index.get(sn.type, -1),
                math.log1p(z) if z is not None else math.nan,
                _number(sn.meta.get("peak_abs_mag")),
                _number(sn.meta.get("host_av")),
                _number(spec_meta.get("phase_rest")),
                _number(spec_meta.get("host_fraction")),
            )
        )
    cols = list(zip(*rows, strict=True))
    out = {PREFIX + "class": np.array(cols[0], np.int64)}
    for name, col in zip(list(TARGETS)[1:], cols[1:], strict=True):
        out[PREFIX + name] = np.array(col, np.float32)
    return out


def split_targets(batch: Mapping) -> tuple[dict, dict]:
    """``(model inputs, targets)`` of a batch: the ``target_*`` keys go to the second dict,
    without their prefix."""
    inputs = {k: v for k, v in batch.items() if not k.startswith(PREFIX)}
    targets = {k[len(PREFIX) :]: v for k, v in batch.items() if k.startswith(PREFIX)}
    return inputs, targets


def check_weights(weights: Mapping) -> dict[str, float]:
    """``{target: weight}`` with unknown names or negative weights refused (ConfigError)."""
    if not isinstance(weights, Mapping):
        raise ConfigError(f"objectives must map target names to weights, got {weights!r}")
    unknown = sorted(set(weights) - set(TARGETS))
    if unknown:
        raise ConfigError(f"objectives: unknown targets {unknown}; known: {sorted(TARGETS)}")
    out = {}
    for name, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0:
            raise ConfigError(f"objectives.{name} must be a number >= 0, got {w!r}")
        out[name] = float(w)
    return out


class AuxiliaryHeads(nn.Module):
    """Linear heads for the targets with a weight > 0, on both towers' embeddings.

    Args:
        projection_dim: the model's embedding size.
        weights: ``{target: weight}`` (names of :data:`TARGETS`; weight 0 means no head).
    """

    def __init__(self, projection_dim: int, weights: Mapping[str, float]):
        super().__init__()
        self.weights = {k: w for k, w in check_weights(weights).items() if w > 0}
        if not self.weights:
            raise ConfigError("AuxiliaryHeads needs at least one target with a weight > 0")
        self.projection_dim = projection_dim
        self.embed_scale = math.sqrt(projection_dim)
        self.heads = nn.ModuleDict(
            {
                f"{name}_{tower}": nn.Linear(projection_dim, TARGETS[name].n_outputs)
                for name in self.weights
                for tower in TARGETS[name].towers
            }
        )

    def forward(
        self, embeds: Mapping[str, torch.Tensor], has: Mapping[str, torch.Tensor], targets
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per head ``aux_<target>_<tower>``: ``(summed loss, number of rows)``.

        Args:
            embeds: ``{tower: (B, D)}`` L2-normalised embeddings.
            has: ``{tower: (B,) bool}`` rows with input for that tower.
            targets: ``{target: (B,)}`` as :func:`record_targets` (prefix stripped).

        Sums and counts (not means) let evaluation pool batches and processes exactly; the
        training loss is :meth:`total`.
        """
        out = {}
        for key, head in self.heads.items():
            name, tower = key.rsplit("_", 1)
            spec, y = TARGETS[name], targets[name]
            pred = head(embeds[tower].float() * self.embed_scale)
            if spec.classes:
                ok = has[tower].bool() & (y >= 0)
                losses = F.cross_entropy(pred, y.clamp(min=0).long(), reduction="none")
            else:
                ok = has[tower].bool() & torch.isfinite(y)
                norm = (torch.nan_to_num(y.float()) - spec.offset) / spec.scale
                losses = F.smooth_l1_loss(pred[:, 0], norm, reduction="none")
            out[f"aux_{key}"] = ((losses * ok).sum(), ok.sum())
        return out

    def total(self, parts: Mapping[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """The weighted sum of the heads' mean losses (a head with no rows adds zero)."""
        total = 0.0
        for key, (loss_sum, n) in parts.items():
            name = key[len("aux_") :].rsplit("_", 1)[0]
            total = total + self.weights[name] * loss_sum / n.clamp(min=1)
        return total


def save_heads(heads: AuxiliaryHeads, path: str | Path) -> Path:
    """Write the heads' weights (safetensors, atomically) with their ``weights`` and
    ``projection_dim`` in the metadata, so :func:`load_heads` rebuilds them."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in heads.state_dict().items()}
    # one metadata key: safetensors writes several in no fixed order
    meta = {"maven": json.dumps({"weights": heads.weights, "projection_dim": heads.projection_dim})}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def load_heads(path: str | Path) -> AuxiliaryHeads:
    """The :class:`AuxiliaryHeads` saved by :func:`save_heads`."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    try:
        info = json.loads(meta["maven"])
        heads = AuxiliaryHeads(int(info["projection_dim"]), info["weights"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not a file of auxiliary heads ({exc})") from None
    heads.load_state_dict(load_file(str(path)))
    return heads
