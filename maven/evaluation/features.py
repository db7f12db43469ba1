"""A feature-based gradient-boosted baseline (Superphot+/avocado-style) for the fine-tuning harness.

Each light curve becomes a fixed-length vector of hand-made features (:data:`FEATURE_NAMES`),
and scikit-learn's :class:`~sklearn.ensemble.HistGradientBoostingClassifier` /
:class:`~sklearn.ensemble.HistGradientBoostingRegressor` learn from them. Undefined features are
NaN, which the histogram GBMs handle natively, so sparse light curves need no imputation.

Wavelength bins. Real data mixes many surveys (ZTF g/r/i, Bessell UBVRI, Swift UV, ATLAS c/o,
PS1, SDSS, CSP, 2MASS ...), so no feature refers to a named band: each point is put into one of
six fixed *observer-frame* bins by its band's effective wavelength
(:attr:`maven.data.bands.Band.wave_eff`, Angstrom):

=========  ==============  ========================================
bin        wave_eff (A)    typical members
=========  ==============  ========================================
``uv``     < 3800          Swift UVW2/UVM2/UVW1/U, Bessell U, u
``blue``   3800 - 5000     B, g (ZTF, PS1, SDSS, DES, CSP)
``green``  5000 - 6000     V, ATLAS c, Gaia BP
``red``    6000 - 7200     R, r, ATLAS o, Gaia G
``nir``    7200 - 10000    I, i, z, y
``ir``     >= 10000        Y, J, H, K
=========  ==============  ========================================

The edges fall in the gaps between the common broad bands, so e.g. g and B share a bin and r
and R share another whatever the survey. Points in bands the registry does not know are left
out of the per-bin features (they still count in the global ones).

Detections are points with ``detected`` true and ``flux / flux_err >= 3``. Times are
observer-frame days; magnitudes are AB (``23.9 - 2.5 log10(flux / uJy)``).

Per bin ``<b>`` (7 each):

* ``<b>_peak_mag``: magnitude of the brightest detection in the bin.
* ``<b>_peak_time``: its time minus the first detection in any band.
* ``<b>_rise_time``: its time minus the first detection in the bin.
* ``<b>_dm15``, ``<b>_dm30``: magnitude 15 / 30 days after the bin's peak minus the peak
  magnitude, linearly interpolated in magnitude between detections; NaN when the bin's
  detections do not reach that far.
* ``<b>_n_det``: number of detections in the bin.
* ``<b>_half_width``: time spent above half the bin's peak flux, crossings interpolated
  linearly; where the flux never drops below half on one side, the first / last detection
  bounds it (a lower limit, not NaN, so one-sided coverage still informs).

Global:

* ``duration`` (last minus first detection), ``n_bands`` (distinct band names detected),
  ``n_det``, ``peak_mag`` (brightest detection), ``rise_time`` (its time minus the first
  detection).
* ``colour_peak_<a>_<b>``: ``<a>_peak_mag - <b>_peak_mag`` for every pair of bins, ``<a>``
  bluer (all 15 pairs, not only adjacent ones: ZTF g - r is ``blue_red``, a gap apart).
* ``colour_at_peak_<a>_<b>``: the same colour at the time of the overall peak, each bin's
  magnitude interpolated linearly in time (NaN when that time is outside the bin's detections).
* ``max_snr``: the largest ``flux / flux_err`` of any point.
* ``frac_nondet_before``: fraction of the non-detections that precede the first detection.
* ``predetection_gap``: first detection minus the last non-detection before it.
* ``redshift`` and ``peak_abs_mag`` = ``peak_mag - Planck18.distmod(z)``: NaN without a
  (positive) redshift. No K-correction is applied, not even the ``-2.5 log10(1 + z)``
  bandwidth term, so this is a distance-corrected apparent magnitude rather than a rest-frame one.

82 features in all (6 x 7 per bin, 5 global, 2 x 15 colours, 5 more). The models drop columns
that are NaN for every training object (e.g. the UV bin of a ZTF-only set) and fit with one
OpenMP thread by default (``n_threads``).

Example:
    >>> clf = FeatureClassifier().fit(train_sne, [sn.type for sn in train_sne])  # doctest: +SKIP
    >>> clf.predict(test_sne)[:3]  # doctest: +SKIP
    ['Ia', 'II', 'Ia']
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

import numpy as np

from maven.data.cosmology import distance_modulus
from maven.data.photometry import flux_to_mag
from maven.data.records import LightCurve, Supernova
from maven.errors import MavenError, ValidationError

__all__ = [
    "WAVELENGTH_BINS",
    "WAVELENGTH_EDGES",
    "FEATURE_NAMES",
    "SNR_DETECT",
    "lightcurve_features",
    "feature_matrix",
    "FeatureClassifier",
    "FeatureRedshiftRegressor",
]

#: Observer-frame effective-wavelength bins (names) and their inner edges in Angstrom.
WAVELENGTH_BINS: tuple[str, ...] = ("uv", "blue", "green", "red", "nir", "ir")
WAVELENGTH_EDGES: tuple[float, ...] = (3800.0, 5000.0, 6000.0, 7200.0, 10000.0)
#: A point counts as a detection when ``detected`` and ``flux / flux_err >= SNR_DETECT``.
SNR_DETECT = 3.0

_PER_BIN = ("peak_mag", "peak_time", "rise_time", "dm15", "dm30", "n_det", "half_width")
_PAIRS = [(a, b) for i, a in enumerate(WAVELENGTH_BINS) for b in WAVELENGTH_BINS[i + 1 :]]

FEATURE_NAMES: list[str] = (
    [f"{b}_{f}" for b in WAVELENGTH_BINS for f in _PER_BIN]
    + ["duration", "n_bands", "n_det", "peak_mag", "rise_time"]
    + [f"colour_peak_{a}_{b}" for a, b in _PAIRS]
    + [f"colour_at_peak_{a}_{b}" for a, b in _PAIRS]
    + ["max_snr", "frac_nondet_before", "predetection_gap", "redshift", "peak_abs_mag"]
)
_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


@cache
def _bin_of_band(name: str) -> int:
    """Index into :data:`WAVELENGTH_BINS` of a band, or -1 when the band is unknown."""
    from maven.data.bands import get_band

    try:
        wave = get_band(name).wave_eff
    except MavenError:
        return -1
    return int(np.searchsorted(WAVELENGTH_EDGES, wave, side="right"))


def _merge_times(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique times with ``y`` averaged over points sharing a time."""
    tt, inv = np.unique(t, return_inverse=True)
    return tt, np.bincount(inv, weights=y) / np.bincount(inv)


