"""Redshift from a spectrum by cross-correlation with rest-frame templates (SNID-style).

A redshift is a shift in log-wavelength, so a spectrum put on a log-wavelength grid and
divided by its continuum correlates with a rest-frame template at the lag ``log10(1 + z)``.
:class:`TemplateBank` holds templates on one grid and scores every template at every lag by
``r * overlap / n`` (the normalised correlation times the share of the object's spectrum the
template overlaps at that lag: SNID's ``rlap`` in spirit, so that a short overlap cannot win
by a chance correlation); the redshift is the median of the peak lags of the ``n_best``
best-scoring templates.

Two uses:

* the ``xcorr`` baseline of ``maven crossval`` (:mod:`maven.evaluation.spectral_baselines`):
  every training spectrum is a template, the whole redshift range is searched;
* the redshift head (:class:`~maven.models.MavenForRedshift`): a bank of *averaged*
  templates (:meth:`TemplateBank.averaged`: masked spherical k-means of the training
  spectra, each template the mean of at least ``min_members`` of them, so no object's
  spectrum is stored) sits in the weights, and :func:`refine_redshifts` searches only the
  window ``z0 +- window_sigma * sigma0`` around the network's estimate: the network rules out
  the far-away peaks that make cross-correlation outliers, the templates give the line
  positions the network cannot resolve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import fft as sp_fft

from maven.errors import ConfigError, MavenError, ValidationError

__all__ = ["TemplateBank", "continuum_divided", "refine_redshifts"]

#: the fewest grid bins a spectrum and a template must share for a correlation
MIN_OVERLAP_BINS = 64
#: the log-wavelength grid (Angstrom) and redshift range of a bank unless told otherwise
DEFAULT_GRID = (2500.0, 11000.0, 1024)
DEFAULT_Z_RANGE = (-0.005, 1.0)
#: the fewest spectra an averaged template is the mean of (:meth:`TemplateBank.averaged`)
MIN_MEMBERS = 5
#: smallest template-based uncertainty in ``dz / (1 + z)`` before calibration
MIN_SPREAD = 1e-4


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


def largest_spectrum(sn):
    """The record's spectrum with the most points (the one cross-correlation reads)."""
    if not sn.spectra:
        raise ValidationError(f"{sn.id}: no spectrum for a cross-correlation redshift")
    return max(sn.spectra, key=lambda s: s.wavelength.size)


@dataclass
class TemplateEstimate:
    """One spectrum's template redshift: ``z`` (NaN without an overlap), ``score`` (median
    ``rlap``-like score of the best templates) and ``spread`` (their robust scatter in
    ``dz / (1 + z)``, at least :data:`MIN_SPREAD`)."""

    z: float
    score: float
    spread: float


