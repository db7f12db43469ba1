"""The accelerate training loop shared by pre-training (and, later, fine-tuning).

One loop for CPU, one GPU, many GPUs and several nodes: launch it plainly, with
``accelerate launch -m maven pretrain ...`` or with ``torchrun``. Contrastive negatives are
gathered across processes (:class:`maven.training.loss.ClipLoss`), so the batch is global.

Output directory::

    OUT/
      checkpoints/step-000050/    accelerate.save_state + trainer_state.json
      checkpoints/latest          name of the newest complete checkpoint (written last)
      metrics.jsonl               one JSON line per logged step and per evaluation
      model/                      save_pretrained: config, safetensors, processor
      training_summary.json       config, steps, final metrics, wall time, world size
      training_curves.png         loss and retrieval curves

A checkpoint is written to ``step-N.tmp`` and renamed when complete, and ``latest`` is
replaced atomically after it, so a crash never leaves a broken latest checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from maven.errors import MavenError
from maven.training.config import TrainingConfig
from maven.training.data import (
    RecordSource,
    SimulatedSource,
    StepBatches,
    has_pair,
    sim_config,
)
from maven.training.loss import ClipLoss, retrieval_metrics

__all__ = ["pretrain", "evaluate_pairs", "latest_checkpoint"]

LOGIT_SCALE_MAX = math.log(100.0)


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder, or ``None``."""
    pointer = Path(output_dir) / "checkpoints" / "latest"
    if not pointer.exists():
        return None
    path = pointer.parent / pointer.read_text().strip()
    return path if (path / "trainer_state.json").exists() else None


def _save_checkpoint(accelerator, output_dir: Path, step: int, keep: int) -> None:
    ckpt_dir = output_dir / "checkpoints"
    final = ckpt_dir / f"step-{step:06d}"
    tmp = ckpt_dir / f"step-{step:06d}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "trainer_state.json").write_text(json.dumps({"step": step}))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        pointer_tmp = ckpt_dir / "latest.tmp"
        pointer_tmp.write_text(final.name)
        os.replace(pointer_tmp, ckpt_dir / "latest")
        done = sorted(p for p in ckpt_dir.glob("step-*") if not p.name.endswith(".tmp"))
        for old in done[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _build(config: TrainingConfig):
    from maven.models import MavenConfig, MavenModel, MavenProcessor

    overrides = {k: v for k, v in config.model.items() if k != "preset"}
    model = MavenModel(MavenConfig.from_preset(config.model["preset"], **overrides))
    processor = MavenProcessor(**config.processor)
    return model, processor


def _source(config: TrainingConfig):
    if config.data.train:
        return RecordSource(config.data.train)
    return SimulatedSource(config.data.survey, **config.data.simulate)


def _validation_records(config: TrainingConfig) -> list:
    if config.data.val:
        from maven.io import read_dataset

        records = [sn for sn in read_dataset(config.data.val) if has_pair(sn)]
    else:
        from maven.simulate import simulate

        # a seed no training step uses: training shards are (seed, step * world + rank)
        records = simulate(
            config.data.val_size,
            seed=config.seed + 1_000_003,
            shard=0,
            config=sim_config(config.data.survey, config.data.simulate),
        )
    if not records:
        raise MavenError("no validation pairs (light curve + spectrum)")
    return records


@torch.no_grad()
def evaluate_pairs(model, processor, records: list, accelerator=None, batch_size: int = 256):
    """Contrastive loss and retrieval top-1/top-10 of ``records`` (all pairs, one matrix).

    Each process embeds its share of ``records``; embeddings are gathered for the metrics.
    """
    rank = accelerator.process_index if accelerator else 0
    world = accelerator.num_processes if accelerator else 1
    mine = records[rank::world]
    device = accelerator.device if accelerator else next(model.parameters()).device
    unwrapped = accelerator.unwrap_model(model) if accelerator else model
    was_training = unwrapped.training
    unwrapped.eval()
    phot, spec = [], []
    for i in range(0, len(mine), batch_size):
        batch = processor(mine[i : i + batch_size])
        batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in dict(batch).items()}
        out = unwrapped(**batch)
        phot.append(out.photometry_embeds.float())
        spec.append(out.spectrum_embeds.float())
    dim = unwrapped.config.projection_dim
    phot = torch.cat(phot) if phot else torch.zeros(0, dim, device=device)
    spec = torch.cat(spec) if spec else torch.zeros(0, dim, device=device)
    if accelerator is not None and world > 1:
        phot = accelerator.gather_for_metrics(phot, use_gather_object=False)
        spec = accelerator.gather_for_metrics(spec, use_gather_object=False)
    scale = unwrapped.logit_scale.exp().float()
    loss = ClipLoss(gather_distributed=False)(phot, spec, scale)
    unwrapped.train(was_training)
    return {"loss": float(loss), **retrieval_metrics(phot, spec, ks=(1, 10)), "n": len(phot)}


