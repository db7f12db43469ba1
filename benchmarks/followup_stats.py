"""Regenerate the follow-up stream's summary table from the real development set.

    python benchmarks/followup_stats.py /work/data/real [--out PATH] [--exclude ztf_bts]

Reads the converted real set (``maven convert ../shared/data/real --out ../data/real``), measures
the schedule, band, noise and selection statistics of its non-alert light curves
(:func:`maven.simulate.followup.measure_followup_stats`) and writes them to
``maven/simulate/data/followup_stats.json`` (the shipped table; a few KB of quantiles and
frequencies, no light curve). Prints a short summary per class.
"""

from __future__ import annotations

import argparse


def main() -> None:
    from maven.io import read_supernovae
    from maven.simulate.followup import measure_followup_stats, write_followup_stats

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("real", help="a real maven dataset (folder) or anything read_supernovae reads")
    ap.add_argument("--out", default=None, help="where to write (default: the shipped table)")
    ap.add_argument("--exclude", nargs="*", default=["ztf_bts"], help="record sources to leave out")
    args = ap.parse_args()
    sne = read_supernovae(args.real, progress=False)
    table = measure_followup_stats(
        sne,
        exclude_sources=tuple(args.exclude),
        source_note=f"benchmarks/followup_stats.py on {len(sne)} records (converted real set)",
    )
    path = write_followup_stats(table, args.out)
    print(f"wrote {path} ({path.stat().st_size} bytes) from {table['n_objects']} objects")
    for c, d in table["classes"].items():
        mid = len(table["levels"]) // 2
        print(
            f"  {c:7s} n={d['n']:4d} nights~{d['median_points_nights']:5.1f} "
            f"first {d['schedule']['first'][mid]:7.1f} d, "
            f"last {d['schedule']['last'][mid]:7.1f} d, "
            f"peak mag {d['peak_mag'][mid]:.2f}, M_peak "
            f"{d['peak_abs_mag'][mid] if d['peak_abs_mag'] else float('nan'):.2f}"
        )


if __name__ == "__main__":
    main()