def _interp(tt: np.ndarray, yy: np.ndarray, at: float) -> float:
    """Linear interpolation of ``yy(tt)`` (sorted, unique) at ``at``; NaN outside the data."""
    if tt.size == 0 or not tt[0] <= at <= tt[-1]:
        return math.nan
    return float(np.interp(at, tt, yy))


def _half_width(tt: np.ndarray, ff: np.ndarray) -> float:
    """Time above half the peak of ``ff(tt)``; unbracketed sides end at the data's edge."""
    k = int(np.argmax(ff))
    half = 0.5 * ff[k]

    def crossing(j: int, step: int) -> float:
        while 0 <= j + step < tt.size and ff[j + step] >= half:
            j += step
        if not 0 <= j + step < tt.size:
            return float(tt[j])
        t0, t1, f0, f1 = tt[j + step], tt[j], ff[j + step], ff[j]
        return float(t0 + (half - f0) / (f1 - f0) * (t1 - t0))

    return crossing(k, +1) - crossing(k, -1)


def lightcurve_features(lc: LightCurve, redshift: float | None = None) -> np.ndarray:
    """The feature vector of one light curve (see the module docstring and :data:`FEATURE_NAMES`).

    Args:
        lc: the photometry.
        redshift: the object's redshift, or ``None`` (``redshift`` and ``peak_abs_mag`` are NaN).

    Returns:
        float64 array of shape ``(len(FEATURE_NAMES),)``; NaN where a feature is undefined.
        Never raises on sparse light curves (one point, one band, no detections).
    """
    if not isinstance(lc, LightCurve):
        raise MavenError(f"expected a LightCurve, got {type(lc).__name__}")
    out = np.full(len(FEATURE_NAMES), np.nan)

    def put(name: str, value: float) -> None:
        out[_INDEX[name]] = value

    t, f, e = lc.time, lc.flux, lc.flux_err
    snr = f / e
    det = lc.detected & (snr >= SNR_DETECT)
    bins = np.array([_bin_of_band(b) for b in lc.band], dtype=int)

    put("max_snr", float(snr.max()))
    put("n_det", float(det.sum()))
    put("n_bands", float(len(set(lc.band[det].tolist()))))
    for name in WAVELENGTH_BINS:
        put(f"{name}_n_det", 0.0)
    if redshift is not None and math.isfinite(float(redshift)):
        put("redshift", float(redshift))

    if not det.any():
        return out

    t_first = float(t[det].min())
    put("duration", float(t[det].max()) - t_first)
    i_peak = int(np.flatnonzero(det)[np.argmax(f[det])])
    t_peak = float(t[i_peak])
    put("peak_mag", float(flux_to_mag(f[i_peak])))
    put("rise_time", t_peak - t_first)
    nondet = ~det
    if nondet.any():
        before = nondet & (t < t_first)
        put("frac_nondet_before", float(before.sum() / nondet.sum()))
        if before.any():
            put("predetection_gap", t_first - float(t[before].max()))

    mag_at_peak: dict[str, float] = {}
    for k, name in enumerate(WAVELENGTH_BINS):
        sel = det & (bins == k)
        mag_at_peak[name] = math.nan
        if not sel.any():
            continue
        tb, fb = t[sel], f[sel]
        j = int(np.argmax(fb))
        tp, mp = float(tb[j]), float(flux_to_mag(fb[j]))
        put(f"{name}_n_det", float(sel.sum()))
        put(f"{name}_peak_mag", mp)
        put(f"{name}_peak_time", tp - t_first)
        put(f"{name}_rise_time", tp - float(tb.min()))
        tt, mm = _merge_times(tb, flux_to_mag(fb))
        put(f"{name}_dm15", _interp(tt, mm, tp + 15.0) - mp)
        put(f"{name}_dm30", _interp(tt, mm, tp + 30.0) - mp)
        put(f"{name}_half_width", _half_width(*_merge_times(tb, fb)))
        mag_at_peak[name] = _interp(tt, mm, t_peak)

    for a, b in _PAIRS:
        put(f"colour_peak_{a}_{b}", out[_INDEX[f"{a}_peak_mag"]] - out[_INDEX[f"{b}_peak_mag"]])
        put(f"colour_at_peak_{a}_{b}", mag_at_peak[a] - mag_at_peak[b])

    z = out[_INDEX["redshift"]]
    if math.isfinite(z) and z > 0:
        put("peak_abs_mag", out[_INDEX["peak_mag"]] - float(distance_modulus(z)))
    return out


