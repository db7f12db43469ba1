"""What a collection of supernovae holds: counts, bands, sizes, redshifts and what was skipped."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from maven.data.records import Supernova

__all__ = ["summarize", "format_summary"]


def _quantiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    a = np.asarray(values, dtype=float)
    return {
        "min": float(a.min()),
        "median": float(np.median(a)),
        "max": float(a.max()),
    }


def summarize(
    supernovae: Sequence[Supernova], skipped_files: Sequence[tuple[str, str]] = ()
) -> dict:
    """A JSON-serialisable summary of ``supernovae`` (and of files that were not read)."""
    by_class = Counter(sn.type or "unknown" for sn in supernovae)
    by_modality = Counter("+".join(sn.modalities) for sn in supernovae)
    bands: Counter[str] = Counter()
    points, detections, n_spectra = [], [], []
    skipped: Counter[str] = Counter()
    unplaceable: Counter[str] = Counter()
    for sn in supernovae:
        if sn.lightcurve is not None:
            bands.update(sn.lightcurve.band.tolist())
            points.append(len(sn.lightcurve))
            detections.append(int(sn.lightcurve.detected.sum()))
        n_spectra.append(len(sn.spectra))
        skipped.update(sn.skipped)
        unplaceable.update(sn.meta.get("unplaceable_bands", {}))
    redshifts = [sn.redshift for sn in supernovae if sn.redshift is not None]
    reasons = Counter(_short_reason(p, r) for p, r in skipped_files)
    return {
        "n_supernovae": len(supernovae),
        "per_class": dict(by_class.most_common()),
        "per_modality": dict(by_modality.most_common()),
        "with_redshift": len(redshifts),
        "redshift": _quantiles(redshifts),
        "n_spectra": int(sum(n_spectra)),
        "points_per_lightcurve": _quantiles(points),
        "detections_per_lightcurve": _quantiles(detections),
        "n_points": int(sum(points)),
        "bands": dict(bands.most_common()),
        "skipped_items": dict(skipped.most_common()),
        "unplaceable_bands": dict(unplaceable.most_common()),
        "skipped_files": len(skipped_files),
        "skipped_file_reasons": dict(reasons.most_common()),
    }


def _short_reason(path: str, reason: str) -> str:
    """A file-skip message without its path and counts, so equal reasons group together."""
    if reason.startswith(f"{path}: "):
        reason = reason[len(path) + 2 :]
    return re.sub(r":\s*\d+", "", reason)  # counts differ per file; the reasons group


def format_summary(summary: dict) -> str:
    """The summary as aligned plain text for a terminal."""
    lines = [f"supernovae: {summary['n_supernovae']}"]

    def block(title: str, mapping: dict, limit: int = 25) -> None:
        if not mapping:
            return
        lines.append(f"{title}:")
        width = max(len(str(k)) for k in list(mapping)[:limit])
        for k, v in list(mapping.items())[:limit]:
            lines.append(f"  {str(k):<{width}}  {v}")
        if len(mapping) > limit:
            lines.append(f"  ... and {len(mapping) - limit} more")

    block("per class", summary["per_class"])
    block("per modality", summary["per_modality"])
    z = summary["redshift"]
    zline = f"{z['min']:.4g} .. {z['max']:.4g} (median {z['median']:.4g})" if z else "none"
    lines.append(f"redshift: {summary['with_redshift']} objects, {zline}")
    p = summary["points_per_lightcurve"]
    if p:
        lines.append(
            f"points per light curve: median {p['median']:.0f} (min {p['min']:.0f}, "
            f"max {p['max']:.0f}); {summary['n_points']} points in all"
        )
    lines.append(f"spectra: {summary['n_spectra']}")
    block("points per band", summary["bands"], limit=30)
    block("skipped items (reason: count)", summary["skipped_items"])
    block("unplaceable bands (band@context: count)", summary["unplaceable_bands"], limit=15)
    lines.append(f"skipped files: {summary['skipped_files']}")
    block("skipped file reasons", summary["skipped_file_reasons"], limit=10)
    return "\n".join(lines)
