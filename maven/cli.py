"""The ``maven`` command. Subcommands only parse arguments and call the library."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from maven import __version__
from maven.errors import ConfigError, MavenError

__all__ = ["main"]


def _options(args: argparse.Namespace) -> dict:
    """Reader options from the command line."""
    if args.assume_mag_err is None:
        return {}
    return {"osc": {"assumed_mag_err": args.assume_mag_err}}


def _cmd_info(args: argparse.Namespace) -> int:
    from maven.data.summary import format_summary, summarize
    from maven.io import read_supernovae

    sne = read_supernovae(args.path, args.format, progress=not args.json, options=_options(args))
    summary = summarize(sne, sne.skipped_files)
    summary["formats"] = sne.formats
    if args.json:
        summary["skipped_file_list"] = [{"path": p, "reason": r} for p, r in sne.skipped_files]
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
        print("formats read: " + ", ".join(f"{k} ({v} files)" for k, v in sne.formats.items()))
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from maven.data.summary import format_summary, summarize
    from maven.io import read_supernovae, write_dataset

    sne = read_supernovae(args.path, args.format, progress=not args.json, options=_options(args))
    if not sne:
        raise MavenError(f"{args.path}: nothing readable to convert")
    out = write_dataset(
        sne,
        args.out,
        shard_size=args.shard_size,
        overwrite=args.overwrite,
        provenance={"converted_from": str(args.path), "formats": sne.formats},
    )
    summary = summarize(sne, sne.skipped_files)
    if args.json:
        print(json.dumps({"out": str(out), **summary}, indent=2))
    else:
        print(format_summary(summary))
        print(f"wrote {len(sne)} supernovae to {out}")
    return 0


def _sim_config(args: argparse.Namespace):
    from maven.simulate import SimConfig

    options = {key: getattr(args, key) for key in ("survey", "template_dir", "heldout")}
    if args.config is not None:
        return SimConfig.from_yaml(args.config, args.preset, **options)
    return SimConfig.preset(args.preset, **{k: v for k, v in options.items() if v is not None})


def _cmd_simulate(args: argparse.Namespace) -> int:
    from maven.simulate import simulate_dataset, simulate_shard, write_manifest

    config = _sim_config(args)
    if args.shard is not None:  # one task of a cluster job array
        result = simulate_shard(args.out, args.n, seed=args.seed, shard=args.shard, config=config)
        if args.write_manifest:
            write_manifest(args.out, config=config, seed=args.seed)
        print(
            json.dumps(result)
            if args.json
            else f"shard {args.shard}: {result['n']} SNe {result['counts']}"
        )
        return 0
    out = simulate_dataset(
        args.out,
        args.n,
        seed=args.seed,
        workers=args.workers,
        shard_size=args.shard_size,
        config=config,
        progress=not args.json,
        overwrite=args.overwrite,
    )
    manifest = json.loads((out / "maven_dataset.json").read_text())
    if args.json:
        print(json.dumps(manifest, indent=2))
    else:
        prov = manifest["provenance"]
        print(
            f"wrote {manifest['n_supernovae']} simulated SNe in {manifest['n_shards']} shards "
            f"to {out}: {manifest['counts_per_type']}"
        )
        print(
            f"templates from: {prov.get('template_dir') or 'built-in fallback (no template dir)'}; "
            f"cadence: {prov.get('cadence')}"
        )
    return 0


def _cmd_simulate_report(args: argparse.Namespace) -> int:
    from maven.simulate.report import realism_report

    report = realism_report(
        args.sim,
        args.real,
        args.out,
        survey=args.survey,
        progress=not args.json,
        max_peak_mag=args.max_peak_mag,
        plots=not args.no_plots,
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print((args.out / "realism.md").read_text())
        print(f"plots and realism.json in {args.out}")
    return 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
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


def _cmd_pretokenize(args: argparse.Namespace) -> int:
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


def _cmd_probe(args: argparse.Namespace) -> int:
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


def _read_data(args: argparse.Namespace):
    from maven.io import read_supernovae

    sne = read_supernovae(args.data, args.format, progress=not args.json, options=_options(args))
    if not sne:
        raise MavenError(f"{args.data}: no readable supernova")
    return sne


def _cmd_finetune(args: argparse.Namespace) -> int:
    from maven.training.finetune import FinetuneConfig, finetune

    config = FinetuneConfig.from_yaml(args.config, model=args.model, epochs=args.epochs)
    _, _, summary = finetune(config, _read_data(args), args.output_dir, progress=not args.json)
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


def _cmd_evaluate(args: argparse.Namespace) -> int:
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
    records = restrict_modality(_read_data(args), args.modality)
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


def _cmd_classify(args: argparse.Namespace) -> int:
    from maven.classifier import DEFAULT_MODEL, ood_summary, write_classification

    model = args.model or DEFAULT_MODEL
    summary = write_classification(
        args.input,
        args.out,
        evaluation=args.evaluate,
        model=model,
        redshift_model=args.redshift_model,
        feed_redshift=args.feed_redshift,
        reference=None if args.no_reference else (args.reference or "auto"),
        k=args.k,
        chunk_size=args.chunk_size,
        batch_size=args.batch_size,
        progress=not args.json,
        format=args.format,
        options=_options(args),
    )
    if args.json:
        print(json.dumps(summary, default=str))
        return 0
    rows = _table_head(args.out, args.top)
    for r in rows:
        probs = [v for c, v in r.items() if c.startswith("p_") and v is not None]
        r["p"] = max(probs) if probs else None
        r["predicted"] = f"{r['predicted'] or '-'}{'?' if r['ood'] else ''}"
        near = r.get("neighbour1_name") or (r.get("neighbours") or [{}])[0].get("name")
        kind = r.get("neighbour1_type") or (r.get("neighbours") or [{}])[0].get("type")
        r["nearest"] = f"{near} ({kind})" if near else None
    _print_rows(rows, ["id", "predicted", "p", "novelty_percentile", "nearest", "ood_reason"])
    if summary["n"] > len(rows):
        print(f"... {summary['n'] - len(rows)} more in {args.out}")
    counts = ", ".join(f"{c} {k}" for c, k in summary["predicted"].items())
    print(f"classified {summary['n']} objects with {model} -> {args.out}: {counts}")
    if summary["reference"] is None:
        print("no reference index: no novelty percentile or neighbours (see embeddings/README.md)")
    if line := ood_summary(summary):
        print(f"{line}; '?' marks them above")
    if summary["skipped_files"]:
        print(f"{len(summary['skipped_files'])} unreadable file(s) skipped")
    if summary["duplicate_ids"]:
        print(
            f"{summary['duplicate_ids']} object id(s) met in more than one chunk (files of one "
            "object far apart in the folder): `maven convert` the folder first to join them"
        )
    if args.evaluate is not None:
        m = (summary.get("metrics") or {}).get("metrics")
        if m is None:
            print("no labelled object of the model's classes: no evaluation written")
        else:
            print(
                f"labelled objects: accuracy {m['accuracy']:.3f}, balanced accuracy "
                f"{m['balanced_accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}; report in "
                f"{args.evaluate}"
            )
    return 0


def _table_head(path: Path, n: int) -> list[dict]:
    """The first ``n`` rows of a classification table (``.parquet`` or ``.csv``)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if n <= 0:
        return []
    if path.suffix.lower() == ".csv":
        batch = pacsv.open_csv(path).read_next_batch()
    else:
        batch = next(pq.ParquetFile(path).iter_batches(batch_size=n))
    return batch.slice(0, n).to_pylist()


