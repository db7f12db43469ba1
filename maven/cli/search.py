"""Similarity-search commands: ``embed``, ``index build|info|search``, ``novelty``."""

from __future__ import annotations

import argparse
import json

from maven.cli._common import print_rows
from maven.errors import ConfigError


def cmd_embed(args: argparse.Namespace) -> int:
    """``maven embed``: embeddings of supernovae written to a parquet file."""
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


def cmd_index(args: argparse.Namespace) -> int:
    """``maven index build|info|search``: the FAISS similarity index."""
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
            print_rows(res["hits"], ["rank", "id", "type", "redshift", "survey", "distance"])
    return 0


def _index_line(manifest: dict) -> str:
    """One line about an index manifest: sizes and types, dim, model name and hash."""
    parts = [f"{m}: {v['ntotal']} ({v['type']})" for m, v in manifest.get("indexes", {}).items()]
    model = manifest.get("model") or {}
    return (
        f"{'; '.join(parts)}; dim {manifest.get('dim')}; model {model.get('name')} "
        f"({str(model.get('hash'))[:19]})"
    )


def cmd_novelty(args: argparse.Namespace) -> int:
    """``maven novelty``: objects ranked by novelty against an index."""
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
        print_rows(rows[: args.top], columns)
        if len(rows) > args.top:
            print(
                f"... {len(rows) - args.top} more" + (f" in {args.output}" if args.output else "")
            )
    return 0
