"""Data commands: ``info``, ``convert``, ``simulate``, ``simulate-report``."""

from __future__ import annotations

import argparse
import json

from maven.cli._common import reader_options
from maven.errors import MavenError


def cmd_info(args: argparse.Namespace) -> int:
    """``maven info``: a summary of the data (counts, classes, bands, formats read)."""
    from maven.data.summary import format_summary, summarize
    from maven.io import read_supernovae

    sne = read_supernovae(
        args.path, args.format, progress=not args.json, options=reader_options(args)
    )
    summary = summarize(sne, sne.skipped_files)
    summary["formats"] = sne.formats
    if args.json:
        summary["skipped_file_list"] = [{"path": p, "reason": r} for p, r in sne.skipped_files]
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
        print("formats read: " + ", ".join(f"{k} ({v} files)" for k, v in sne.formats.items()))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """``maven convert``: any readable input written as a parquet dataset."""
    from maven.data.summary import format_summary, summarize
    from maven.io import read_supernovae, write_dataset

    sne = read_supernovae(
        args.path, args.format, progress=not args.json, options=reader_options(args)
    )
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
    """The :class:`~maven.simulate.SimConfig` of ``--preset``, ``--config`` and overrides."""
    from maven.simulate import SimConfig

    options = {key: getattr(args, key) for key in ("survey", "template_dir", "heldout")}
    if args.config is not None:
        return SimConfig.from_yaml(args.config, args.preset, **options)
    return SimConfig.preset(args.preset, **{k: v for k, v in options.items() if v is not None})


def cmd_simulate(args: argparse.Namespace) -> int:
    """``maven simulate``: a simulated parquet dataset, or one shard of it (``--shard``)."""
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


def cmd_simulate_report(args: argparse.Namespace) -> int:
    """``maven simulate-report``: realism report of simulated vs real supernovae."""
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
