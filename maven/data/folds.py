"""Cross-validation folds that never split one physical supernova across folds.

Our real data mix catalogues (OSC, Pantheon+ x WISeREP, ZTF BTS, ZTF SN Ia DR1, WISeREP), and
the same supernova can appear in several of them under different names ("SN2011fe",
"2011fe", "ZTF19abcdefg" with the IAU name as an alias). :func:`group_supernovae` finds such
duplicates (shared normalised name, or same sky position and redshift) and
:func:`assign_folds` makes grouped, class-stratified folds with scikit-learn's
``StratifiedGroupKFold``.

Example::

    groups = group_supernovae(sns)
    folds = assign_folds(sns, n_folds=5, seed=0, groups=groups)
    print(fold_counts([sn.type for sn in sns], folds))
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence

import numpy as np
from scipy.spatial import cKDTree
from sklearn.model_selection import StratifiedGroupKFold

from maven.data.records import Supernova
from maven.errors import ConfigError, MavenError

__all__ = ["normalize_name", "group_supernovae", "assign_folds", "fold_counts", "UNKNOWN"]

#: stratum of records without a type (``sn.type is None``)
UNKNOWN = "unknown"

# an IAU designation after its "SN"/"AT" prefix: a year and optional letters ("2011fe", "1987A")
_IAU_PREFIX = re.compile(r"^(?:sn|at)(?=\d{4}[a-z]*$)")
_SPACE = re.compile(r"[\s_]+")


def normalize_name(name: str) -> str:
    """A supernova name in a form in which catalogue spellings of one name compare equal.

    Case-folds, removes whitespace and underscores, and drops an ``SN``/``AT`` prefix when
    what follows is an IAU designation (a four-digit year and optional letters): ``"SN 2011fe"``,
    ``"sn2011fe"``, ``"2011fe"`` give ``"2011fe"``; ``"AT2018abc"`` gives ``"2018abc"``.
    Survey designations keep everything but case and spaces (``"ZTF18abcdefg"`` ->
    ``"ztf18abcdefg"``, ``"ASASSN-14lp"`` -> ``"asassn-14lp"``, ``"SNLS-06D4ba"`` ->
    ``"snls-06d4ba"``; hyphens are kept).
    """
    key = _SPACE.sub("", str(name)).casefold()
    return _IAU_PREFIX.sub("", key)


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:  # path compression
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, i: int, j: int) -> None:
        """Join the sets of ``i`` and ``j``; the root stays the smallest index."""
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def _unit_vectors(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])


def group_supernovae(
    supernovae: Sequence[Supernova],
    match_radius_arcsec: float = 2.0,
    max_dz: float = 0.01,
) -> np.ndarray:
    """A group id per record: records of one physical supernova share an id.

    Two records are linked when (a) the normalised forms (:func:`normalize_name`) of their
    ``id`` and ``aliases`` share a name, or (b) both have ``ra``/``dec`` within
    ``match_radius_arcsec`` of each other and, if both also have a redshift, those differ by
    at most ``max_dz`` (a position match without redshifts on both sides still links). Groups are
    the connected components of these links (union-find), so links chain: A~B and B~C put A, B
    and C in one group.

    Returns:
        int array of shape ``(len(supernovae),)`` with ids ``0..G-1`` numbered in order of
        each group's first record (deterministic for a given input order).
    """
    if match_radius_arcsec < 0 or max_dz < 0:
        raise ConfigError(
            f"match_radius_arcsec and max_dz must be >= 0, got {match_radius_arcsec}, {max_dz}"
        )
    n = len(supernovae)
    uf = _UnionFind(n)

    first_with_name: dict[str, int] = {}
    for i, sn in enumerate(supernovae):
        for name in (sn.id, *sn.aliases):
            key = normalize_name(name)
            if key:
                uf.union(first_with_name.setdefault(key, i), i)

    placed = [i for i, sn in enumerate(supernovae) if sn.ra is not None and sn.dec is not None]
    if len(placed) > 1 and match_radius_arcsec > 0:
        idx = np.asarray(placed)
        ra = np.array([supernovae[i].ra for i in placed], dtype=float)
        dec = np.array([supernovae[i].dec for i in placed], dtype=float)
        z = np.array(
            [np.nan if supernovae[i].redshift is None else supernovae[i].redshift for i in placed],
            dtype=float,
        )
        chord = 2.0 * np.sin(np.radians(match_radius_arcsec / 3600.0) / 2.0)
        pairs = cKDTree(_unit_vectors(ra, dec)).query_pairs(chord, output_type="ndarray")
        if len(pairs):
            dz = np.abs(z[pairs[:, 0]] - z[pairs[:, 1]])
            keep = ~(dz > max_dz)  # NaN (a redshift missing) keeps the positional link
            for a, b in pairs[keep]:
                uf.union(int(idx[a]), int(idx[b]))

    # a root is its group's first record, so sorted roots number groups by first appearance
    roots = np.array([uf.find(i) for i in range(n)], dtype=np.int64)
    return np.unique(roots, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _labels_of(supernovae: Sequence[Supernova], labels: Sequence[Hashable] | None) -> np.ndarray:
    if labels is None:
        labels = [sn.type for sn in supernovae]
    elif len(labels) != len(supernovae):
        raise MavenError(
            f"labels has {len(labels)} entries but there are {len(supernovae)} records"
        )
    return np.array([UNKNOWN if y is None else str(y) for y in labels], dtype=object)


def assign_folds(
    supernovae: Sequence[Supernova],
    n_folds: int = 5,
    seed: int = 0,
    labels: Sequence[Hashable] | None = None,
    groups: Sequence[int] | np.ndarray | None = None,
) -> np.ndarray:
    """A fold index (``0..n_folds-1``) per record: grouped by object, stratified by class.

    Uses ``StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed)``: all records of a
    group land in one fold, and each class's share is kept roughly equal across folds.

    Args:
        supernovae: the records.
        n_folds: number of folds, >= 2.
        seed: shuffling seed; the same inputs and seed give the same folds.
        labels: stratification labels, one per record; default ``sn.type``. ``None`` labels
            form their own stratum :data:`UNKNOWN`.
        groups: group ids, one per record; default :func:`group_supernovae` (default radius
            and ``max_dz``).

    Raises:
        MavenError: ``n_folds < 2``, fewer groups than folds, or labels/groups of the wrong
            length.
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ConfigError(f"n_folds must be an integer >= 2, got {n_folds!r}")
    n = len(supernovae)
    y = _labels_of(supernovae, labels)
    if groups is None:
        groups = group_supernovae(supernovae)
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise MavenError(f"groups has shape {groups.shape} but there are {n} records")
    n_groups = np.unique(groups).size
    if n_groups < n_folds:
        raise MavenError(
            f"cannot make {n_folds} folds from {n_groups} group(s) of {n} record(s): "
            "every fold needs at least one distinct object"
        )
    folds = np.full(n, -1, dtype=np.int64)
    cv = StratifiedGroupKFold(n_splits=int(n_folds), shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(cv.split(np.zeros((n, 1)), y, groups)):
        folds[test] = k
    return folds


def fold_counts(
    labels: Sequence[Hashable], folds: Sequence[int] | np.ndarray
) -> dict[int, dict[str, int]]:
    """Class counts per fold: ``{fold: {label: count}}``, every label listed in every fold
    (zeros included), folds and labels sorted; ``None`` labels count as :data:`UNKNOWN`."""
    folds = np.asarray(folds)
    if len(labels) != folds.size:
        raise MavenError(f"labels has {len(labels)} entries but folds has {folds.size}")
    y = np.array([UNKNOWN if v is None else str(v) for v in labels], dtype=object)
    classes = sorted(set(y.tolist()))
    return {
        int(k): {c: int(np.sum((folds == k) & (y == c))) for c in classes} for k in np.unique(folds)
    }
