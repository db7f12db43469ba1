"""Evaluation commands: ``evaluate``, ``crossval``, ``novelty-eval``, ``novelty-sim`` and
``model-card``."""

from __future__ import annotations

import argparse
import json

from maven.cli._common import read_data
from maven.errors import ConfigError


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``maven evaluate``: metrics, plots and a report of a fine-tuned head."""
    from maven.evaluation.evaluate import (
        EARLY_DAYS,
        evaluate,
        restrict_modality,
        write_evaluation,
    )
    from maven.models.loading import from_pretrained
    from maven.models.modeling_heads import MavenHeadModel

    model, processor = from_pretrained(args.model)
    if not isinstance(model, MavenHeadModel):
        raise ConfigError(
            f"{args.model} holds a {type(model).__name__}, not a fine-tuned head "
            "(give a folder written by maven finetune)"
        )
    records = restrict_modality(read_data(args), args.modality)
    metrics, predictions = evaluate(
        model,
        processor,
        records,
        early_days=() if args.no_early else EARLY_DAYS,
        progress=not args.json,
    )
    paths = write_evaluation(metrics, predictions, args.out, title=f"maven evaluate: {args.model}")
    if args.json:
        print(json.dumps({"metrics": metrics, "files": {k: str(v) for k, v in paths.items()}}))
    else:
        print(paths["markdown"].read_text())
        print(f"report, metrics.json and plots in {args.out}")
    return 0


def cmd_crossval(args: argparse.Namespace) -> int:
    """``maven crossval``: k-fold evaluation of a recipe against baselines."""
    from maven.evaluation.crossval import crossval, crossval_markdown
    from maven.training.finetune import FinetuneConfig

    config = FinetuneConfig.from_yaml(args.config, model=args.model, epochs=args.epochs)
    result = crossval(
        config,
        read_data(args),
        args.out,
        n_folds=args.folds,
        seed=args.seed,
        methods=args.methods.split(","),
        progress=not args.json,
        resume=args.resume,
    )
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "methods"}, default=str))
    else:
        print(crossval_markdown(result))
        print(
            f"per-fold metrics in {args.out}/crossval.json; pooled reports in {args.out}/<method>/"
        )
    return 0


def cmd_novelty_eval(args: argparse.Namespace) -> int:
    """``maven novelty-eval``: novelty AUROC of a class held out of fine-tuning."""
    from maven.evaluation.novelty_eval import heldout_novelty
    from maven.training.finetune import FinetuneConfig

    config = FinetuneConfig.from_yaml(args.config, model=args.model, epochs=args.epochs)
    out = heldout_novelty(
        config, read_data(args), args.heldout, args.out, k=args.k, progress=not args.json
    )
    if args.json:
        print(json.dumps({k: v for k, v in out.items() if k != "results"}))
    else:
        print(
            f"held out {out['heldout']}: {out['n_heldout']} objects vs {out['n_known_test']} "
            f"unseen known ({out['n_train']} trained)"
        )
        for r in out["results"]:
            print(
                f"  {r['method']:12} AUROC {r['auroc']:.3f}  precision@n {r['precision_at_n']:.3f}"
            )
        print(f"novelty_eval.json and novelty_roc.png in {args.out}")
    return 0


def cmd_novelty_sim(args: argparse.Namespace) -> int:
    """``maven novelty-sim``: novelty AUROC of the simulator's never-trained classes."""
    from maven.evaluation.novelty_eval import simulated_novelty

    out = simulated_novelty(
        args.model,
        args.out,
        survey=args.survey,
        n_reference=args.n_reference,
        n_queries=args.n_queries,
        novel_classes=tuple(args.novel_classes.split(",")),
        seed=args.seed,
        k=args.k,
        template_dir=args.template_dir,
        progress=not args.json,
    )
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"simulated {args.survey}: never-trained classes vs unseen known classes (kNN AUROC)")
    for modality, r in out["results"].items():
        per = "  ".join(f"{c} {v['auroc']:.3f}" for c, v in r["per_class"].items())
        print(f"  {modality:10} all {r['overall']['auroc']:.3f}  {per}")
    print(f"simulated_novelty.json in {args.out}")
    return 0


def cmd_model_card(args: argparse.Namespace) -> int:
    """``maven model-card``: README.md (model card) written into a model folder."""
    from maven.evaluation.model_card import write_model_card

    notes = args.notes.read_text() if args.notes else ""
    path = write_model_card(
        args.model, args.crossval, pretraining_summary=args.pretraining_summary, notes=notes
    )
    print(f"wrote {path}")
    return 0