def feature_matrix(
    supernovae: Sequence[Supernova], use_redshift: bool = True, progress: bool = False
) -> np.ndarray:
    """Features of many supernovae, shape ``(N, len(FEATURE_NAMES))``.

    Args:
        supernovae: records; each needs a light curve.
        use_redshift: pass each record's ``redshift`` (else the redshift features are NaN).
        progress: show a tqdm progress bar.

    Raises:
        MavenError: an item is not a :class:`Supernova` or has no light curve.
    """
    items = list(supernovae)
    if progress:
        from tqdm.auto import tqdm

        items_iter = tqdm(items, desc="features", unit="SN")
    else:
        items_iter = items
    rows = []
    for i, sn in enumerate(items_iter):
        if not isinstance(sn, Supernova):
            raise MavenError(f"item {i} is a {type(sn).__name__}, not a Supernova")
        if sn.lightcurve is None:
            raise ValidationError(
                f"supernova {sn.id!r} (item {i}) has no light curve; "
                "the feature baseline needs photometry"
            )
        rows.append(lightcurve_features(sn.lightcurve, sn.redshift if use_redshift else None))
    if not rows:
        return np.empty((0, len(FEATURE_NAMES)))
    return np.vstack(rows)


def _check_matrix(X: Any, what: str) -> np.ndarray:
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MavenError(f"{what}: feature matrix is not numeric: {exc}") from None
    if X.ndim != 2 or X.shape[1] != len(FEATURE_NAMES):
        raise MavenError(
            f"{what}: feature matrix must have shape (N, {len(FEATURE_NAMES)}), got {X.shape}"
        )
    if X.shape[0] == 0:
        raise MavenError(f"{what}: no objects (empty feature matrix)")
    if np.isinf(X).any():
        raise MavenError(f"{what}: feature matrix holds infinite values (use NaN for missing)")
    return X


