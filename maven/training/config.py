"""Typed training configuration, read from YAML recipes (``pretrain/configs/*.yaml``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from maven.errors import ConfigError
from maven.training.objectives import check_weights
from maven.utils.checks import (
    check_bool,
    check_choice,
    check_int,
    check_mapping,
    check_number,
    check_path,
    config_from_yaml,
    fail,
)

__all__ = ["DataConfig", "TrainingConfig"]

_CONFIG = "training"


@dataclass
class DataConfig:
    """Where training and validation supernovae come from.

    Args:
        train: a maven parquet dataset (folder or file), a pre-tokenised shard set (a folder
            with ``shards.json``, from ``maven pretokenize``), or ``None`` to simulate on the
            fly.
        val: a parquet dataset for validation, or ``None`` to simulate ``val_size`` objects.
        survey: survey simulated on the fly (``"ztf"``, ``"lsst"`` or ``"followup"``).
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

    def __post_init__(self) -> None:
        for name in ("train", "val"):
            check_path(_CONFIG, f"data.{name}", getattr(self, name), optional=True)
        check_choice(_CONFIG, "data.survey", self.survey, ("ztf", "lsst", "followup"))
        check_int(_CONFIG, "data.val_size", self.val_size, minimum=1)
        check_mapping(_CONFIG, "data.simulate", self.simulate)
        check_int(_CONFIG, "data.views", self.views, minimum=1)
        check_int(_CONFIG, "data.bucket", self.bucket, minimum=0)


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
            check_mapping(_CONFIG, "data", self.data, known=[f.name for f in fields(DataConfig)])
            self.data = DataConfig(**self.data)
        elif not isinstance(self.data, DataConfig):
            fail(_CONFIG, "data", "a mapping", self.data)
        check_mapping(_CONFIG, "model", self.model)
        if "preset" not in self.model:
            fail(_CONFIG, "model", "a mapping with a 'preset' (tiny, base or large)", self.model)
        check_mapping(_CONFIG, "processor", self.processor)
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
            check_int(_CONFIG, name, getattr(self, name), minimum=1)
        for name in ("warmup_steps", "num_workers", "seed"):
            check_int(_CONFIG, name, getattr(self, name), minimum=0)
        for name in ("lr", "grad_clip"):
            check_number(_CONFIG, name, getattr(self, name), above=0)
        check_number(_CONFIG, "weight_decay", self.weight_decay, minimum=0)
        check_number(_CONFIG, "save_minutes", self.save_minutes, above=0, optional=True)
        check_choice(_CONFIG, "mixed_precision", self.mixed_precision, ("no", "bf16", "fp16"))
        for name in ("augment", "cpu"):
            check_bool(_CONFIG, name, getattr(self, name))
        check_path(_CONFIG, "init_from", self.init_from, optional=True)
        self.objectives = check_weights(self.objectives)
        check_number(_CONFIG, "contrastive_weight", self.contrastive_weight, minimum=0)
        if not self.contrastive_weight and not any(self.objectives.values()):
            raise ConfigError("nothing to train: contrastive_weight 0 and no objectives")
        if check_mapping(_CONFIG, "probe", self.probe, optional=True) is not None:
            from maven.evaluation.probe import check_probe_options

            check_probe_options(self.probe)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> TrainingConfig:
        """Read a YAML recipe; keyword ``overrides`` replace top-level keys."""
        return config_from_yaml(cls, path, _CONFIG, overrides)

    def to_dict(self) -> dict:
        """A JSON-serialisable copy."""
        return asdict(self)