def _cmd_crossval(args: argparse.Namespace) -> int:
    from maven.evaluation.crossval import crossval, crossval_markdown
    from maven.training.finetune import FinetuneConfig

    config = FinetuneConfig.from_yaml(args.config, model=args.model, epochs=args.epochs)
    result = crossval(
        config,
        _read_data(args),
        args.out,
        n_folds=args.folds,
        seed=args.seed,
        methods=args.methods.split(","),
        progress=not args.json,
    )
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "methods"}, default=str))
    else:
        print(crossval_markdown(result))
        print(
            f"per-fold metrics in {args.out}/crossval.json; pooled reports in {args.out}/<method>/"
        )
    return 0


def _cmd_novelty_eval(args: argparse.Namespace) -> int:
    from maven.evaluation.novelty_eval import heldout_novelty
    from maven.training.finetune import FinetuneConfig

    config = FinetuneConfig.from_yaml(args.config, model=args.model, epochs=args.epochs)
    out = heldout_novelty(
        config, _read_data(args), args.heldout, args.out, k=args.k, progress=not args.json
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


def _cmd_novelty_sim(args: argparse.Namespace) -> int:
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


def _cmd_export(args: argparse.Namespace) -> int:
    from maven.export.onnx import export_onnx

    sne = _read_data(args)[: args.examples] if args.data else None
    manifest = export_onnx(args.model, args.out, supernovae=sne, overwrite=args.overwrite)
    if args.json:
        print(json.dumps(manifest))
        return 0
    for graph in manifest["graphs"].values():
        diff = max(graph["parity_max_abs_diff"].values())
        outputs = ", ".join(o["name"] for o in graph["outputs"])
        print(f"{args.out}/{graph['file']}: {outputs} (max |onnx - torch| {diff:.1e})")
    print(f"inputs, outputs and axes in {args.out}/maven_onnx.json")
    return 0


def _cmd_model_card(args: argparse.Namespace) -> int:
    from maven.evaluation.model_card import write_model_card

    notes = args.notes.read_text() if args.notes else ""
    path = write_model_card(
        args.model, args.crossval, pretraining_summary=args.pretraining_summary, notes=notes
    )
    print(f"wrote {path}")
    return 0


def _print_rows(rows: list[dict], columns: list[str]) -> None:
    """An aligned plain-text table of ``rows`` (dicts) in ``columns`` order."""
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return "" if v is None else str(v)


def _cmd_embed(args: argparse.Namespace) -> int:
    from maven.search.api import embed_dataset

    summary = embed_dataset(
        args.model, args.data, args.output, batch_size=args.batch_size, progress=not args.json
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"embedded {summary['count']} objects ({summary['photometry']} light curves, "
            f"{summary['spectrum']} spectra, dim {summary['dim']}) with {summary['model_name']}"
            f" -> {summary['output']}"
        )
    return 0


def _json_object(text: str, flag: str) -> dict:
    """The JSON object given to ``flag``; anything else raises :class:`ConfigError`."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{flag} must be a JSON object, got {text!r}: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{flag} must be a JSON object, got {text!r}")
    return value


def _cmd_index(args: argparse.Namespace) -> int:
    from maven.search import api

    if args.index_command == "build":
        params = _json_object(args.params, "--params") if args.params else None
        manifest = api.build_index(
            args.source,
            args.output,
            model=args.model,
            index_type=args.index_type,
            params=params,
            novelty_k=args.novelty_k,
            progress=not args.json,
        )
        print(
            json.dumps(manifest, indent=2)
            if args.json
            else f"index {args.output}: {_index_line(manifest)}"
        )
    elif args.index_command == "info":
        manifest = api.index_info(args.index)
        print(
            json.dumps(manifest, indent=2)
            if args.json
            else f"index {args.index} (verified): {_index_line(manifest)}"
        )
    else:
        if sum(x is not None for x in (args.id, args.data)) != 1:
            raise ConfigError("give exactly one of --id or --data")
        results = api.search(
            args.index,
            ids=args.id,
            data=args.data,
            model=args.model,
            k=args.k,
            query_modality=args.query_modality,
            modality=args.modality,
        )
        if args.json:
            print(json.dumps(results, indent=2))
        for res in [] if args.json else results:
            print(
                f"\nquery {res['query_id']} ({res['query_modality']}) -> nearest {res['modality']}:"
            )
            _print_rows(res["hits"], ["rank", "id", "type", "redshift", "survey", "distance"])
    return 0


def _index_line(manifest: dict) -> str:
    parts = [f"{m}: {v['ntotal']} ({v['type']})" for m, v in manifest.get("indexes", {}).items()]
    model = manifest.get("model") or {}
    return (
        f"{'; '.join(parts)}; dim {manifest.get('dim')}; model {model.get('name')} "
        f"({str(model.get('hash'))[:19]})"
    )


def _cmd_novelty(args: argparse.Namespace) -> int:
    from maven.search.api import novelty_table

    rows = novelty_table(
        args.index,
        data=args.data,
        model=args.model,
        k=args.k,
        modality=args.modality,
        output=args.output,
    )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        columns = [
            c
            for c in (
                "rank",
                "id",
                "type",
                "modality",
                "score",
                "percentile",
                "nearest_id",
                "nearest_distance",
            )
            if rows and c in rows[0]
        ]
        _print_rows(rows[: args.top], columns)
        if len(rows) > args.top:
            print(
                f"... {len(rows) - args.top} more" + (f" in {args.output}" if args.output else "")
            )
    return 0


def _add_reader_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``read_supernovae`` and ``--json``."""
    parser.add_argument("--format", default=None, help="force a reader (default: guess)")
    parser.add_argument(
        "--assume-mag-err",
        type=float,
        default=None,
        metavar="MAG",
        help="OSC: assume this error for magnitudes published without one",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _add_reader_arguments(parser: argparse.ArgumentParser) -> None:
    """A positional ``path`` (any readable data) and the reader options."""
    parser.add_argument("path", type=Path)
    _add_reader_options(parser)


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data PATH`` (any readable data) and the reader options."""
    parser.add_argument("--data", required=True, help="any readable data (files or a dataset)")
    _add_reader_options(parser)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``maven`` command."""
    parser = argparse.ArgumentParser(
        prog="maven",
        description="maven: multimodal contrastive foundation model for supernovae",
    )
    parser.add_argument("--version", action="version", version=f"maven {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="summarise a file or folder of supernova data")
    _add_reader_arguments(info)
    info.set_defaults(func=_cmd_info)

    convert = sub.add_parser("convert", help="convert any readable input to a parquet dataset")
    _add_reader_arguments(convert)
    convert.add_argument("--out", type=Path, required=True, help="output dataset folder")
    convert.add_argument("--shard-size", type=int, default=5000, help="rows per parquet shard")
    convert.add_argument("--overwrite", action="store_true", help="replace existing shards")
    convert.set_defaults(func=_cmd_convert)

    sim = sub.add_parser("simulate", help="simulate supernovae into a parquet dataset")
    sim.add_argument("--n", type=int, required=True, help="number of supernovae")
    sim.add_argument("--out", type=Path, required=True, help="output dataset folder")
    sim.add_argument("--survey", choices=["ztf", "lsst", "followup"], default=None)
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--workers", type=int, default=1, help="parallel processes")
    sim.add_argument("--shard-size", type=int, default=1000, help="objects per shard")
    sim.add_argument("--preset", default="default", help="default or tiny (no templates)")
    sim.add_argument("--config", type=Path, default=None, help="YAML of SimConfig fields")
    sim.add_argument(
        "--template-dir",
        default=None,
        help="template and cadence directory (default $MAVEN_TEMPLATE_DIR; "
        "neither: the built-in fallback sources)",
    )
    sim.add_argument(
        "--heldout",
        choices=["exclude", "include", "only"],
        default=None,
        help="held-out templates: exclude (training), only (tests), include",
    )
    sim.add_argument(
        "--shard",
        type=int,
        default=None,
        help="write only this shard (cluster job arrays); --n is its size",
    )
    sim.add_argument(
        "--write-manifest",
        action="store_true",
        help="with --shard: (re)write the manifest from the shards present",
    )
    sim.add_argument("--overwrite", action="store_true")
    sim.add_argument("--json", action="store_true")
    sim.set_defaults(func=_cmd_simulate)

    rep = sub.add_parser("simulate-report", help="compare simulated and real supernovae")
    rep.add_argument("--sim", required=True, help="simulated dataset (or any readable data)")
    rep.add_argument("--real", required=True, help="real data (any readable data)")
    rep.add_argument("--out", type=Path, default=Path("realism_report"), help="report folder")
    rep.add_argument("--survey", choices=["ztf", "lsst", "followup"], default="ztf")
    rep.add_argument(
        "--max-peak-mag",
        type=float,
        default=None,
        help="same brightness cut on both sets (spectroscopic-like selection)",
    )
    rep.add_argument("--no-plots", action="store_true")
    rep.add_argument("--json", action="store_true")
    rep.set_defaults(func=_cmd_simulate_report)

    emb = sub.add_parser("embed", help="embed supernovae with a model into a parquet file")
    emb.add_argument("--model", required=True, help="a save_pretrained model folder")
    emb.add_argument("--data", required=True, help="any readable data (file or folder)")
    emb.add_argument("--output", type=Path, required=True, help="embeddings .parquet")
    emb.add_argument("--batch-size", type=int, default=256)
    emb.add_argument("--json", action="store_true")
    emb.set_defaults(func=_cmd_embed)

    idx = sub.add_parser("index", help="FAISS similarity index: build, search, info")
    isub = idx.add_subparsers(dest="index_command", required=True)
    build = isub.add_parser("build", help="build an index from embeddings or data + model")
    build.add_argument("source", help="an embeddings .parquet (maven embed) or data")
    build.add_argument("--output", type=Path, required=True, help="index folder")
    build.add_argument("--model", default=None, help="model folder (when source is data)")
    build.add_argument("--index-type", default="auto", choices=["auto", "flat", "hnsw", "ivfpq"])
    build.add_argument("--params", default=None, help="JSON, e.g. '{\"nlist\": 4096}'")
    build.add_argument("--novelty-k", type=int, default=10, help="k of the novelty score")
    build.add_argument("--json", action="store_true")
    info_ = isub.add_parser("info", help="verify an index and show its manifest")
    info_.add_argument("index", type=Path)
    info_.add_argument("--json", action="store_true")
    srch = isub.add_parser("search", help="nearest neighbours of stored ids or new data")
    srch.add_argument("index", type=Path)
    srch.add_argument("--id", action="append", default=None, help="object id (repeatable)")
    srch.add_argument("--data", default=None, help="records to embed and query with")
    srch.add_argument("--model", default=None, help="model folder (with --data)")
    srch.add_argument("-k", type=int, default=10)
    srch.add_argument("--query-modality", choices=["photometry", "spectrum"], default=None)
    srch.add_argument(
        "--modality",
        choices=["photometry", "spectrum"],
        default=None,
        help="stored modality to search; the other one is cross-modal",
    )
    srch.add_argument("--json", action="store_true")
    for p in (build, info_, srch):
        p.set_defaults(func=_cmd_index)

    nov = sub.add_parser("novelty", help="rank objects by novelty against an index")
    nov.add_argument("index", type=Path)
    nov.add_argument("--data", default=None, help="records to score (default: the index itself)")
    nov.add_argument("--model", default=None, help="model folder (with --data)")
    nov.add_argument("-k", type=int, default=10)
    nov.add_argument("--modality", choices=["photometry", "spectrum"], default=None)
    nov.add_argument("--output", type=Path, default=None, help=".parquet, .csv or .json table")
    nov.add_argument("--top", type=int, default=20, help="rows to print")
    nov.add_argument("--json", action="store_true")
    nov.set_defaults(func=_cmd_novelty)

    pre = sub.add_parser("pretrain", help="contrastive pre-training (also under accelerate launch)")
    pre.add_argument("--config", type=Path, required=True, help="YAML recipe (pretrain/configs)")
    pre.add_argument("--output-dir", type=Path, required=True)
    pre.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    pre.add_argument("--max-steps", type=int, default=None, help="override max_steps")
    pre.add_argument("--batch-size", type=int, default=None, help="override batch_size")
    pre.add_argument("--cpu", action="store_true", help="force CPU")
    pre.add_argument(
        "--init-from", default=None, help="warm restart from saved towers (override init_from)"
    )
    pre.set_defaults(func=_cmd_pretrain)

    tok = sub.add_parser(
        "pretokenize", help="processor output of a simulated set as shards, for fast training"
    )
    tok.add_argument("--config", type=Path, required=True, help="the training recipe (YAML)")
    tok.add_argument("--data", required=True, help="a maven parquet dataset (maven simulate)")
    tok.add_argument("--out", type=Path, required=True, help="shard folder (data.train)")
    tok.add_argument("--views", type=int, default=None, help="override data.views")
    tok.add_argument("--shard-size", type=int, default=1000, help="objects per shard")
    tok.add_argument("--workers", type=int, default=1, help="parallel processes")
    tok.add_argument("--overwrite", action="store_true", help="replace a finished shard set")
    tok.add_argument("--json", action="store_true")
    tok.set_defaults(func=_cmd_pretokenize)

    prb = sub.add_parser(
        "probe", help="frozen-embedding probes of a pre-trained model (sim, real, novelty)"
    )
    prb.add_argument("--model", required=True, help="a save_pretrained model folder")
    prb.add_argument("--out", type=Path, default=None, help="folder for probe.json / probe.md")
    prb.add_argument("--config", type=Path, default=None, help="a recipe: its probe options")
    prb.add_argument("--real", default=None, help="real data for the out-of-fold probes")
    prb.add_argument("--survey", choices=["ztf", "lsst"], default=None)
    prb.add_argument("--sim-preset", default=None, help="simulator preset (default, tiny)")
    prb.add_argument("--template-dir", default=None, help="simulator template directory")
    prb.add_argument("--n-sim", type=int, default=None, help="simulated objects (4000)")
    prb.add_argument("--n-retrieval", type=int, default=None, help="retrieval pairs (1024)")
    prb.add_argument("--novel", default=None, help="never-trained classes (TDE,KN,Ia-91bg)")
    prb.add_argument("--n-novel", type=int, default=None, help="novel objects (600)")
    prb.add_argument("--folds", type=int, default=None, help="folds of the real probes (5)")
    prb.add_argument("-k", type=int, default=None, help="neighbours of the novelty score (10)")
    prb.add_argument("--seed", type=int, default=None)
    prb.add_argument("--json", action="store_true")
    prb.set_defaults(func=_cmd_probe)

    ft = sub.add_parser("finetune", help="fine-tune a task head on labelled supernovae")
    ft.add_argument("--config", type=Path, required=True, help="YAML recipe (finetune/configs)")
    _add_data_arguments(ft)
    ft.add_argument("--output-dir", type=Path, required=True)
    ft.add_argument("--model", default=None, help="override the recipe's pre-trained model")
    ft.add_argument("--epochs", type=int, default=None, help="override epochs")
    ft.set_defaults(func=_cmd_finetune)

    ev = sub.add_parser("evaluate", help="metrics, plots and a report of a fine-tuned model")
    ev.add_argument("--model", required=True, help="a folder written by maven finetune")
    _add_data_arguments(ev)
    ev.add_argument("--out", type=Path, required=True, help="report folder")
    ev.add_argument(
        "--modality",
        choices=["photometry", "spectrum", "both"],
        default="both",
        help="inputs given to the model: drop spectra (photometry) or light curves (spectrum)",
    )
    ev.add_argument("--no-early", action="store_true", help="skip early classification")
    ev.set_defaults(func=_cmd_evaluate)

    cls = sub.add_parser(
        "classify",
        help="class probabilities, redshift, novelty, OOD flag and neighbours of any data",
    )
    cls.add_argument("input", help="any readable data (file, folder or parquet dataset)")
    cls.add_argument(
        "--model", default=None, help="classification head folder or Hub id (weights/maven-base)"
    )
    cls.add_argument("--out", type=Path, required=True, help="table: .parquet or .csv")
    cls.add_argument("--redshift-model", default=None, help="a redshift head folder (optional)")
    cls.add_argument(
        "--feed-redshift",
        action="store_true",
        help="give the classifier the redshift model's estimate where a record has no redshift",
    )
    cls.add_argument(
        "--reference", default=None, help="reference index folder (default: MODEL/reference)"
    )
    cls.add_argument("--no-reference", action="store_true", help="no novelty or neighbours")
    cls.add_argument("-k", type=int, default=5, help="nearest reference objects per row")
    cls.add_argument(
        "--evaluate", type=Path, default=None, help="also a report on the labelled objects here"
    )
    cls.add_argument("--chunk-size", type=int, default=1024, help="records read at a time")
    cls.add_argument("--batch-size", type=int, default=128, help="objects per forward pass")
    cls.add_argument("--top", type=int, default=10, help="rows to print")
    _add_reader_options(cls)
    cls.set_defaults(func=_cmd_classify)

    cv = sub.add_parser("crossval", help="k-fold evaluation of a recipe against baselines")
    cv.add_argument("--config", type=Path, required=True, help="YAML recipe (finetune/configs)")
    _add_data_arguments(cv)
    cv.add_argument("--out", type=Path, required=True, help="output folder")
    cv.add_argument("--folds", type=int, default=5)
    cv.add_argument("--seed", type=int, default=0, help="fold assignment seed")
    cv.add_argument(
        "--methods",
        default="maven,scratch,probe,features,spectrum_linear,spectrum_knn,xcorr",
        help="comma-separated: maven, scratch, probe, features (light curves), spectrum_linear, "
        "spectrum_knn (spectrum classes), xcorr (spectrum redshift); each runs where it applies",
    )
    cv.add_argument("--model", default=None, help="override the recipe's pre-trained model")
    cv.add_argument("--epochs", type=int, default=None, help="override epochs")
    cv.set_defaults(func=_cmd_crossval)

    nev = sub.add_parser(
        "novelty-eval", help="hold a class out of fine-tuning and score its novelty (AUROC)"
    )
    nev.add_argument("--config", type=Path, required=True, help="classification recipe")
    _add_data_arguments(nev)
    nev.add_argument("--heldout", required=True, help="class kept out of training, e.g. SLSN-I")
    nev.add_argument("--out", type=Path, required=True)
    nev.add_argument("-k", type=int, default=10, help="neighbours of the novelty score")
    nev.add_argument("--model", default=None, help="override the recipe's pre-trained model")
    nev.add_argument("--epochs", type=int, default=None, help="override epochs")
    nev.set_defaults(func=_cmd_novelty_eval)

    nsim = sub.add_parser(
        "novelty-sim",
        help="score the simulator's never-trained classes (TDE, KN, Ia-91bg) for novelty",
    )
    nsim.add_argument("--model", required=True, help="saved model directory")
    nsim.add_argument("--out", type=Path, required=True)
    nsim.add_argument("--survey", default="ztf", choices=["ztf", "lsst"])
    nsim.add_argument("--n-reference", type=int, default=3000, help="simulated known references")
    nsim.add_argument("--n-queries", type=int, default=600, help="known and novel queries each")
    nsim.add_argument(
        "--novel-classes", default="TDE,KN,Ia-91bg", help="comma-separated novel classes"
    )
    nsim.add_argument("--seed", type=int, default=0)
    nsim.add_argument("-k", type=int, default=10, help="neighbours of the novelty score")
    nsim.add_argument(
        "--template-dir", default=None, help="simulator template directory (as maven simulate)"
    )
    nsim.add_argument("--json", action="store_true", help="machine-readable output")
    nsim.set_defaults(func=_cmd_novelty_sim)

    exp = sub.add_parser("export", help="export a saved model for serving")
    esub = exp.add_subparsers(dest="export_format", required=True)
    onnx = esub.add_parser(
        "onnx", help="photometry tower, spectrum tower and head as ONNX graphs (onnxruntime)"
    )
    onnx.add_argument("--model", required=True, help="a saved model folder (or Hub id)")
    onnx.add_argument("--out", type=Path, required=True, help="output folder")
    onnx.add_argument(
        "--data", default=None, help="example records for the parity check (default: simulated)"
    )
    onnx.add_argument("--examples", type=int, default=32, help="records of --data used")
    onnx.add_argument("--overwrite", action="store_true")
    _add_reader_options(onnx)
    onnx.set_defaults(func=_cmd_export)

    card = sub.add_parser("model-card", help="write README.md (model card) into a model folder")
    card.add_argument("--model", type=Path, required=True, help="a folder written by finetune")
    card.add_argument("--crossval", type=Path, nargs="*", default=[], help="crossval folders")
    card.add_argument("--pretraining-summary", type=Path, default=None)
    card.add_argument("--notes", type=Path, default=None, help="markdown to include")
    card.set_defaults(func=_cmd_model_card)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 on bad input, with a one-line message)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MavenError as exc:
        print(f"maven {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
