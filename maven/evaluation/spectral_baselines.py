"""Spectral baselines a referee asks for, run by ``maven crossval`` on the same folds as maven.

* :class:`SpectrumLinearClassifier`: logistic regression (class-balanced, the strength
  chosen by an inner cross-validation) on the processor's own spectrum grid: the
  asinh-normalised flux beside the continuum-divided flux.
* :class:`SpectrumCorrelationClassifier`: the classes of the ``k`` training spectra whose
  continuum-divided flux correlates best with the object's (Pearson over the bins both
  cover), votes weighted by the correlation.
* :class:`CrossCorrelationRedshift`: an SNID-style redshift. Observed spectra are put on a
  fine log-wavelength grid, divided by their continuum (medians in coarse bins), apodised and
  cross-correlated (FFT) with every training spectrum brought to its rest frame; the
  redshift is the median over the best-correlating templates of their peak lags.

The classifiers read spectra through a :class:`~maven.models.MavenProcessor` (so a rest-frame
recipe's baseline sees rest-frame spectra and drops the same objects); the redshift never
uses the object's own redshift.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from maven.errors import ConfigError, MavenError
from maven.models.template_redshift import (
    MIN_OVERLAP_BINS,
    TemplateBank,
    continuum_divided,
    largest_spectrum,
)

__all__ = [
    "CrossCorrelationRedshift",
    "SpectrumCorrelationClassifier",
    "SpectrumLinearClassifier",
    "continuum_divided",
    "processor_spectra",
]

#: bins of the processor grid per coarse continuum bin (~6% in wavelength at 512 bins)
CONTINUUM_BINS = 24


def processor_spectra(processor, supernovae: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """(linear flux normalised to its median (N, bins), mask (N, bins)) of the spectrum the
    processor picks for each record; rows without a usable spectrum are all-masked."""
    flux, mask = [], []
    for i in range(0, len(supernovae), 256):
        batch = processor(list(supernovae[i : i + 256]), return_tensors="np")
        flux.append(np.sinh(batch["spectrum_values"][:, :, 0].astype(np.float64)))
        mask.append(batch["spectrum_mask"] & batch["has_spectrum"][:, None])
    return np.concatenate(flux), np.concatenate(mask)


def _check_fit(supernovae: Sequence, targets: Sequence, what: str) -> None:
    if len(supernovae) != len(targets):
        raise MavenError(f"{what}: {len(supernovae)} records but {len(targets)} targets")
    if len(supernovae) < 2:
        raise MavenError(f"{what} needs at least 2 training records")


class _ProcessorSpectra:
    """Shared by the classifiers: the processor's spectra and their continuum division."""

    def __init__(self, processor) -> None:
        self.processor = processor

    def _spectra(self, supernovae: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        flux, mask = processor_spectra(self.processor, supernovae)
        if not mask.any(axis=1).all():
            bad = int((~mask.any(axis=1)).sum())
            raise MavenError(f"{bad} records have no usable spectrum for this processor")
        return flux, continuum_divided(flux, mask, CONTINUUM_BINS), mask

    def _labels(self, supernovae: Sequence, labels: Sequence[str]) -> np.ndarray:
        _check_fit(supernovae, labels, type(self).__name__)
        self.classes_ = np.array(sorted({str(c) for c in labels}))
        if self.classes_.size < 2:
            raise MavenError("a classifier needs at least 2 classes in its training labels")
        return np.searchsorted(self.classes_, np.asarray(labels, dtype=str))

    def predict(self, supernovae: Sequence) -> list[str]:
        """The most probable class of each record."""
        return [str(c) for c in self.classes_[self.predict_proba(supernovae).argmax(axis=1)]]


class SpectrumLinearClassifier(_ProcessorSpectra):
    """Class-balanced logistic regression on [asinh flux, continuum-divided flux] of the
    processor grid (masked bins 0), standardised; ``C`` chosen by a 3-fold inner CV."""

    def __init__(self, processor, Cs: Sequence[float] = (0.003, 0.03, 0.3), seed: int = 0):
        super().__init__(processor)
        self.Cs = list(Cs)
        self.seed = seed

    def _features(self, supernovae: Sequence) -> np.ndarray:
        flux, flat, mask = self._spectra(supernovae)
        return np.concatenate([np.where(mask, np.arcsinh(flux), 0.0), flat], axis=1)

    def fit(self, supernovae: Sequence, labels: Sequence[str]) -> SpectrumLinearClassifier:
        """Fit the scaler and logistic regression, choosing ``C`` by inner CV; returns ``self``."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GridSearchCV, StratifiedKFold
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        y = self._labels(supernovae, labels)
        folds = max(2, min(3, int(np.bincount(y).min())))
        pipeline = make_pipeline(
            StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=500)
        )
        self.model_ = GridSearchCV(
            pipeline,
            {"logisticregression__C": self.Cs},
            scoring="f1_macro",
            cv=StratifiedKFold(folds, shuffle=True, random_state=self.seed),
        )
        self.model_.fit(self._features(supernovae), y)
        return self

    def predict_proba(self, supernovae: Sequence) -> np.ndarray:
        """(N, K) probabilities, columns in ``classes_`` order."""
        return self.model_.predict_proba(self._features(supernovae))


def _normalised_rows(flat: np.ndarray, mask: np.ndarray) -> np.ndarray:
    x = np.where(mask, flat, 0.0)
    n = mask.sum(axis=1, keepdims=True).clip(min=1)
    x = np.where(mask, x - x.sum(axis=1, keepdims=True) / n, 0.0)
    return x


class SpectrumCorrelationClassifier(_ProcessorSpectra):
    """k nearest training spectra by Pearson correlation of the continuum-divided flux over
    the bins both cover (at least :data:`MIN_OVERLAP_BINS`); votes weighted by it."""

    def __init__(self, processor, k: int = 10):
        super().__init__(processor)
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        self.k = k

    def fit(self, supernovae: Sequence, labels: Sequence[str]) -> SpectrumCorrelationClassifier:
        """Store the training spectra (normalised rows, masks) and labels; returns ``self``."""
        self.y_ = self._labels(supernovae, labels)
        _, flat, mask = self._spectra(supernovae)
        self.x_, self.m_ = _normalised_rows(flat, mask), mask.astype(np.float64)
        return self

    def correlations(self, supernovae: Sequence) -> np.ndarray:
        """(N test, N train) Pearson correlations over shared bins (-1 if too few)."""
        _, flat, mask = self._spectra(supernovae)
        x, m = _normalised_rows(flat, mask), mask.astype(np.float64)
        num = x @ self.x_.T
        e_test = (x**2) @ self.m_.T
        e_train = m @ (self.x_**2).T
        overlap = m @ self.m_.T
        r = num / np.sqrt(np.clip(e_test * e_train, 1e-30, None))
        return np.where(overlap >= MIN_OVERLAP_BINS, r, -1.0)

    def predict_proba(self, supernovae: Sequence) -> np.ndarray:
        """(N, K) normalised correlation-weighted votes of the ``k`` nearest."""
        r = self.correlations(supernovae)
        k = min(self.k, r.shape[1])
        top = np.argpartition(-r, k - 1, axis=1)[:, :k]
        votes = np.zeros((r.shape[0], self.classes_.size))
        for i in range(r.shape[0]):
            w = np.clip(r[i, top[i]], 0.0, None) + 1e-6
            np.add.at(votes[i], self.y_[top[i]], w)
        return votes / votes.sum(axis=1, keepdims=True)


class CrossCorrelationRedshift:
    """SNID-style redshift from a spectrum against a bank of spectra of known redshift: every
    training record's largest spectrum is a rest-frame template of a
    :class:`~maven.models.template_redshift.TemplateBank`, searched over the whole range.

    Args:
        wave_min, wave_max, n_bins: the log-wavelength grid (Angstrom; observed and rest
            spectra share it).
        z_min, z_max: the redshifts searched.
        n_best: the redshift is the median of the peak redshifts of this many templates
            with the best score (:mod:`maven.models.template_redshift`).
    """

    def __init__(
        self,
        wave_min: float = 2500.0,
        wave_max: float = 11000.0,
        n_bins: int = 1024,
        z_min: float = -0.005,
        z_max: float = 1.0,
        n_best: int = 5,
    ) -> None:
        if not 0 < wave_min < wave_max or n_bins < 128 or not -0.1 < z_min < z_max:
            raise ConfigError("need 0 < wave_min < wave_max, n_bins >= 128, -0.1 < z_min < z_max")
        self.grid, self.z_range, self.n_best = (wave_min, wave_max, n_bins), (z_min, z_max), n_best

    def fit(self, supernovae: Sequence, redshifts: Sequence[float]) -> CrossCorrelationRedshift:
        """The template bank: each record's (largest) spectrum brought to its rest frame."""
        _check_fit(supernovae, redshifts, type(self).__name__)
        self.bank_ = TemplateBank.from_supernovae(
            supernovae, redshifts, self.grid, z_range=self.z_range, n_best=self.n_best
        )
        return self

    def predict(self, supernovae: Sequence) -> np.ndarray:
        """Redshift of each record (NaN where its spectrum misses the grid)."""
        if not hasattr(self, "bank_"):
            raise MavenError("CrossCorrelationRedshift is not fitted")
        return np.array([self.bank_.estimate(largest_spectrum(sn)).z for sn in supernovae])
