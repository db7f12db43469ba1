"""The large fault campaign (by hand; ``tests/test_fuzz.py`` runs a bounded share in CI).

    .venv/bin/python benchmarks/fuzz_campaign.py --cases 1000 --seed 0 [--out campaign.json]

``--cases`` damaged files per reader format (:data:`tests.fuzzing.SEEDS`) plus as many batches
of extreme valid records for the processor. Prints, per format, how many cases were read,
rejected with a MavenError, and how many were defects (foreign exception, non-finite or
damaged value, hang), with the first few defects described. Exits 1 if there was any defect.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzzing import SEEDS, check, check_records, mutate, random_records  # noqa: E402

DEFECTS = ("foreign", "nonfinite", "damaged", "hang")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000, help="cases per format")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--formats", nargs="*", default=None, help="default: all")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args(argv)

    from maven.models import MavenProcessor

    processor = MavenProcessor()
    rng = random.Random(args.seed)
    results: dict[str, Counter] = {}
    examples: dict[str, list[str]] = {}
    start = time.time()
    for fmt in [*(args.formats or SEEDS), "processor"]:
        counts: Counter = Counter()
        for _ in range(args.cases):
            if fmt == "processor":
                outcome, why = check_records(random_records(rng), processor, round_trip=True)
            else:
                name, data = mutate(fmt, rng)
                outcome, why = check(fmt, name, data, processor)
            counts[outcome] += 1
            if outcome in DEFECTS and len(examples.setdefault(fmt, [])) < 5:
                examples[fmt].append(f"{outcome}: {why}")
        results[fmt] = counts
        print(f"{fmt:15s} {dict(counts)}", flush=True)
    total = Counter()
    for c in results.values():
        total.update(c)
    summary = {
        "cases": sum(total.values()),
        "per_format": {k: dict(v) for k, v in results.items()},
        "defects": {k: total[k] for k in DEFECTS},
        "examples": examples,
        "seconds": round(time.time() - start, 1),
    }
    print(json.dumps({k: summary[k] for k in ("cases", "defects", "seconds")}))
    for fmt, ex in examples.items():
        for e in ex:
            print(f"  {fmt}: {e}")
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2))
    return 1 if any(summary["defects"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
