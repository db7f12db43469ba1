"""Contrastive pre-training (with auxiliary objectives) on the loop of :mod:`maven.training.loop`.

One run for CPU, one GPU, many GPUs and several nodes: launch it plainly, with
``accelerate launch -m maven pretrain ...`` or with ``torchrun``. Contrastive negatives are
gathered across processes (:class:`maven.training.loss.ClipLoss`), so the batch is global.

Output directory::

    OUT/
      checkpoints/step-000050/    accelerate.save_state + trainer_state.json
      checkpoints/latest          name of the newest complete checkpoint (written last)
      metrics.jsonl               one JSON line per logged step and per evaluation
      model/                      save_pretrained: config, safetensors, processor
      auxiliary_heads.safetensors the supervised heads of ``objectives`` (when there are any)
      training_summary.json       config, steps, final metrics, wall time, world size, probe
      training_curves.png         loss and retrieval curves
      probe.json, probe.md        maven probe of the final model (when ``probe`` is set)

Checkpoints and resuming: :mod:`maven.training.loop`; a resumed run keeps ``metrics.jsonl``
up to its step.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from maven.errors import ConfigError, MavenError
from maven.evaluation.retrieval import retrieval_metrics
from maven.models.configuration_maven import MAX_LOGIT_SCALE
from maven.training.config import TrainingConfig
from maven.training.data import (
    RecordSource,
    SimulatedSource,
    StepBatches,
    has_pair,
    sim_config,
)
from maven.training.loop import Loop, make_accelerator
from maven.training.loss import ClipLoss
from maven.training.objectives import (
    AUX_HEADS,
    AuxiliaryHeads,
    record_targets,
    save_heads,
    split_targets,
)
from maven.training.shards import MANIFEST as SHARDS_MANIFEST
from maven.training.shards import ShardSource
from maven.utils.atomic import write_text

__all__ = ["pretrain", "evaluate_pairs"]


def _build(config: TrainingConfig):
    """The towers, the processor and the auxiliary heads (``None`` without objectives); with
    ``init_from``, towers (and heads of the same targets) start from that folder's."""
    from maven.models import MavenConfig, MavenModel, MavenProcessor

    overrides = {k: v for k, v in config.model.items() if k != "preset"}
    model = MavenModel(MavenConfig.from_preset(config.model["preset"], **overrides))
    processor = MavenProcessor(**config.processor)
    heads = None
    if any(config.objectives.values()):
        heads = AuxiliaryHeads(model.config.projection_dim, config.objectives)
    if config.init_from:
        _warm_start(config.init_from, model, heads)
    return model, processor, heads


def _warm_start(folder: str, model, heads) -> None:
    """Load saved towers into ``model``, and the heads that ``heads`` also has.

    ``folder`` is a model folder (``config.json``; heads from ``auxiliary_heads.safetensors``
    inside it, as shipped, or beside it, as a run writes them) or a checkpoint folder, or a
    copy of its ``model.safetensors`` (the towers) and ``model_1.safetensors`` (the heads).

    Raises:
        ConfigError: no towers there, or towers that do not fit the run's model.
    """
    from safetensors.torch import load_file

    from maven.models.loading import from_pretrained

    folder = Path(folder)
    if (folder / "config.json").exists():
        towers = from_pretrained(folder, task="towers")[0].state_dict()
        inside = folder / AUX_HEADS
        saved_heads = inside if inside.exists() else folder.parent / AUX_HEADS
    elif (folder / "model.safetensors").exists():
        towers = load_file(folder / "model.safetensors")
        saved_heads = folder / "model_1.safetensors"
    else:
        raise ConfigError(f"init_from {folder}: neither a model nor a checkpoint folder")
    try:
        model.load_state_dict(towers)
    except RuntimeError as exc:
        raise ConfigError(f"init_from {folder}: its towers do not fit the model: {exc}") from None
    if heads is not None and saved_heads.exists():
        mine = heads.state_dict()
        same = {k: v for k, v in load_file(saved_heads).items() if k in mine}
        heads.load_state_dict({**mine, **same})


def _source(config: TrainingConfig, processor):
    train = config.data.train
    if train and (Path(train) / SHARDS_MANIFEST).exists():
        return ShardSource(train, processor, config.augment, bucket=config.data.bucket)
    if config.data.bucket:
        raise ConfigError("data.bucket needs a pre-tokenised shard set as data.train")
    if train:
        return RecordSource(train)
    return SimulatedSource(config.data.survey, **config.data.simulate)


