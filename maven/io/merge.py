"""Join the records of one object read from several files into one :class:`Supernova`.

What joins: records whose names compare equal under :func:`maven.data.folds.normalize_name`
(``"SN 2011fe"``, ``"sn2011fe"`` and ``"2011fe"`` are one object): the alert packets of one
ZTF or Rubin object, a spectrum file and a light-curve file of one supernova, the tables of one
object from several broker queries. A name whose light curves come from more than one format
(the Open Supernova Catalog's and ZTF BTS's photometry of one supernova) is left unjoined:
two compilations of the same observations overlap without being identical, so
:func:`maven.data.folds.group_supernovae` keeps such records in one fold instead.

How: the light curves are concatenated and one point is kept per band and epoch
(:func:`unique_points`); spectra are concatenated without exact repeats; scalars (type,
redshift, position, MW E(B-V)) come from the first record that has them, and disagreeing
types or redshifts are listed in ``meta["merge_conflicts"]``; aliases, ``skipped`` counts and
``meta`` are united (a meta key on which the records disagree holds their distinct values, in
record order); ``source`` lists every distinct source.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from maven.data.records import LightCurve, Supernova, merge_skipped
from maven.errors import MavenError

__all__ = ["SAME_EPOCH_DAYS", "unique_points", "merge_by_name"]

#: Points of one band closer in time than this (1 s) are one observation reported twice.
SAME_EPOCH_DAYS = 1.0 / 86400.0

_LC_COLUMNS = ("time", "band", "flux", "flux_err", "detected")
_SCALARS = ("redshift", "ra", "dec", "mwebv")
_CONFLICTS = ("type_raw", "redshift")


def unique_points(time, band, flux, flux_err, detected) -> np.ndarray:
    """Indices of the points to keep: one per band and epoch (within :data:`SAME_EPOCH_DAYS`).

    Of the points of one band and epoch a usable one (finite, positive error) wins over an
    unusable one; then the first detection, then the first measured non-detection (forced
    photometry), then the first limit-only one (flux exactly 0, see
    :func:`maven.data.photometry.upper_limit_to_flux`). Returned sorted, in input order.
    """
    t = np.asarray(time, dtype=np.float64)
    b = np.asarray(band).astype(str)
    f = np.asarray(flux, dtype=np.float64)
    e = np.asarray(flux_err, dtype=np.float64)
    det = np.asarray(detected, dtype=bool)
    with np.errstate(invalid="ignore"):
        unusable = ~(np.isfinite(t) & np.isfinite(f) & np.isfinite(e) & (e > 0))
    limit_only = ~det & (f == 0.0)
    order = np.lexsort((t, b))
    ts, bs = t[order], b[order]
    new_epoch = np.ones(t.size, dtype=bool)
    with np.errstate(invalid="ignore"):
        new_epoch[1:] = (bs[1:] != bs[:-1]) | ~(np.diff(ts) <= SAME_EPOCH_DAYS)
    epoch = np.empty(t.size, dtype=np.int64)
    epoch[order] = np.cumsum(new_epoch) - 1
    rank = np.lexsort((np.arange(t.size), limit_only, ~det, unusable, epoch))
    first = np.ones(t.size, dtype=bool)
    first[1:] = epoch[rank][1:] != epoch[rank][:-1]
    return np.sort(rank[first])


def _join_lightcurves(curves: list[LightCurve], object_id: str) -> tuple[LightCurve, int]:
    cols = [np.concatenate([getattr(lc, k) for lc in curves]) for k in _LC_COLUMNS]
    keep = unique_points(*cols)
    t, b, f, e, d = (c[keep] for c in cols)
    return LightCurve(t, b, f, e, d, object_id=object_id), int(cols[0].size - keep.size)


def _distinct(values: list) -> list:
    out, seen = [], set()
    for v in values:
        key = json.dumps(v, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def _join(group: list[Supernova]) -> Supernova:
    first = group[0]
    curves = [sn.lightcurve for sn in group if sn.lightcurve is not None]
    skipped = merge_skipped(sn.skipped for sn in group)
    lightcurve = None
    if curves:
        lightcurve, repeats = _join_lightcurves(curves, first.id)
        if repeats:
            skipped["photometric point repeated in another file of the object"] = repeats
    spectra = []
    for sn in group:
        spectra += [s for s in sn.spectra if not any(s.equals(o) for o in spectra)]
    meta: dict = {}
    for key in dict.fromkeys(k for sn in group for k in sn.meta):
        values = _distinct([sn.meta[key] for sn in group if key in sn.meta])
        meta[key] = values[0] if len(values) == 1 else values
    conflicts = {}
    for name in _CONFLICTS:
        values = _distinct([getattr(sn, name) for sn in group if getattr(sn, name) is not None])
        if len(values) > 1:
            conflicts[name] = values
    if conflicts:
        meta["merge_conflicts"] = conflicts
    typed = next((sn for sn in group if sn.type_raw is not None or sn.type is not None), first)
    scalars = {
        k: next((getattr(sn, k) for sn in group if getattr(sn, k) is not None), None)
        for k in _SCALARS
    }
    sources = _distinct([sn.source for sn in group if sn.source])
    return Supernova(
        id=first.id,
        lightcurve=lightcurve,
        spectra=spectra,
        aliases=[a for sn in group for a in (sn.id, *sn.aliases)],
        type_raw=typed.type_raw,
        type=typed.type,
        source="; ".join(sources) or None,
        meta=meta,
        skipped=skipped,
        **scalars,
    )


def merge_by_name(
    records: Sequence[Supernova], formats: Sequence[str] | None = None
) -> tuple[list[Supernova], dict[str, int]]:
    """Join the records of one object (see the module docstring).

    Args:
        records: supernovae in reading order; the first of a group gives the joined id.
        formats: the format each record was read with (``None``: all one format); a name
            whose light curves come from more than one format is not joined.

    Returns:
        the records, each joined one at the place of its group's first record, and
        ``{id: number of records joined}`` for every joined record.
    """
    if len(records) < 2:
        return list(records), {}
    from maven.data.folds import normalize_name  # (imports scikit-learn: only when needed)

    if formats is not None and len(formats) != len(records):
        raise MavenError(f"{len(formats)} formats for {len(records)} records")
    groups: dict[str, list[int]] = {}
    for i, sn in enumerate(records):
        groups.setdefault(normalize_name(sn.id), []).append(i)
    out, joined = [], {}
    for members in groups.values():
        photometry_formats = {
            formats[i] if formats is not None else None
            for i in members
            if records[i].lightcurve is not None
        }
        if len(members) == 1 or len(photometry_formats) > 1:
            out += [(i, records[i]) for i in members]
            continue
        sn = _join([records[i] for i in members])
        joined[sn.id] = len(members)
        out.append((members[0], sn))
    out.sort(key=lambda pair: pair[0])
    return [sn for _, sn in out], joined
