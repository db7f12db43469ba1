"""Training commands: ``pretrain``, ``pretokenize``, ``probe``, ``finetune``."""

from __future__ import annotations

import argparse
import json

from maven.cli._common import read_data


def cmd_pretrain(args: argparse.Namespace) -> int:
    """``maven pretrain``: contrastive pre-training from a YAML recipe."""
    from maven.training.config import TrainingConfig
    from maven.training.trainer import pretrain

    overrides = {
        "max_steps": args.max_steps,
        "batch_size": args.batch_size,
        "cpu": args.cpu or None,
        "init_from": args.init_from,
    }
    config = TrainingConfig.from_yaml(args.config, **overrides)
    summary = pretrain(config, args.output_dir, resume=args.resume)
    if summary:
        val = summary.get("final_validation") or {}
        print(
            f"trained {summary['steps']} steps on {summary['world_size']} process(es); "
            f"validation loss {val.get('loss', float('nan')):.4f}, "
            f"top-1 {val.get('phot2spec_top1', float('nan')):.3f}; model in {args.output_dir}/model"
        )
    return 0


def cmd_pretokenize(args: argparse.Namespace) -> int:
    """``maven pretokenize``: processor output of a dataset as training shards."""
    from maven.models import MavenProcessor
    from maven.training.config import TrainingConfig
    from maven.training.shards import pretokenize

    config = TrainingConfig.from_yaml(args.config)
    views = args.views or (config.data.views if config.augment else 1)
    out = pretokenize(
        args.data,
        args.out,
        MavenProcessor(**config.processor),
        views=views,
        augment=config.augment,
        seed=config.seed,
        shard_size=args.shard_size,
        workers=args.workers,
        overwrite=args.overwrite,
        progress=not args.json,
    )
    manifest = json.loads((out / "shards.json").read_text())
    if args.json:
        print(json.dumps({k: v for k, v in manifest.items() if k != "shards"}))
    else:
        print(
            f"pre-tokenised {manifest['n_objects']} objects x {manifest['views']} view(s) into "
            f"{len(manifest['shards'])} shards in {out}; train with data.train: {out}"
        )
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    """``maven probe``: frozen-embedding probes of a pre-trained model."""
    from maven.evaluation.probe import probe, probe_markdown
    from maven.training.config import TrainingConfig

    options = dict(TrainingConfig.from_yaml(args.config).probe or {}) if args.config else {}
    sim = dict(options.get("sim") or {})
    if args.sim_preset is not None:
        sim["preset"] = args.sim_preset
    if args.template_dir is not None:
        sim["template_dir"] = args.template_dir
    flags = {
        "survey": args.survey,
        "n_sim": args.n_sim,
        "n_retrieval": args.n_retrieval,
        "novel": [c for c in args.novel.split(",") if c] if args.novel is not None else None,
        "n_novel": args.n_novel,
        "real": args.real,
        "n_folds": args.folds,
        "k": args.k,
        "seed": args.seed,
    }
    options.update({k: v for k, v in flags.items() if v is not None}, sim=sim)
    result = probe(args.model, args.out, progress=not args.json, **options)
    print(json.dumps(result) if args.json else probe_markdown(result))
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    """``maven finetune``: a task head fine-tuned on labelled supernovae."""
    from maven.training.finetune import FinetuneConfig, finetune

    config = FinetuneConfig.from_yaml(args.config, model=args.model, epochs=args.epochs)
    _, _, summary = finetune(config, read_data(args), args.output_dir, progress=not args.json)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        best = summary["best"]
        scores = ", ".join(f"{k}={v:.4f}" for k, v in best.items() if k.startswith("val_"))
        print(
            f"fine-tuned {config.task} from {config.modality} on {summary['n_train']} objects "
            f"(validation {summary['n_val']}); best epoch {best['epoch']}: {scores}; "
            f"calibration {summary['calibration']}; model in {args.output_dir}"
        )
        if summary["dropped"]:
            print("dropped: " + ", ".join(f"{k}: {v}" for k, v in summary["dropped"].items()))
    return 0