def _tower_inputs(out, inputs: dict) -> tuple[dict, dict]:
    """``({tower: embeddings}, {tower: has input})`` of a forward pass, for the heads."""
    embeds = {"photometry": out.photometry_embeds, "spectrum": out.spectrum_embeds}
    has = {"photometry": inputs["has_photometry"], "spectrum": inputs["has_spectrum"]}
    return embeds, has


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
def evaluate_pairs(
    model, processor, records: list, accelerator=None, batch_size: int = 256, heads=None
):
    """Contrastive loss and retrieval top-1/top-10 of ``records`` (all pairs, one matrix),
    and with ``heads`` (:class:`AuxiliaryHeads`) each head's mean loss ``aux_*``.

    Each process embeds its share of ``records``; embeddings are gathered for the metrics.
    """
    rank = accelerator.process_index if accelerator else 0
    world = accelerator.num_processes if accelerator else 1
    mine = records[rank::world]
    device = accelerator.device if accelerator else next(model.parameters()).device
    unwrapped = accelerator.unwrap_model(model) if accelerator else model
    was_training = unwrapped.training
    unwrapped.eval()
    phot, spec, aux = [], [], {}
    heads = accelerator.unwrap_model(heads) if accelerator and heads is not None else heads
    for i in range(0, len(mine), batch_size):
        chunk = mine[i : i + batch_size]
        batch = processor(chunk)
        batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in dict(batch).items()}
        out = unwrapped(**batch)
        phot.append(out.photometry_embeds.float())
        spec.append(out.spectrum_embeds.float())
        if heads is not None:
            _, targets = split_targets(record_targets(chunk))
            targets = {k: torch.from_numpy(v).to(device) for k, v in targets.items()}
            for key, (total, n) in heads(*_tower_inputs(out, batch), targets).items():
                aux[key] = aux.get(key, 0.0) + torch.stack([total.float(), n.float()])
    dim = unwrapped.config.projection_dim
    phot = torch.cat(phot) if phot else torch.zeros(0, dim, device=device)
    spec = torch.cat(spec) if spec else torch.zeros(0, dim, device=device)
    if accelerator is not None and world > 1:
        phot = accelerator.gather_for_metrics(phot, use_gather_object=False)
        spec = accelerator.gather_for_metrics(spec, use_gather_object=False)
    if heads is not None and not aux:  # a process with no records still joins the reduce
        aux = {f"aux_{key}": torch.zeros(2, device=device) for key in heads.heads}
    if accelerator is not None and world > 1:
        aux = {k: accelerator.reduce(v, reduction="sum") for k, v in aux.items()}
    scale = unwrapped.logit_scale.exp().float()
    loss = ClipLoss(gather_distributed=False)(phot, spec, scale)
    unwrapped.train(was_training)
    means = {k: float(v[0] / v[1].clamp(min=1)) for k, v in sorted(aux.items())}
    return {
        "loss": float(loss),
        **retrieval_metrics(phot, spec, ks=(1, 10)),
        **means,
        "n": len(phot),
    }


