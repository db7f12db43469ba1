"""Product commands: ``classify`` (the classification table) and ``export onnx``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from maven.cli._common import print_rows, read_data, reader_options


def cmd_classify(args: argparse.Namespace) -> int:
    """``maven classify``: the classification table of any data, and its head printed."""
    from maven.classifier import DEFAULT_MODEL, ood_summary, write_classification

    model = args.model or DEFAULT_MODEL
    summary = write_classification(
        args.input,
        args.out,
        evaluation=args.evaluate,
        model=model,
        redshift_model=args.redshift_model,
        feed_redshift=args.feed_redshift,
        onnx=args.onnx,
        reference=None if args.no_reference else (args.reference or "auto"),
        k=args.k,
        chunk_size=args.chunk_size,
        batch_size=args.batch_size,
        progress=not args.json,
        format=args.format,
        options=reader_options(args),
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
    print_rows(rows, ["id", "predicted", "p", "novelty_percentile", "nearest", "ood_reason"])
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


def cmd_export(args: argparse.Namespace) -> int:
    """``maven export onnx``: a saved model as ONNX graphs, with a parity check."""
    from maven.export.onnx import export_onnx

    sne = read_data(args)[: args.examples] if args.data else None
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