class TemplateBank:
    """Rest-frame templates on a log-wavelength grid (module docstring).

    Args:
        flux: (T, n_bins) continuum-divided, mean-subtracted template flux (0 off coverage).
        mask: (T, n_bins) bool coverage.
        grid: ``(wave_min, wave_max, n_bins)`` in Angstrom.
        z_range: the redshifts searched.
        n_best: templates whose peaks are combined.
    """

    def __init__(
        self,
        flux: np.ndarray,
        mask: np.ndarray,
        grid: Sequence[float] = DEFAULT_GRID,
        z_range: Sequence[float] = DEFAULT_Z_RANGE,
        n_best: int = 5,
    ) -> None:
        self.log_wave, self.dlog = _grid(grid)
        self.grid = (float(grid[0]), float(grid[1]), int(grid[2]))
        if not -0.1 < z_range[0] < z_range[1]:
            raise ConfigError(f"need -0.1 < z_min < z_max, got {tuple(z_range)}")
        flux, mask = np.asarray(flux, np.float32), np.asarray(mask, bool)
        if flux.ndim != 2 or flux.shape != mask.shape or flux.shape[1] != self.log_wave.size:
            raise ConfigError(
                f"templates must be (T, {self.log_wave.size}) flux and mask, got "
                f"{flux.shape} and {mask.shape}"
            )
        if len(flux) < 1 or not np.isfinite(flux).all():
            raise ConfigError("a template bank needs at least one finite template")
        if isinstance(n_best, bool) or not isinstance(n_best, int) or n_best < 1:
            raise ConfigError(f"n_best must be an integer >= 1, got {n_best!r}")
        self.flux, self.mask, self.n_best = flux, mask, n_best
        self.z_range = (float(z_range[0]), float(z_range[1]))
        n_fft = 2 * self.log_wave.size
        self._ft = sp_fft.rfft(flux, n_fft)
        self._ft2 = sp_fft.rfft(flux**2, n_fft)
        self._fm = sp_fft.rfft(mask.astype(np.float32), n_fft)
        lo = int(np.floor(np.log10(1 + self.z_range[0]) / self.dlog))
        hi = int(np.ceil(np.log10(1 + self.z_range[1]) / self.dlog))
        self.lags = np.arange(lo, hi + 1)
        self.lag_z = 10 ** (self.lags * self.dlog) - 1.0

    def __len__(self) -> int:
        return len(self.flux)

    # ------------------------------------------------------------------ building

    @classmethod
    def from_supernovae(
        cls,
        supernovae: Sequence,
        redshifts: Sequence[float],
        grid: Sequence[float] = DEFAULT_GRID,
        **kwargs,
    ) -> TemplateBank:
        """Every record's largest spectrum brought to the rest frame of its redshift.

        Raises:
            MavenError: mismatched lengths, or fewer than 2 spectra overlap the grid.
        """
        if len(supernovae) != len(redshifts):
            raise MavenError(f"{len(supernovae)} records but {len(redshifts)} redshifts")
        log_wave, dlog = _grid(grid)
        rows = [
            flatten(largest_spectrum(sn), log_wave, dlog, float(z))
            for sn, z in zip(supernovae, redshifts, strict=True)
        ]
        keep = [r for r in rows if r[1].sum() >= MIN_OVERLAP_BINS]
        if len(keep) < 2:
            raise MavenError("fewer than 2 spectra overlap the cross-correlation grid")
        return cls(np.stack([r[0] for r in keep]), np.stack([r[1] for r in keep]), grid, **kwargs)

    def averaged(
        self, k: int, min_members: int = MIN_MEMBERS, iterations: int = 15, seed: int = 0
    ) -> TemplateBank:
        """A bank of at most ``k`` averaged templates: masked spherical k-means of this
        bank's templates (similarity: the correlation over the bins both cover); each kept
        template is the mean of its members on the bins at least ``min_members`` of them
        cover, and clusters with fewer members are dropped.

        Raises:
            ConfigError: bad ``k`` / ``min_members``; MavenError: no cluster is kept.
        """
        for name, v in (("k", k), ("min_members", min_members), ("iterations", iterations)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        x = self.flux / np.sqrt((self.flux.astype(np.float64) ** 2).sum(1, keepdims=True) + 1e-12)
        m = self.mask.astype(np.float64)
        pick = np.random.default_rng(seed).choice(len(x), min(k, len(x)), replace=False)
        centres, cover = x[pick].astype(np.float64), self.mask[pick].copy()
        assign = np.zeros(len(x), int)
        for _ in range(iterations):
            cf = cover.astype(np.float64)
            num = x @ centres.T
            energy = ((x**2) @ cf.T) * (m @ (centres**2).T)
            r = np.where(m @ cf.T >= MIN_OVERLAP_BINS, num / np.sqrt(np.maximum(energy, 1e-12)), -2)
            assign = r.argmax(axis=1)
            for j in range(len(centres)):
                members = assign == j
                if not members.any():
                    continue
                count = self.mask[members].sum(axis=0)
                cover[j] = count >= min_members
                centres[j] = np.where(cover[j], x[members].sum(axis=0) / np.maximum(count, 1), 0)
        sizes = np.bincount(assign, minlength=len(centres))
        keep = (sizes >= min_members) & (cover.sum(axis=1) >= MIN_OVERLAP_BINS)
        if not keep.any():
            raise MavenError(f"no cluster of >= {min_members} templates: give more spectra")
        centres, cover = centres[keep], cover[keep]
        mean = (centres * cover).sum(axis=1, keepdims=True) / cover.sum(axis=1, keepdims=True)
        centres = np.where(cover, centres - mean, 0.0)
        return TemplateBank(centres, cover, self.grid, self.z_range, self.n_best)

    # ------------------------------------------------------------------ searching

    def scores(self, spectrum) -> np.ndarray | None:
        """(T, lags) scores of an observed spectrum against every template at every lag of
        :attr:`lag_z` (-1 where they overlap too little); None off the grid."""
        s, ms = flatten(spectrum, self.log_wave, self.dlog)
        if ms.sum() < MIN_OVERLAP_BINS:
            return None
        n_fft = 2 * self.log_wave.size
        fs = sp_fft.rfft(s.astype(np.float32), n_fft)
        fs2 = sp_fft.rfft((s**2).astype(np.float32), n_fft)
        fms = sp_fft.rfft(ms.astype(np.float32), n_fft)
        lags = self.lags % n_fft  # c(d) = sum_x s(x) t(x - d): observed = rest shifted by d

        def corr(a, b):
            return sp_fft.irfft(a[None, :] * np.conj(b), n_fft)[:, lags]

        num = corr(fs, self._ft)
        energy = corr(fs2, self._fm) * corr(fms, self._ft2)
        overlap = corr(fms, self._fm)
        r = num / np.sqrt(np.clip(energy, 1e-30, None))
        return np.where(overlap >= MIN_OVERLAP_BINS - 0.5, r * overlap / ms.sum(), -1.0)

    def estimate(self, spectrum, z_lo: float = -np.inf, z_hi: float = np.inf) -> TemplateEstimate:
        """The template redshift of ``spectrum``, searched in ``[z_lo, z_hi]`` (module
        docstring); ``z`` is NaN when the spectrum misses the grid or the window holds fewer
        than 3 lags."""
        r = self.scores(spectrum)
        inside = (self.lag_z >= z_lo) & (self.lag_z <= z_hi)
        if r is None or inside.sum() < 3:
            return TemplateEstimate(float("nan"), float("nan"), float("nan"))
        r = np.where(inside[None, :], r, -2.0)
        best = r.argmax(axis=1)
        rows = np.arange(len(r))
        peak = r[rows, best]
        # sub-bin peak by a parabola through the three lags around it
        inner = (best > 0) & (best < r.shape[1] - 1)
        b = np.where(inner, best, 1)
        y0, y1, y2 = r[rows, b - 1], r[rows, b], r[rows, b + 1]
        den = y0 - 2 * y1 + y2
        ok = inner & (den < 0) & (y0 > -2) & (y2 > -2)
        shift = np.where(ok, 0.5 * (y0 - y2) / np.where(den < 0, den, -1.0), 0.0)
        log1z = (self.lags[best] + shift) * self.dlog  # templates are at rest: lag = log(1+z)
        order = np.argsort(-peak)[: self.n_best]
        centre = float(np.median(log1z[order]))
        spread = 1.4826 * float(np.median(np.abs(log1z[order] - centre))) * np.log(10.0)
        return TemplateEstimate(
            float(10**centre - 1.0), float(np.median(peak[order])), max(spread, MIN_SPREAD)
        )


def _grid(grid: Sequence[float]) -> tuple[np.ndarray, float]:
    wave_min, wave_max, n_bins = grid
    if not 0 < wave_min < wave_max or isinstance(n_bins, bool) or int(n_bins) != n_bins:
        raise ConfigError(f"need 0 < wave_min < wave_max and an integer n_bins, got {grid}")
    if n_bins < 2 * MIN_OVERLAP_BINS:
        raise ConfigError(f"n_bins must be >= {2 * MIN_OVERLAP_BINS}, got {n_bins}")
    log_wave = np.linspace(np.log10(wave_min), np.log10(wave_max), int(n_bins))
    return log_wave, float(log_wave[1] - log_wave[0])


def flatten(spectrum, log_wave: np.ndarray, dlog: float, z: float = 0.0):
    """(apodised, mean-subtracted continuum-divided flux, coverage mask) of ``spectrum`` on
    the grid ``log_wave``, shifted to the rest frame of ``z``."""
    lw = np.log10(spectrum.wavelength) - np.log10(1.0 + z)
    inside = (log_wave >= lw[0]) & (log_wave <= lw[-1])
    flux = np.zeros(log_wave.size)
    if inside.sum() < MIN_OVERLAP_BINS:
        return flux, inside
    flux[inside] = np.interp(log_wave[inside], lw, spectrum.flux)
    width = max(8, int(round(0.03 / dlog)))  # continuum blocks of ~7% in wavelength
    flat = continuum_divided(flux[None], inside[None], width)[0]
    idx = np.flatnonzero(inside)
    taper = max(1, idx.size // 20)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(taper) / taper)
    flat[idx[:taper]] *= ramp
    flat[idx[-taper:]] *= ramp[::-1]
    flat[inside] -= flat[inside].mean()
    return np.where(inside, flat, 0.0), inside


def refine_redshifts(
    bank: TemplateBank,
    supernovae: Sequence,
    z0: np.ndarray,
    sigma0: np.ndarray,
    window_sigma: float,
    sigma_scale: float = 1.0,
) -> dict[str, np.ndarray]:
    """The template redshift of each record with a spectrum, searched in ``z0 +-
    window_sigma * sigma0`` (the network's estimate and its calibrated 1-sigma).

    Returns:
        ``"redshift"`` and ``"redshift_sigma"`` (the template estimate and ``sigma_scale *
        spread * (1 + z)`` where one was found, else ``z0`` / ``sigma0``), ``"template_score"``
        (NaN where no template estimate was made), ``"redshift_network"`` and
        ``"redshift_sigma_network"`` (``z0``, ``sigma0``).
    """
    z0, sigma0 = np.asarray(z0, np.float64), np.asarray(sigma0, np.float64)
    z, sigma = z0.copy(), sigma0.copy()
    score = np.full(len(z0), np.nan)
    for i, sn in enumerate(supernovae):
        if not sn.spectra or not np.isfinite(z0[i]):
            continue
        half = window_sigma * sigma0[i]
        est = bank.estimate(largest_spectrum(sn), z0[i] - half, z0[i] + half)
        if np.isfinite(est.z):
            z[i], score[i] = est.z, est.score
            sigma[i] = sigma_scale * est.spread * (1.0 + est.z)
    return {
        "redshift": z,
        "redshift_sigma": sigma,
        "template_score": score,
        "redshift_network": z0,
        "redshift_sigma_network": sigma0,
    }