def pretrain(config: TrainingConfig, output_dir: str | Path, *, resume: bool = False) -> dict:
    """Contrastive pre-training; returns the training summary (also written to disk).

    Args:
        config: the run's :class:`TrainingConfig`.
        output_dir: where checkpoints, metrics, the final model and the summary go.
        resume: continue from the newest complete checkpoint in ``output_dir`` (exactly: the
            same data order and the same random state); start afresh if there is none.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    output_dir = Path(output_dir)
    accelerator = Accelerator(
        cpu=config.cpu,
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.grad_accum_steps,
        # one scheduler step per optimiser step, whatever the number of processes
        step_scheduler_with_optimizer=False,
    )
    set_seed(config.seed)
    model, processor = _build(config)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = get_cosine_schedule_with_warmup(optimizer, config.warmup_steps, config.max_steps)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    source = _source(config)
    val_records = _validation_records(config)
    loss_fn = ClipLoss()

    step = 0
    if resume and (ckpt := latest_checkpoint(output_dir)) is not None:
        accelerator.load_state(str(ckpt))
        step = json.loads((ckpt / "trainer_state.json").read_text())["step"]
        accelerator.print(f"resumed from {ckpt} at step {step}")
    elif accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "metrics.jsonl").write_text("")
    accelerator.wait_for_everyone()

    accum = config.grad_accum_steps
    batches = StepBatches(
        source,
        processor,
        batch_size=config.batch_size,
        rank=accelerator.process_index,
        world=accelerator.num_processes,
        seed=config.seed,
        start=step * accum,
        stop=config.max_steps * accum,
        augment=config.augment,
    )
    loader = torch.utils.data.DataLoader(
        batches, batch_size=None, shuffle=False, num_workers=config.num_workers
    )
    unwrapped = accelerator.unwrap_model(model)
    model.train()
    start_time, seen, running = time.time(), 0, []
    bar = tqdm(
        total=config.max_steps,
        initial=step,
        desc="pretrain",
        disable=not accelerator.is_local_main_process,
    )
    for batch in loader:
        batch = {k: v.to(accelerator.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        with accelerator.accumulate(model):
            out = model(**batch)
            loss = loss_fn(out.photometry_embeds, out.spectrum_embeds, unwrapped.logit_scale.exp())
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            if accelerator.sync_gradients:
                scheduler.step()
            optimizer.zero_grad()
        running.append(float(loss.detach()))
        seen += config.batch_size * accelerator.num_processes
        if not accelerator.sync_gradients:
            continue
        with torch.no_grad():
            unwrapped.logit_scale.clamp_(0, LOGIT_SCALE_MAX)
        step += 1
        bar.update(1)
        record = None
        if step % config.log_every == 0 or step == config.max_steps:
            elapsed = time.time() - start_time
            record = {
                "step": step,
                "split": "train",
                "loss": float(np.mean(running)),
                "lr": scheduler.get_last_lr()[0],
                "logit_scale": float(unwrapped.logit_scale.detach().exp()),
                "samples_per_s": seen / max(elapsed, 1e-9),
            }
            running = []
            bar.set_postfix(loss=f"{record['loss']:.3f}")
        if step % config.eval_every == 0 or step == config.max_steps:
            val = evaluate_pairs(model, processor, val_records, accelerator)
            _log(accelerator, output_dir, {"step": step, "split": "val", **val})
        if record:
            _log(accelerator, output_dir, record)
        if step % config.save_every == 0 or step == config.max_steps:
            _save_checkpoint(accelerator, output_dir, step, config.keep_checkpoints)
    bar.close()
    return _finish(accelerator, model, processor, config, output_dir, step, start_time)


def _log(accelerator, output_dir: Path, record: dict) -> None:
    if accelerator.is_main_process:
        with open(output_dir / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")


def _finish(accelerator, model, processor, config, output_dir: Path, step: int, start: float):
    accelerator.wait_for_everyone()
    summary = {}
    if accelerator.is_main_process:
        final = output_dir / "model"
        accelerator.unwrap_model(model).save_pretrained(final)
        processor.save_pretrained(final)
        records = [json.loads(line) for line in open(output_dir / "metrics.jsonl") if line.strip()]
        val = [r for r in records if r["split"] == "val"]
        summary = {
            "steps": step,
            "world_size": accelerator.num_processes,
            "global_batch": config.batch_size * accelerator.num_processes,
            "wall_time_s_this_run": time.time() - start,
            "device": str(accelerator.device),
            "mixed_precision": config.mixed_precision,
            "final_validation": val[-1] if val else None,
            "config": config.to_dict(),
        }
        (output_dir / "training_summary.json").write_text(json.dumps(summary, indent=2))
        plot_training_curves(records, output_dir / "training_curves.png")
    accelerator.wait_for_everyone()
    return summary


def plot_training_curves(records: list[dict], path: Path) -> None:
    """Training/validation loss and validation retrieval top-k against step."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    train = [r for r in records if r["split"] == "train"]
    val = [r for r in records if r["split"] == "val"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    a.plot([r["step"] for r in train], [r["loss"] for r in train], label="train")
    a.plot([r["step"] for r in val], [r["loss"] for r in val], "o-", label="validation")
    a.set_xlabel("step")
    a.set_ylabel("contrastive loss")
    a.legend()
    for key in ("phot2spec_top1", "phot2spec_top10", "spec2phot_top1"):
        b.plot([r["step"] for r in val], [r[key] for r in val], "o-", label=key)
    b.set_xlabel("step")
    b.set_ylabel("validation retrieval")
    b.set_ylim(0, 1)
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
