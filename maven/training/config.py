"""Typed training configuration, read from YAML recipes (``pretrain/configs/*.yaml``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from maven.errors import ConfigError
from maven.training.objectives import check_weights

__all__ = ["DataConfig", "TrainingConfig", "config_from_yaml"]


def config_from_yaml(cls, path: str | Path, what: str, overrides: dict):
    """A dataclass config ``cls`` from a YAML mapping, with ``overrides`` (those not
    ``None``) replacing its keys.

    Raises:
        ConfigError: unreadable file, not a mapping, unknown keys or bad values.
    """
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {what} config {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(cls)}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{path}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    try:
        return cls(**raw)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from None


@dataclass
class DataConfig:
    """Where training and validation supernovae come from.

    Args:
        train: a maven parquet dataset (folder or file), a pre-tokenised shard set (a folder
            with ``shards.json``, from ``maven pretokenize``), or ``None`` to simulate on the
            fly.
        val: a parquet dataset for validation, or ``None`` to simulate ``val_size`` objects.
        survey: survey simulated on the fly (``"ztf"`` or ``"lsst"``).
        val_size: objects simulated for validation (seed disjoint from training).
        simulate: extra keyword arguments for the simulator.
        views: augmented views per object that ``maven pretokenize`` stores (training then
            uses the shard set's own number).
        bucket: length bucketing of a shard set, in global batches (0: off; see
            :class:`~maven.training.shards.ShardSource`): light curves of similar length
            share a batch, so little padding is computed.
    """

    train: str | None = None
    val: str | None = None
    survey: str = "ztf"
    val_size: int = 256
    simulate: dict = field(default_factory=dict)
    views: int = 4
    bucket: int = 0


@dataclass
class TrainingConfig:
    """Everything one training run needs; every field has a unit-free, documented meaning.

    Args:
        model: ``{"preset": "tiny"|"base"|"large", **overrides}`` for :class:`MavenConfig`.
        processor: keyword arguments for :class:`MavenProcessor`.
        data: :class:`DataConfig`.
        batch_size: objects per process per micro-step (the global batch is
            ``batch_size * num_processes``; all of it supplies negatives).
        grad_accum_steps: micro-steps per optimiser step. Accumulation here averages
            gradients of per-micro-batch losses, so negatives come from each micro-batch only.
        max_steps: optimiser steps.
        lr, weight_decay, warmup_steps, grad_clip: AdamW, linear warm-up then cosine decay.
        mixed_precision: ``"no"``, ``"bf16"`` or ``"fp16"`` (bf16 where the device has it).
        seed: seeds model init, data order and augmentation (per step, so resume is exact).
        augment: apply the processor's training augmentations (with shards: the views
            stored by ``maven pretokenize``).
        contrastive_weight: weight of the CLIP loss (0: auxiliary objectives only).
        objectives: ``{target: weight}`` of the supervised heads on the simulation's truth
            (:data:`maven.training.objectives.TARGETS`); empty: contrastive only.
        probe: keyword arguments of :func:`maven.evaluation.probe.probe` run on the final
            model (``probe.json`` / ``probe.md`` in the output folder), or ``None`` for none.
        init_from: saved towers that initialise a run starting at step 0: a warm restart
            (optimiser and schedule afresh), recorded in ``metrics.jsonl`` and
            ``training_summary.json``. A model folder (heads from ``auxiliary_heads.safetensors``
            beside it) or a checkpoint folder, or a copy of its ``model.safetensors`` and
            ``model_1.safetensors`` (the last committed towers). A checkpoint found by
            ``--resume`` takes precedence.
        log_every, eval_every, save_every: in optimiser steps.
        save_minutes: also checkpoint when this many minutes have passed since the last
            checkpoint (``None``: by steps only); when checkpoints are taken never changes
            the results.
        keep_checkpoints: how many recent checkpoints to keep.
        num_workers: data-loader worker processes.
        cpu: force CPU even where an accelerator exists.
    """

    model: dict = field(default_factory=lambda: {"preset": "tiny"})
    processor: dict = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    batch_size: int = 32
    grad_accum_steps: int = 1
    max_steps: int = 100
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 10
    grad_clip: float = 1.0
    mixed_precision: str = "no"
    seed: int = 0
    augment: bool = True
    contrastive_weight: float = 1.0
    objectives: dict = field(default_factory=dict)
    probe: dict | None = None
    init_from: str | None = None
    log_every: int = 10
    eval_every: int = 50
    save_every: int = 50
    save_minutes: float | None = None
    keep_checkpoints: int = 2
    num_workers: int = 0
    cpu: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.data, dict):
            known = {f.name for f in fields(DataConfig)}
            unknown = set(self.data) - known
            if unknown:
                raise ConfigError(f"data: unknown keys {sorted(unknown)}; known: {sorted(known)}")
            self.data = DataConfig(**self.data)
        positive = (
            "batch_size",
            "grad_accum_steps",
            "max_steps",
            "log_every",
            "eval_every",
            "save_every",
            "keep_checkpoints",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("lr", "grad_clip"):
            if not float(getattr(self, name)) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        m = self.save_minutes
        if m is not None and (isinstance(m, bool) or not isinstance(m, (int, float)) or m <= 0):
            raise ConfigError(f"save_minutes must be a number > 0 or null, got {m!r}")
        if self.warmup_steps < 0 or self.weight_decay < 0 or self.num_workers < 0:
            raise ConfigError("warmup_steps, weight_decay and num_workers must be >= 0")
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise ConfigError(
                f"mixed_precision must be no, bf16 or fp16, got {self.mixed_precision!r}"
            )
        if not isinstance(self.model, dict) or "preset" not in self.model:
            raise ConfigError("model must be a mapping with a 'preset' (tiny, base or large)")
        if self.data.survey not in ("ztf", "lsst"):
            raise ConfigError(f"data.survey must be ztf or lsst, got {self.data.survey!r}")
        views, bucket = self.data.views, self.data.bucket
        if isinstance(views, bool) or not isinstance(views, int) or views < 1:
            raise ConfigError(f"data.views must be a positive integer, got {views!r}")
        if isinstance(bucket, bool) or not isinstance(bucket, int) or bucket < 0:
            raise ConfigError(f"data.bucket must be an integer >= 0, got {bucket!r}")
        self.objectives = check_weights(self.objectives)
        w = self.contrastive_weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0:
            raise ConfigError(f"contrastive_weight must be a number >= 0, got {w!r}")
        if not w and not any(self.objectives.values()):
            raise ConfigError("nothing to train: contrastive_weight 0 and no objectives")
        if self.probe is not None:
            from maven.evaluation.probe import check_probe_options

            if not isinstance(self.probe, dict):
                raise ConfigError(f"probe must be a mapping of options or null, got {self.probe!r}")
            check_probe_options(self.probe)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> TrainingConfig:
        """Read a YAML recipe; keyword ``overrides`` replace top-level keys."""
        return config_from_yaml(cls, path, "training", overrides)

    def to_dict(self) -> dict:
        """A JSON-serialisable copy."""
        return asdict(self)