@contextmanager
def _threads(n_threads: int | None) -> Iterator[None]:
    """Cap OpenMP threads of scikit-learn's boosting (``None``: leave its default)."""
    if n_threads is None:
        yield
        return
    import sklearn.ensemble  # noqa: F401  (load its OpenMP runtime so the limit applies)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(n_threads), user_api="openmp"):
        yield


def _usable_columns(X: np.ndarray, what: str) -> np.ndarray:
    """Columns with at least one finite value (scikit-learn's binning fails on all-NaN ones)."""
    cols = np.flatnonzero(np.isfinite(X).any(axis=0))
    if cols.size == 0:
        raise MavenError(f"{what}: every feature is NaN (no detections in any light curve?)")
    return cols


def _check_length(n_objects: int, n_targets: int, what: str) -> None:
    if n_objects == 0:
        raise MavenError(f"{what}: no objects")
    if n_objects != n_targets:
        raise MavenError(f"{what}: {n_objects} objects but {n_targets} targets")


class FeatureClassifier:
    """Gradient-boosted trees on :func:`lightcurve_features`: the feature baseline classifier.

    Args:
        use_redshift: include the redshift and absolute-magnitude features.
        random_state: seed of the boosting model.
        n_threads: OpenMP threads for fitting and prediction (``None``: scikit-learn's default,
            all cores). The default 1 is as fast on baseline-sized tables (thousands of rows)
            and avoids a many-fold slowdown from spin-waiting threads when the cores are busy
            (e.g. with a training job).
        **hgb_kwargs: override the :class:`~sklearn.ensemble.HistGradientBoostingClassifier`
            defaults (``max_iter=300, learning_rate=0.05, early_stopping=False,
            class_weight="balanced"``).

    Attributes:
        classes_: class names after fitting, sorted; columns of :meth:`predict_proba`.
    """

    def __init__(
        self,
        use_redshift: bool = True,
        random_state: int = 0,
        n_threads: int | None = 1,
        **hgb_kwargs: Any,
    ):
        self.use_redshift = use_redshift
        self.random_state = random_state
        self.n_threads = n_threads
        self.hgb_kwargs = hgb_kwargs
        self.classes_: list[str] = []
        self.columns_ = np.arange(len(FEATURE_NAMES))
        self.model_ = None

    def features(self, supernovae: Sequence[Supernova], progress: bool = False) -> np.ndarray:
        """The feature matrix this model uses (cache it and call the ``*_features`` methods)."""
        return feature_matrix(supernovae, use_redshift=self.use_redshift, progress=progress)

    def fit(
        self, supernovae: Sequence[Supernova], labels: Sequence[str], progress: bool = False
    ) -> FeatureClassifier:
        """Fit on records and their class labels."""
        supernovae, labels = list(supernovae), list(labels)
        _check_length(len(supernovae), len(labels), "FeatureClassifier.fit")
        return self.fit_features(self.features(supernovae, progress), labels)

    def fit_features(self, X: Any, labels: Sequence[str]) -> FeatureClassifier:
        """Fit on a precomputed feature matrix (from :meth:`features`)."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        labels = list(labels)
        X = _check_matrix(X, "FeatureClassifier.fit")
        _check_length(X.shape[0], len(labels), "FeatureClassifier.fit")
        for i, lab in enumerate(labels):
            if not isinstance(lab, str) or not lab:
                raise ValidationError(
                    f"FeatureClassifier.fit: label {i} is {lab!r}; labels must be non-empty strings"
                )
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise MavenError(f"FeatureClassifier.fit: need at least 2 classes, got {classes}")
        params = {
            "max_iter": 300,
            "learning_rate": 0.05,
            "early_stopping": False,
            "class_weight": "balanced",
            "random_state": self.random_state,
            **self.hgb_kwargs,
        }
        self.columns_ = _usable_columns(X, "FeatureClassifier.fit")
        model = HistGradientBoostingClassifier(**params)
        with _threads(self.n_threads):
            self.model_ = model.fit(X[:, self.columns_], np.asarray(labels))
        self.classes_ = [str(c) for c in self.model_.classes_]
        return self

    def _fitted(self):
        if self.model_ is None:
            raise MavenError("FeatureClassifier is not fitted; call fit() first")
        return self.model_

    def predict_proba(self, supernovae: Sequence[Supernova], progress: bool = False) -> np.ndarray:
        """Class probabilities, shape ``(N, len(classes_))``."""
        self._fitted()
        return self.predict_proba_features(self.features(supernovae, progress))

    def predict_proba_features(self, X: Any) -> np.ndarray:
        """Class probabilities from a precomputed feature matrix."""
        model = self._fitted()
        X = _check_matrix(X, "FeatureClassifier.predict")
        with _threads(self.n_threads):
            return model.predict_proba(X[:, self.columns_])

    def predict(self, supernovae: Sequence[Supernova], progress: bool = False) -> list[str]:
        """The most probable class of each record."""
        return self._argmax(self.predict_proba(supernovae, progress))

    def predict_features(self, X: Any) -> list[str]:
        """The most probable class from a precomputed feature matrix."""
        return self._argmax(self.predict_proba_features(X))

    def _argmax(self, proba: np.ndarray) -> list[str]:
        return [self.classes_[i] for i in np.argmax(proba, axis=1)]


class FeatureRedshiftRegressor:
    """Gradient-boosted trees predicting ``log1p(z)`` from photometry features (no redshift).

    Args:
        random_state: seed of the boosting model.
        n_threads: OpenMP threads, as for :class:`FeatureClassifier`.
        **hgb_kwargs: override the :class:`~sklearn.ensemble.HistGradientBoostingRegressor`
            defaults (``max_iter=300, learning_rate=0.05, early_stopping=False``).
    """

    use_redshift = False

    def __init__(self, random_state: int = 0, n_threads: int | None = 1, **hgb_kwargs: Any):
        self.random_state = random_state
        self.n_threads = n_threads
        self.hgb_kwargs = hgb_kwargs
        self.columns_ = np.arange(len(FEATURE_NAMES))
        self.model_ = None

    def features(self, supernovae: Sequence[Supernova], progress: bool = False) -> np.ndarray:
        """The feature matrix this model uses (redshift features are NaN)."""
        return feature_matrix(supernovae, use_redshift=False, progress=progress)

    def fit(
        self, supernovae: Sequence[Supernova], z: Sequence[float], progress: bool = False
    ) -> FeatureRedshiftRegressor:
        """Fit on records and their true redshifts."""
        supernovae = list(supernovae)
        z = np.asarray(z, dtype=object).reshape(-1)
        _check_length(len(supernovae), z.size, "FeatureRedshiftRegressor.fit")
        return self.fit_features(self.features(supernovae, progress), z)

    def fit_features(self, X: Any, z: Sequence[float]) -> FeatureRedshiftRegressor:
        """Fit on a precomputed feature matrix (from :meth:`features`)."""
        from sklearn.ensemble import HistGradientBoostingRegressor

        X = _check_matrix(X, "FeatureRedshiftRegressor.fit")
        try:
            z = np.asarray(z, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise MavenError(
                f"FeatureRedshiftRegressor.fit: redshifts are not numbers: {exc}"
            ) from None
        _check_length(X.shape[0], z.size, "FeatureRedshiftRegressor.fit")
        bad = ~np.isfinite(z) | (z <= -1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                f"FeatureRedshiftRegressor.fit: redshift {i} is {z[i]!r}; need finite z > -1"
            )
        params = {
            "max_iter": 300,
            "learning_rate": 0.05,
            "early_stopping": False,
            "random_state": self.random_state,
            **self.hgb_kwargs,
        }
        self.columns_ = _usable_columns(X, "FeatureRedshiftRegressor.fit")
        model = HistGradientBoostingRegressor(**params)
        with _threads(self.n_threads):
            self.model_ = model.fit(X[:, self.columns_], np.log1p(z))
        return self

    def predict(self, supernovae: Sequence[Supernova], progress: bool = False) -> np.ndarray:
        """Predicted redshifts, shape ``(N,)``."""
        if self.model_ is None:
            raise MavenError("FeatureRedshiftRegressor is not fitted; call fit() first")
        return self.predict_features(self.features(supernovae, progress))

    def predict_features(self, X: Any) -> np.ndarray:
        """Predicted redshifts from a precomputed feature matrix."""
        if self.model_ is None:
            raise MavenError("FeatureRedshiftRegressor is not fitted; call fit() first")
        X = _check_matrix(X, "FeatureRedshiftRegressor.predict")
        with _threads(self.n_threads):
            return np.expm1(self.model_.predict(X[:, self.columns_]))
