"""The ``maven`` command. Subcommands only parse arguments and call the library.

The parser and :func:`main` live here; the commands, by group, in :mod:`maven.cli.data`,
:mod:`~maven.cli.training`, :mod:`~maven.cli.evaluation`, :mod:`~maven.cli.search` and
:mod:`~maven.cli.product`, which import the library lazily (``maven --help`` stays fast).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from maven import __version__
from maven.cli.data import cmd_convert, cmd_info, cmd_simulate, cmd_simulate_report
from maven.cli.evaluation import (
    cmd_crossval,
    cmd_evaluate,
    cmd_model_card,
    cmd_novelty_eval,
    cmd_novelty_sim,
)
from maven.cli.product import cmd_classify, cmd_export
from maven.cli.search import cmd_embed, cmd_index, cmd_novelty
from maven.cli.training import cmd_finetune, cmd_pretokenize, cmd_pretrain, cmd_probe
from maven.errors import MavenError

__all__ = ["main"]


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
    info.set_defaults(func=cmd_info)

    convert = sub.add_parser("convert", help="convert any readable input to a parquet dataset")
    _add_reader_arguments(convert)
    convert.add_argument("--out", type=Path, required=True, help="output dataset folder")
    convert.add_argument("--shard-size", type=int, default=5000, help="rows per parquet shard")
    convert.add_argument("--overwrite", action="store_true", help="replace existing shards")
    convert.set_defaults(func=cmd_convert)

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
    sim.set_defaults(func=cmd_simulate)

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
    rep.set_defaults(func=cmd_simulate_report)

    emb = sub.add_parser("embed", help="embed supernovae with a model into a parquet file")
    emb.add_argument("--model", required=True, help="a save_pretrained model folder")
    emb.add_argument("--data", required=True, help="any readable data (file or folder)")
    emb.add_argument("--output", type=Path, required=True, help="embeddings .parquet")
    emb.add_argument("--batch-size", type=int, default=256)
    emb.add_argument("--json", action="store_true")
    emb.set_defaults(func=cmd_embed)

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
        p.set_defaults(func=cmd_index)

    nov = sub.add_parser("novelty", help="rank objects by novelty against an index")
    nov.add_argument("index", type=Path)
    nov.add_argument("--data", default=None, help="records to score (default: the index itself)")
    nov.add_argument("--model", default=None, help="model folder (with --data)")
    nov.add_argument("-k", type=int, default=10)
    nov.add_argument("--modality", choices=["photometry", "spectrum"], default=None)
    nov.add_argument("--output", type=Path, default=None, help=".parquet, .csv or .json table")
    nov.add_argument("--top", type=int, default=20, help="rows to print")
    nov.add_argument("--json", action="store_true")
    nov.set_defaults(func=cmd_novelty)

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
    pre.set_defaults(func=cmd_pretrain)

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
    tok.set_defaults(func=cmd_pretokenize)

    prb = sub.add_parser(
        "probe", help="frozen-embedding probes of a pre-trained model (sim, real, novelty)"
    )
    prb.add_argument("--model", required=True, help="a save_pretrained model folder")
    prb.add_argument("--out", type=Path, default=None, help="folder for probe.json / probe.md")
    prb.add_argument("--config", type=Path, default=None, help="a recipe: its probe options")
    prb.add_argument("--real", default=None, help="real data for the out-of-fold probes")
    prb.add_argument("--survey", choices=["ztf", "lsst", "followup"], default=None)
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
    prb.set_defaults(func=cmd_probe)

    ft = sub.add_parser("finetune", help="fine-tune a task head on labelled supernovae")
    ft.add_argument("--config", type=Path, required=True, help="YAML recipe (finetune/configs)")
    _add_data_arguments(ft)
    ft.add_argument("--output-dir", type=Path, required=True)
    ft.add_argument("--model", default=None, help="override the recipe's pre-trained model")
    ft.add_argument("--epochs", type=int, default=None, help="override epochs")
    ft.set_defaults(func=cmd_finetune)

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
    ev.set_defaults(func=cmd_evaluate)

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
        "--onnx",
        type=Path,
        default=None,
        help="run the classifier's forward passes in onnxruntime from this export of MODEL",
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
    cls.set_defaults(func=cmd_classify)

    cv = sub.add_parser("crossval", help="k-fold evaluation of a recipe against baselines")
    cv.add_argument("--config", type=Path, required=True, help="YAML recipe (finetune/configs)")
    _add_data_arguments(cv)
    cv.add_argument("--out", type=Path, required=True, help="output folder")
    cv.add_argument("--folds", type=int, default=5)
    cv.add_argument("--seed", type=int, default=0, help="fold assignment seed")
    cv.add_argument(
        "--methods",
        default="maven,scratch,probe,features,spectrum_linear,spectrum_knn,xcorr",
        help="comma-separated: maven, scratch, probe, features (light curves), features_sim "
        "(the same trees given the recipe's simulated supplement), spectrum_linear, "
        "spectrum_knn (spectrum classes), xcorr (spectrum redshift); each runs where it applies",
    )
    cv.add_argument("--model", default=None, help="override the recipe's pre-trained model")
    cv.add_argument("--epochs", type=int, default=None, help="override epochs")
    cv.add_argument(
        "--resume",
        action="store_true",
        help="read each method's folds that an earlier run into --out finished (folds/) "
        "instead of running them again",
    )
    cv.set_defaults(func=cmd_crossval)

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
    nev.set_defaults(func=cmd_novelty_eval)

    nsim = sub.add_parser(
        "novelty-sim",
        help="score the simulator's never-trained classes (TDE, KN, Ia-91bg) for novelty",
    )
    nsim.add_argument("--model", required=True, help="saved model directory")
    nsim.add_argument("--out", type=Path, required=True)
    nsim.add_argument("--survey", default="ztf", choices=["ztf", "lsst", "followup"])
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
    nsim.set_defaults(func=cmd_novelty_sim)

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
    onnx.set_defaults(func=cmd_export)

    card = sub.add_parser("model-card", help="write README.md (model card) into a model folder")
    card.add_argument("--model", type=Path, required=True, help="a folder written by finetune")
    card.add_argument("--crossval", type=Path, nargs="*", default=[], help="crossval folders")
    card.add_argument("--pretraining-summary", type=Path, default=None)
    card.add_argument("--notes", type=Path, default=None, help="markdown to include")
    card.set_defaults(func=cmd_model_card)
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
