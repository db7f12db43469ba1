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
from scipy import fft as sp_fft

from maven.errors import ConfigError, MavenError, ValidationError

__all__ = [
    "CrossCorrelationRedshift",
    "SpectrumCorrelationClassifier",
    "SpectrumLinearClassifier",
    "continuum_divided",
    "processor_spectra",
]

#: bins of the processor grid per coarse continuum bin (~6% in wavelength at 512 bins)
CONTINUUM_BINS = 24
#: the fewest bins two spectra must share for a correlation
MIN_OVERLAP_BINS = 64


def continuum_divided(flux: np.ndarray, mask: np.ndarray, width: int) -> np.ndarray:
    """``flux / continuum - 1`` on the valid bins (0 elsewhere), rows of ``flux`` (N, M).

    The continuum is the median of the valid flux in consecutive blocks of ``width`` bins,
    linearly interpolated between block centres; the result is clipped to [-1, 3].
    """
    out = np.zeros_like(flux, dtype=np.float64)
    for i in range(flux.shape[0]):
        idx = np.flatnonzero(mask[i])
        if idx.size < 2:
            continue
        f = flux[i, idx].astype(np.float64)
        centres, medians = [], []
        for start in range(0, idx.size, width):
            block = slice(start, min(start + width, idx.size))
            centres.append(float(np.mean(idx[block])))
            medians.append(float(np.median(f[block])))
        cont = np.interp(idx, centres, medians)
        good = np.abs(cont) > 1e-6 * max(float(np.max(np.abs(f))), 1e-30)
        ratio = np.where(good, f / np.where(good, cont, 1.0) - 1.0, 0.0)
        out[i, idx] = np.clip(ratio, -1.0, 3.0)
    return out


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
    """SNID-style redshift from a spectrum against a bank of spectra of known redshift.

    Args:
        wave_min, wave_max, n_bins: the log-wavelength grid (Angstrom; observed and rest
            spectra share it).
        z_min, z_max: the redshifts searched.
        n_best: the redshift is the median of the peak redshifts of this many templates
            with the best score, ``r * overlap / n``: the normalised correlation times the
            share of the object's spectrum the template overlaps at that lag (SNID's
            ``rlap`` in spirit: a short overlap cannot win by a chance correlation).
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
        if not 0 < wave_min < wave_max or n_bins < 64 or not -0.1 < z_min < z_max:
            raise ConfigError("need 0 < wave_min < wave_max, n_bins >= 64, -0.1 < z_min < z_max")
        self.log_wave = np.linspace(np.log10(wave_min), np.log10(wave_max), n_bins)
        self.dlog = float(self.log_wave[1] - self.log_wave[0])
        self.z_min, self.z_max, self.n_best = z_min, z_max, n_best

    def _grid(self, spectrum, z: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """(apodised continuum-divided flux, mask) on the grid; the spectrum is shifted to
        the rest frame of ``z``."""
        lw = np.log10(spectrum.wavelength) - np.log10(1.0 + z)
        inside = (self.log_wave >= lw[0]) & (self.log_wave <= lw[-1])
        flux = np.zeros(self.log_wave.size)
        if inside.sum() < MIN_OVERLAP_BINS:
            return flux, inside
        flux[inside] = np.interp(self.log_wave[inside], lw, spectrum.flux)
        width = max(8, int(round(0.03 / self.dlog)))  # continuum blocks of ~7% in wavelength
        flat = continuum_divided(flux[None], inside[None], width)[0]
        idx = np.flatnonzero(inside)
        taper = max(1, idx.size // 20)
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(taper) / taper)
        flat[idx[:taper]] *= ramp
        flat[idx[-taper:]] *= ramp[::-1]
        flat[inside] -= flat[inside].mean()
        return np.where(inside, flat, 0.0), inside

    @staticmethod
    def _spectrum(sn):
        if not sn.spectra:
            raise ValidationError(f"{sn.id}: no spectrum for the cross-correlation redshift")
        return max(sn.spectra, key=lambda s: s.wavelength.size)

    def fit(self, supernovae: Sequence, redshifts: Sequence[float]) -> CrossCorrelationRedshift:
        """The template bank: each record's (largest) spectrum brought to its rest frame."""
        _check_fit(supernovae, redshifts, type(self).__name__)
        rows = [
            self._grid(self._spectrum(sn), float(z))
            for sn, z in zip(supernovae, redshifts, strict=True)
        ]
        keep = [i for i, (_, m) in enumerate(rows) if m.sum() >= MIN_OVERLAP_BINS]
        if len(keep) < 2:
            raise MavenError("fewer than 2 templates overlap the cross-correlation grid")
        n_fft = 2 * self.log_wave.size
        t = np.stack([rows[i][0] for i in keep])
        m = np.stack([rows[i][1] for i in keep]).astype(np.float64)
        self.z_ = np.asarray(redshifts, dtype=np.float64)[keep]
        self._ft = sp_fft.rfft(t.astype(np.float32), n_fft)
        self._ft2 = sp_fft.rfft((t**2).astype(np.float32), n_fft)
        self._fm = sp_fft.rfft(m.astype(np.float32), n_fft)
        lo = int(np.floor(np.log10(1 + self.z_min) / self.dlog))
        hi = int(np.ceil(np.log10(1 + self.z_max) / self.dlog))
        self._lags = np.arange(lo, hi + 1)
        return self

    def _one(self, sn) -> float:
        s, ms = self._grid(self._spectrum(sn))
        if ms.sum() < MIN_OVERLAP_BINS:
            return float("nan")
        n_fft = 2 * self.log_wave.size
        fs = sp_fft.rfft(s.astype(np.float32), n_fft)
        fs2 = sp_fft.rfft((s**2).astype(np.float32), n_fft)
        fms = sp_fft.rfft(ms.astype(np.float32), n_fft)
        lags = self._lags % n_fft  # c(d) = sum_x s(x) t(x - d): observed = rest shifted by d

        def corr(a, b):
            return sp_fft.irfft(a[None, :] * np.conj(b), n_fft)[:, lags]

        num = corr(fs, self._ft)
        energy = corr(fs2, self._fm) * corr(fms, self._ft2)
        overlap = corr(fms, self._fm)
        r = num / np.sqrt(np.clip(energy, 1e-30, None))
        r = np.where(overlap >= MIN_OVERLAP_BINS - 0.5, r * overlap / ms.sum(), -1.0)
        best = r.argmax(axis=1)
        peak = r[np.arange(r.shape[0]), best]
        # sub-bin peak by a parabola through the three lags around it
        inner = (best > 0) & (best < r.shape[1] - 1)
        b = np.where(inner, best, 1)
        rows = np.arange(r.shape[0])
        y0, y1, y2 = r[rows, b - 1], r[rows, b], r[rows, b + 1]
        den = y0 - 2 * y1 + y2
        shift = np.where(inner & (den < 0), 0.5 * (y0 - y2) / np.where(den < 0, den, -1.0), 0.0)
        # templates are in their rest frame: the lag alone is log10(1 + z)
        z_hat = 10 ** ((self._lags[best] + shift) * self.dlog) - 1.0
        order = np.argsort(-peak)[: self.n_best]
        return float(np.median(z_hat[order]))

    def predict(self, supernovae: Sequence) -> np.ndarray:
        """Redshift of each record (NaN where its spectrum misses the grid)."""
        if not hasattr(self, "_ft"):
            raise MavenError("CrossCorrelationRedshift is not fitted")
        return np.array([self._one(sn) for sn in supernovae])
