"""The ``maven`` command. Subcommands only parse arguments and call the library."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from maven import __version__
from maven.errors import MavenError

__all__ = ["main"]


def _cmd_info(args: argparse.Namespace) -> int:
    from maven.data.summary import format_summary, summarize
    from maven.io import read_supernovae

    sne = read_supernovae(args.path, args.format, progress=not args.json)
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

    sne = read_supernovae(args.path, args.format, progress=not args.json)
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


def _cmd_pretrain(args: argparse.Namespace) -> int:
    from maven.training.config import TrainingConfig
    from maven.training.trainer import pretrain

    overrides = {
        "max_steps": args.max_steps,
        "batch_size": args.batch_size,
        "cpu": args.cpu or None,
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``maven`` command."""
    parser = argparse.ArgumentParser(
        prog="maven",
        description="maven: multimodal contrastive foundation model for supernovae",
    )
    parser.add_argument("--version", action="version", version=f"maven {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="summarise a file or folder of supernova data")
    info.add_argument("path", type=Path)
    info.add_argument("--format", default=None, help="force a reader (default: guess)")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=_cmd_info)

    convert = sub.add_parser("convert", help="convert any readable input to a parquet dataset")
    convert.add_argument("path", type=Path)
    convert.add_argument("--out", type=Path, required=True, help="output dataset folder")
    convert.add_argument("--format", default=None, help="force a reader (default: guess)")
    convert.add_argument("--shard-size", type=int, default=5000, help="rows per parquet shard")
    convert.add_argument("--overwrite", action="store_true", help="replace existing shards")
    convert.add_argument("--json", action="store_true", help="machine-readable output")
    convert.set_defaults(func=_cmd_convert)

    pre = sub.add_parser("pretrain", help="contrastive pre-training (also under accelerate launch)")
    pre.add_argument("--config", type=Path, required=True, help="YAML recipe (pretrain/configs)")
    pre.add_argument("--output-dir", type=Path, required=True)
    pre.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    pre.add_argument("--max-steps", type=int, default=None, help="override max_steps")
    pre.add_argument("--batch-size", type=int, default=None, help="override batch_size")
    pre.add_argument("--cpu", action="store_true", help="force CPU")
    pre.set_defaults(func=_cmd_pretrain)
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