def pretrain(config: TrainingConfig, output_dir: str | Path, *, resume: bool = False) -> dict:
    """Contrastive pre-training, with the auxiliary objectives of ``config.objectives``;
    returns the training summary (also written to disk).

    Args:
        config: the run's :class:`TrainingConfig`.
        output_dir: where checkpoints, metrics, the final model and the summary go.
        resume: continue from the newest complete checkpoint in ``output_dir`` (exactly: the
            same data order and the same random state); start afresh if there is none.
    """
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    output_dir = Path(output_dir)
    accelerator = make_accelerator(
        cpu=config.cpu,
        mixed_precision=config.mixed_precision,
        grad_accum_steps=config.grad_accum_steps,
    )
    if config.probe is not None:  # fail now, not after the run
        from maven.evaluation.probe import check_probe_options

        check_probe_options(config.probe, paths=True)
    set_seed(config.seed)
    model, processor, heads = _build(config)
    trained = [model] if heads is None else [model, heads]
    params = [p for m in trained for p in m.parameters()]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, config.warmup_steps, config.max_steps)
    # the towers first: a checkpoint's model.safetensors stays the MavenModel's
    loop = Loop(accelerator, trained, optimizer, scheduler, params, config.grad_clip)
    model, heads = loop.modules[0], (loop.modules[1] if heads is not None else None)
    source = _source(config, processor)
    val_records = _validation_records(config)
    loss_fn = ClipLoss()

    step = loop.resume(output_dir) if resume else 0
    if accelerator.is_main_process:
        if step:
            _truncate_metrics(output_dir / "metrics.jsonl", step)
        else:
            output_dir.mkdir(parents=True, exist_ok=True)
            (output_dir / "metrics.jsonl").write_text("")
    accelerator.wait_for_everyone()

    if step == 0 and config.init_from:  # a warm restart: recorded with what it started from
        from maven.search.embed import model_hash

        start = {"from": config.init_from, "towers": model_hash(accelerator.unwrap_model(model))}
        _log(accelerator, output_dir, {"step": 0, "split": "warm_restart", **start})
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
    aux_heads = accelerator.unwrap_model(heads) if heads is not None else None
    model.train()
    start_time, seen, running = time.time(), 0, {}
    last_save = start_time
    bar = tqdm(
        total=config.max_steps,
        initial=step,
        desc="pretrain",
        disable=not accelerator.is_local_main_process,
    )
    for batch in loader:
        batch = {k: v.to(accelerator.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        inputs, targets = split_targets(batch)
        with loop.accumulate():
            out = model(**inputs)
            clip = loss_fn(out.photometry_embeds, out.spectrum_embeds, unwrapped.logit_scale.exp())
            loss = config.contrastive_weight * clip  # times 0 still reaches logit_scale (DDP)
            parts = {}
            if heads is not None:
                parts = heads(*_tower_inputs(out, inputs), targets)
                loss = loss + aux_heads.total(parts)
            synced = loop.update(loss)
        one = torch.ones((), device=loss.device)
        terms = {"loss": (loss, one), "contrastive_loss": (clip, one), **parts}
        values = torch.stack(
            [torch.stack([t.detach().float(), n.float()]) for t, n in terms.values()]
        )
        for key, (total, n) in zip(terms, values.tolist(), strict=True):  # one device sync
            prev = running.get(key, (0.0, 0.0))
            running[key] = (prev[0] + total, prev[1] + n)  # interval means: sums and counts
        seen += config.batch_size * accelerator.num_processes
        if not synced:
            continue
        with torch.no_grad():
            unwrapped.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
        step += 1
        bar.update(1)
        record = None
        if step % config.log_every == 0 or step == config.max_steps:
            elapsed = time.time() - start_time
            record = {
                "step": step,
                "split": "train",
                **{k: total / max(n, 1) for k, (total, n) in running.items()},
                "lr": loop.scheduler.get_last_lr()[0],
                "logit_scale": float(unwrapped.logit_scale.detach().exp()),
                "samples_per_s": seen / max(elapsed, 1e-9),
            }
            running = {}
            bar.set_postfix(loss=f"{record['loss']:.3f}")
        if step % config.eval_every == 0 or step == config.max_steps:
            val = evaluate_pairs(model, processor, val_records, accelerator, heads=heads)
            _log(accelerator, output_dir, {"step": step, "split": "val", **val})
        if record:
            _log(accelerator, output_dir, record)
        if _save_due(accelerator, config, step, last_save):
            loop.save(output_dir, step, config.keep_checkpoints)
            last_save = time.time()
    bar.close()
    return _finish(accelerator, model, processor, config, output_dir, step, start_time, aux_heads)


def _truncate_metrics(path: Path, step: int) -> None:
    """Keep the metrics of steps up to ``step`` (a resumed run logs the later ones again)."""
    lines = path.read_text().splitlines() if path.is_file() else []
    keep = []
    for line in lines:
        try:
            if json.loads(line)["step"] <= step:
                keep.append(line)
        except (ValueError, KeyError, TypeError):  # a line cut by the kill
            continue
    write_text(path, "".join(x + "\n" for x in keep))


def _save_due(accelerator, config: TrainingConfig, step: int, last_save: float) -> bool:
    """Every ``save_every`` steps, at the end, and (with ``save_minutes``) when the main
    process's clock says so; every process takes the main one's decision."""
    if step % config.save_every == 0 or step == config.max_steps:
        return True
    if not config.save_minutes:
        return False
    from accelerate.utils import broadcast

    late = time.time() - last_save >= 60 * config.save_minutes
    return bool(broadcast(torch.tensor([int(late)], device=accelerator.device)).item())


def _log(accelerator, output_dir: Path, record: dict) -> None:
    if accelerator.is_main_process:
        with open(output_dir / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")


def _finish(
    accelerator, model, processor, config, output_dir: Path, step: int, start: float, heads
):
    accelerator.wait_for_everyone()
    summary = {}
    if accelerator.is_main_process:
        final = output_dir / "model"
        accelerator.unwrap_model(model).save_pretrained(final)
        processor.save_pretrained(final)
        if heads is not None:
            save_heads(heads, output_dir / AUX_HEADS)
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
            "warm_restart": next((r for r in records if r["split"] == "warm_restart"), None),
            "config": config.to_dict(),
        }
        if config.probe is not None:
            from maven.evaluation.probe import probe

            summary["probe"] = probe(final, output_dir, **config.probe)
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
    train_loss = [r.get("contrastive_loss", r["loss"]) for r in train]
    a.plot([r["step"] for r in train], train_loss, label="train")
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
