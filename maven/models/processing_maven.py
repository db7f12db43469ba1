"""``MavenProcessor``: supernova records -> padded tensors for :class:`MavenModel`.

Photometry (one token per observation, at most ``max_tokens``):

* ``scale`` = max(95th percentile of |flux| of the detections (all points if none),
  median flux error), in uJy; its log10 is an input, so brightness is kept.
* values: ``[asinh(flux / scale), asinh(flux_err / scale), detected]``.
* time: days (observer frame) from the reference time: the time of the brightest detection
  (``time_reference="peak"``) or of the first detection (``"first_detection"``); the first
  point when nothing is detected. The model encodes it with sinusoids.
* wavelength: log10 of the band's effective wavelength (Angstrom) from
  :func:`maven.data.bands.get_band` (or ``extra_band_wavelengths``), so any band works.
* token budget: with more than ``max_tokens`` points, each band keeps a share proportional
  to its count (largest remainder, at least one per band while possible) and within a band
  the points evenly spaced in time order are kept. Deterministic.

Spectra: one per object, the one observed closest to the light-curve reference time when
both times are known, else the first (record order); only spectra overlapping the grid
count. It is resampled onto ``spectrum_bins`` log-spaced bins over
``[spectrum_wave_min, spectrum_wave_max]`` (observer frame, or rest frame when
``spectrum_frame="rest"`` and the redshift is known) by inverse-variance weighted
means; without errors, a constant noise is estimated from the pixel-to-pixel scatter
(1.4826 MAD of first differences / sqrt 2). Empty bins inside the coverage are linearly
interpolated unless they lie in a gap wider than ``gap_bins`` bins (masked). Flux and error
are divided by the median |flux| of the valid bins (spectra are often uncalibrated) and
passed through asinh (about linear near 1, tame for spikes and near-zero-median spectra).

Redshift (``Supernova.redshift``) is passed as ``redshift`` + ``redshift_mask``; never needed.

Light-curve features (``lightcurve_features=True``): also ``photometry_features``, the
:func:`maven.evaluation.features.lightcurve_features` of each record's light curve (all its
points: the augmentations below do not change them) with the redshift the batch passes as
``redshift``, so a hidden redshift hides the redshift features too; undefined ones (and rows
without a light curve) are 0 with ``photometry_features_mask`` False. Only a head with
``head_extra_features`` reads them.

Augmentation happens only when ``augment`` (a ``numpy.random.Generator``) is given: random
point dropping, truncation in time, noise drawn from the errors, a small time-scale jitter
``(1 + s)`` of the light curve (``aug_max_stretch``), a random spectrum choice, random
subsets past the token budget and random hiding of the redshift token. Every augmentation
keeps the labels true: spectra are never stretched in wavelength (that would be another
redshift), and the spectrum frame follows the true redshift even when its token is hidden.
Redshift recipes set ``aug_max_stretch`` to 0 (time dilation is a redshift cue).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from maven.data.bands import get_band
from maven.data.records import LightCurve, Spectrum, Supernova
from maven.errors import ConfigError, MavenError, UnknownBandError, ValidationError
from maven.models.hub import resolve_folder
from maven.models.processor_options import ProcessorOptions

__all__ = ["MavenProcessor", "PROCESSOR_CONFIG_NAME"]

PROCESSOR_CONFIG_NAME = "processor_config.json"
#: the outputs added by ``lightcurve_features=True``
_FEATURE_INPUTS = ("photometry_features", "photometry_features_mask")
_CLIP = 1e30  # |normalised spectrum flux| kept by the resampling
_ERR_RANGE = 1e6  # spectrum errors are kept within this factor of their median
#: Hub options of :meth:`MavenProcessor.from_pretrained` (see ``resolve_folder``)
_HUB_OPTIONS = ("revision", "cache_dir", "local_files_only", "token")
_OPTION_NAMES = frozenset(f.name for f in fields(ProcessorOptions))


class MavenProcessor:
    """Turns :class:`~maven.data.Supernova` records into the model's tensors.

    Args:
        options: the :class:`~maven.models.processor_options.ProcessorOptions` as keywords
            (``max_tokens``, ``spectrum_frame``, ...), also read back as attributes
            (``processor.max_tokens``); ``options`` holds the dataclass.

    Outputs of :meth:`__call__` (B objects, L = longest light curve in the batch, at most
    ``max_tokens``, N = ``spectrum_bins``), float32 unless stated:

    ========================  ==========  ==================================================
    photometry_values         (B, L, 3)   asinh(flux/scale), asinh(err/scale), detected
    photometry_time           (B, L)      days from the reference time
    photometry_wavelength     (B, L)      log10 band effective wavelength / A
    photometry_mask           (B, L) bool True for real observations
    photometry_scale          (B,)        log10 flux scale / uJy (0 without photometry)
    redshift                  (B,)        redshift, 0 when unknown
    redshift_mask             (B,) bool   True where the redshift is known
    spectrum_values           (B, N, 2)   asinh(flux/norm), asinh(err/norm)
    spectrum_wavelength       (B, N)      log10 bin-centre wavelength / A
    spectrum_mask             (B, N) bool True for bins with data
    has_photometry            (B,) bool
    has_spectrum              (B,) bool   a usable spectrum overlapping the grid
    photometry_features       (B, F)      with ``lightcurve_features``: the F =
                                          ``len(FEATURE_NAMES)`` features, 0 where undefined
    photometry_features_mask  (B, F) bool with ``lightcurve_features``: True where defined
    ========================  ==========  ==================================================
    """

    model_input_names = [
        "photometry_values",
        "photometry_time",
        "photometry_wavelength",
        "photometry_mask",
        "photometry_scale",
        "redshift",
        "redshift_mask",
        "spectrum_values",
        "spectrum_wavelength",
        "spectrum_mask",
        "has_photometry",
        "has_spectrum",
    ]

    def __init__(self, **options: Any) -> None:
        self.options = ProcessorOptions.from_dict(options)
        if self.lightcurve_features:  # the instance's list; the class keeps the default one
            self.model_input_names = [*type(self).model_input_names, *_FEATURE_INPUTS]
        lo, hi = math.log10(self.spectrum_wave_min), math.log10(self.spectrum_wave_max)
        self._edges = np.linspace(lo, hi, self.spectrum_bins + 1)
        self._centers = 0.5 * (self._edges[1:] + self._edges[:-1])
        self._band_cache: dict[str, float] = {}

    # ------------------------------------------------------------------ persistence

    def __getattr__(self, name: str) -> Any:
        """An option (``processor.max_tokens``) read from :attr:`options`."""
        if name in _OPTION_NAMES and "options" in vars(self):
            return getattr(self.options, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-serialisable options (what :meth:`save_pretrained` writes)."""
        return {"processor_class": type(self).__name__, **self.options.to_dict()}

    def save_pretrained(self, save_directory: str | Path) -> Path:
        """Write ``processor_config.json`` into ``save_directory`` (created); returns its path."""
        path = Path(save_directory)
        path.mkdir(parents=True, exist_ok=True)
        out = path / PROCESSOR_CONFIG_NAME
        out.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return out

    @classmethod
    def from_pretrained(cls, directory: str | Path, **overrides: Any) -> MavenProcessor:
        """Read ``processor_config.json`` from a local folder (as written by save_pretrained)
        or a Hub repository (:func:`maven.models.hub.resolve_folder`, whose options
        ``revision``, ``cache_dir``, ``local_files_only`` and ``token`` may be given, as
        ``AutoProcessor.from_pretrained`` does; its ``trust_remote_code`` is ignored).

        Raises:
            ConfigError: missing or unreadable file, or bad options.
        """

        hub = {k: overrides.pop(k) for k in _HUB_OPTIONS if k in overrides}
        overrides.pop("trust_remote_code", None)
        overrides.pop("_from_auto", None)
        path = resolve_folder(directory, **hub) / PROCESSOR_CONFIG_NAME
        try:
            cfg = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read processor config {path}: {exc}") from None
        if not isinstance(cfg, dict):
            raise ConfigError(f"{path} must hold a JSON object")
        if cfg.get("processor_class", cls.__name__) != cls.__name__:
            raise ConfigError(f"{path} is for {cfg['processor_class']!r}, not {cls.__name__}")
        return cls(**{**cfg, **overrides})

    def __repr__(self) -> str:
        return f"MavenProcessor({json.dumps(self.to_dict(), sort_keys=True)})"

    # ------------------------------------------------------------------ main entry

    def __call__(
        self,
        supernovae: Supernova | Sequence[Supernova] | None = None,
        *,
        lightcurves: Sequence[LightCurve | None] | None = None,
        spectra: Sequence[Spectrum | Sequence[Spectrum] | None] | None = None,
        redshifts: Sequence[float | None] | None = None,
        return_tensors: str | None = "pt",
        augment: np.random.Generator | None = None,
    ) -> dict[str, Any]:
        """Process a batch.

        Give either ``supernovae`` or ``lightcurves`` and/or ``spectra`` (same length; an
        entry may be ``None``, a spectra entry may be one Spectrum or a list of them).

        Args:
            return_tensors: ``"pt"`` (torch tensors) or ``"np"`` / ``None`` (numpy arrays).
            augment: a numpy Generator to enable training augmentations; ``None`` (default)
                is deterministic.

        Returns:
            a ``transformers.BatchFeature`` (a dict) with the keys of ``model_input_names``.

        Raises:
            MavenError: nothing given, wrong types, mismatched lengths, an object with no
                data, an unknown band or an unknown ``return_tensors``.
        """
        if return_tensors not in ("pt", "np", None):
            raise ConfigError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}")
        if augment is not None and not isinstance(augment, np.random.Generator):
            raise ConfigError(
                f"augment must be a numpy.random.Generator or None, got {type(augment).__name__}"
            )
        items = self._collect(supernovae, lightcurves, spectra, redshifts)
        rng = augment
        s, p_hide = self.aug_max_stretch, self.aug_hide_redshift_probability
        phot, specs, inputs = [], [], []
        for lc, sps, z in items:
            # a time-scale jitter of the light curve only: wavelengths are never stretched
            # (a stretched spectrum is a different redshift and would make labels wrong)
            stretch = 1.0 + rng.uniform(-s, s) if rng is not None and s > 0 else 1.0
            p = self._photometry(lc, stretch, rng)
            phot.append(p)
            t_ref = None if p is None else p[5]
            if self.spectrum_frame == "rest":
                # the frame follows the true redshift, never the augmentation: a rest-frame
                # recipe never sees an observer-frame spectrum (none without a redshift)
                spec = None if z is None else self._spectrum(sps, t_ref, 1.0 / (1.0 + z), rng)
            else:
                spec = self._spectrum(sps, t_ref, 1.0, rng)
            specs.append(spec)
            hide = rng is not None and z is not None and rng.random() < p_hide
            inputs.append((lc, sps, None if hide else z))
        out = self._pad(inputs, phot, specs)
        if self.lightcurve_features:
            out.update(_feature_arrays(inputs))
        _require_finite(out, supernovae, items)
        if return_tensors == "pt":
            import torch
            from transformers import BatchFeature

            return BatchFeature({k: torch.from_numpy(v) for k, v in out.items()})
        return out

    # ------------------------------------------------------------------ inputs

    def _collect(self, supernovae, lightcurves, spectra, redshifts) -> list[tuple]:
        """-> list of (lightcurve | None, [spectra], redshift | None)."""
        if supernovae is not None:
            if lightcurves is not None or spectra is not None or redshifts is not None:
                raise ConfigError(
                    "give either supernovae or lightcurves/spectra/redshifts, not both"
                )
            sne = [supernovae] if isinstance(supernovae, Supernova) else supernovae
            if isinstance(sne, (str, bytes)) or not isinstance(sne, Sequence):
                raise MavenError(
                    f"supernovae must be a Supernova or a list of them, got {type(sne).__name__}"
                )
            if not sne:
                raise MavenError("empty batch: no supernovae given")
            rows = []
            for i, sn in enumerate(sne):
                if not isinstance(sn, Supernova):
                    raise MavenError(
                        f"supernovae[{i}] must be a Supernova, got {type(sn).__name__}"
                    )
                rows.append((sn.lightcurve, list(sn.spectra), sn.redshift))
        else:
            if lightcurves is None and spectra is None:
                raise MavenError("nothing to process: give supernovae, lightcurves or spectra")
            lengths = {
                name: len(_as_list(x, name))
                for name, x in (
                    ("lightcurves", lightcurves),
                    ("spectra", spectra),
                    ("redshifts", redshifts),
                )
                if x is not None
            }
            if len(set(lengths.values())) > 1:
                raise MavenError(f"inputs of different lengths: {lengths}")
            n = next(iter(lengths.values()))
            if n == 0:
                raise MavenError("empty batch")
            lcs = _as_list(lightcurves, "lightcurves") if lightcurves is not None else [None] * n
            sps = _as_list(spectra, "spectra") if spectra is not None else [None] * n
            zs = _as_list(redshifts, "redshifts") if redshifts is not None else [None] * n
            rows = []
            for i, (lc, sp, z) in enumerate(zip(lcs, sps, zs, strict=True)):
                if lc is not None and not isinstance(lc, LightCurve):
                    raise MavenError(
                        f"lightcurves[{i}] must be a LightCurve or None, got {type(lc).__name__}"
                    )
                sp_list = [] if sp is None else [sp] if isinstance(sp, Spectrum) else sp
                if (
                    isinstance(sp_list, (str, bytes))
                    or not isinstance(sp_list, Sequence)
                    or not all(isinstance(s, Spectrum) for s in sp_list)
                ):
                    raise MavenError(
                        f"spectra[{i}] must be a Spectrum, a list of them or None, "
                        f"got {type(sp).__name__}"
                    )
                if z is not None and (
                    isinstance(z, bool) or not isinstance(z, (int, float)) or not math.isfinite(z)
                ):
                    raise ValidationError(
                        f"redshifts[{i}] must be a finite number or None, got {z!r}"
                    )
                if lc is None and not sp_list:
                    raise ValidationError(f"object {i} has neither a light curve nor a spectrum")
                rows.append((lc, list(sp_list), None if z is None else float(z)))
        return rows

    # ------------------------------------------------------------------ photometry

    def _band_wavelength(self, name: str) -> float:
        if name not in self._band_cache:
            if name in self.extra_band_wavelengths:
                wave = self.extra_band_wavelengths[name]
            else:
                wave = get_band(name).wave_eff  # UnknownBandError (a MavenError) if unknown
            self._band_cache[name] = math.log10(wave)
        return self._band_cache[name]

    def _photometry(self, lc: LightCurve | None, stretch: float, rng) -> tuple | None:
        """-> (values (n, 3), time (n,), logwave (n,), log10 scale, n, reference MJD)."""
        if lc is None:
            return None
        t, flux, err, det = lc.time, lc.flux, lc.flux_err, lc.detected
        band = lc.band
        keep = np.arange(t.size)
        if rng is not None:
            keep = self._augment_points(t, keep, rng)
        if keep.size > self.max_tokens:
            if rng is not None:
                keep = np.sort(rng.choice(keep, self.max_tokens, replace=False))
            else:
                keep = keep[_budget(band[keep], self.max_tokens)]
        t, flux, err, det, band = t[keep], flux[keep], err[keep], det[keep], band[keep]
        if rng is not None and rng.random() < self.aug_noise_probability:
            flux = flux + rng.normal(0.0, 1.0, flux.size) * err
        base = np.abs(flux[det]) if det.any() else np.abs(flux)
        scale = max(float(np.percentile(base, 95)), float(np.median(err)), 1e-6)
        t_ref = self._reference_time(t, flux, det)
        rel = (t - t_ref) * stretch
        values = np.stack(
            [np.arcsinh(flux / scale), np.arcsinh(err / scale), det.astype(np.float64)], axis=-1
        )
        try:
            logwave = np.array([self._band_wavelength(b) for b in band], dtype=np.float64)
        except UnknownBandError as exc:
            raise UnknownBandError(f"object {lc.object_id!r}: {exc}") from None
        return values, rel, logwave, math.log10(scale), t.size, t_ref

    def _augment_points(self, t: np.ndarray, keep: np.ndarray, rng) -> np.ndarray:
        if rng.random() < self.aug_truncate_probability and t.size > 3:
            cut = rng.uniform(t[min(2, t.size - 1)], t[-1])
            keep = keep[t[keep] <= cut]
        frac = rng.uniform(0.0, self.aug_max_drop_fraction)
        kept = keep[rng.random(keep.size) >= frac]
        return kept if kept.size else keep[rng.integers(keep.size)][None]

    def _reference_time(self, t: np.ndarray, flux: np.ndarray, det: np.ndarray) -> float:
        if not det.any():
            return float(t[0])
        if self.time_reference == "first_detection":
            return float(t[det][0])
        td, fd = t[det], flux[det]
        return float(td[int(np.argmax(fd))])

    # ------------------------------------------------------------------ spectra

    def _overlaps(self, s: Spectrum, factor: float = 1.0) -> bool:
        lo, hi = s.wavelength[0] * factor, s.wavelength[-1] * factor
        return lo < self.spectrum_wave_max and hi > self.spectrum_wave_min

    def _spectrum(self, spectra, t_ref, factor: float, rng) -> tuple | None:
        """-> (values (N, 2), mask (N,)) or None; wavelengths are multiplied by ``factor``
        (1, or 1 / (1 + z) for rest-frame spectra)."""
        usable = [s for s in spectra if self._overlaps(s, factor)]
        if not usable:
            return None
        if rng is not None:
            chosen = usable[int(rng.integers(len(usable)))]
        elif t_ref is not None and any(s.mjd is not None for s in usable):
            timed = [s for s in usable if s.mjd is not None]
            chosen = timed[int(np.argmin([abs(s.mjd - t_ref) for s in timed]))]
        else:
            chosen = usable[0]
        wave, flux, err = chosen.wavelength, chosen.flux, chosen.flux_err
        if err is None:
            err = np.full(flux.size, _noise_estimate(flux))
        wave = wave * factor
        if rng is not None and rng.random() < self.aug_noise_probability:
            flux = flux + rng.normal(0.0, 1.0, flux.size) * err
        return self._resample(np.log10(wave), flux, err)

    def _resample(self, lw: np.ndarray, flux: np.ndarray, err: np.ndarray) -> tuple | None:
        """Inverse-variance binning, computed in normalised units so that no valid input
        overflows: flux and error are divided by the median nonzero |flux|, normalised fluxes
        are clipped at +-1e30 (asinh gives 69: "enormous" either way) and errors at 1e-6..1e6
        times their median (a weight ratio beyond 1e24 means nothing). Pixels still
        non-finite (an augmentation of an absurd flux) count as missing."""
        n = self.spectrum_bins
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            nonzero = np.abs(flux[np.isfinite(flux) & (flux != 0)])
            unit = float(np.median(nonzero)) if nonzero.size else 1.0
            flux = np.clip(flux / unit, -_CLIP, _CLIP)
            err = err / unit
            good = np.isfinite(flux) & np.isfinite(err) & (err > 0)
            ref = float(np.median(err[good])) if good.any() else 1.0
            err = np.clip(err, ref / _ERR_RANGE, ref * _ERR_RANGE)
        lw, flux, err = lw[good], flux[good], err[good]
        if lw.size == 0:
            return None
        idx = np.searchsorted(self._edges, lw, side="right") - 1
        inside = (idx >= 0) & (idx < n)
        w = (ref / err) ** 2
        sw = np.bincount(idx[inside], w[inside], minlength=n)
        swf = np.bincount(idx[inside], (w * flux)[inside], minlength=n)
        filled = sw > 0
        out_f = np.zeros(n)
        out_e = np.zeros(n)
        out_f[filled] = swf[filled] / sw[filled]
        out_e[filled] = ref / np.sqrt(sw[filled])
        # empty bins within coverage: interpolate unless inside a wide gap
        c = self._centers
        empty = ~filled & (c > lw[0]) & (c < lw[-1])
        if empty.any():
            pos = np.searchsorted(lw, c[empty])
            gap = lw[pos] - lw[pos - 1]
            ok = gap <= self.gap_bins * (self._edges[1] - self._edges[0])
            sel = np.flatnonzero(empty)[ok]
            out_f[sel] = np.interp(c[sel], lw, flux)
            out_e[sel] = np.interp(c[sel], lw, err)
            filled[sel] = True
        if not filled.any():
            return None
        norm = float(np.median(np.abs(out_f[filled])))
        if not norm > 0:
            norm = float(np.mean(np.abs(out_f[filled]))) or 1.0
        values = np.arcsinh(np.stack([out_f / norm, out_e / norm], axis=-1))
        values[~filled] = 0.0
        return values, filled

    # ------------------------------------------------------------------ batching

    def _pad(self, items, phot, specs) -> dict[str, np.ndarray]:
        b = len(items)
        length = max([p[4] for p in phot if p is not None] + [1])
        f32 = np.float32
        out = {
            "photometry_values": np.zeros((b, length, 3), f32),
            "photometry_time": np.zeros((b, length), f32),
            "photometry_wavelength": np.zeros((b, length), f32),
            "photometry_mask": np.zeros((b, length), bool),
            "photometry_scale": np.zeros(b, f32),
            "redshift": np.zeros(b, f32),
            "redshift_mask": np.zeros(b, bool),
            "spectrum_values": np.zeros((b, self.spectrum_bins, 2), f32),
            "spectrum_wavelength": np.broadcast_to(
                self._centers.astype(f32), (b, self.spectrum_bins)
            ).copy(),
            "spectrum_mask": np.zeros((b, self.spectrum_bins), bool),
            "has_photometry": np.zeros(b, bool),
            "has_spectrum": np.zeros(b, bool),
        }
        for i, ((_, _, z), p, s) in enumerate(zip(items, phot, specs, strict=True)):
            if p is not None:
                values, rel, logwave, log_scale, n, _ = p
                out["photometry_values"][i, :n] = values
                out["photometry_time"][i, :n] = rel
                out["photometry_wavelength"][i, :n] = logwave
                out["photometry_mask"][i, :n] = True
                out["photometry_scale"][i] = log_scale
                out["has_photometry"][i] = True
            if s is not None:
                out["spectrum_values"][i] = s[0]
                out["spectrum_mask"][i] = s[1]
                out["has_spectrum"][i] = True
            if z is not None:
                out["redshift"][i] = z
                out["redshift_mask"][i] = True
        return out


# ---------------------------------------------------------------------- helpers


def _feature_arrays(items) -> dict[str, np.ndarray]:
    """``photometry_features`` (B, F) float32, 0 where undefined, and its (B, F) mask, from
    (lightcurve, spectra, redshift input) rows."""
    from maven.evaluation.features import FEATURE_NAMES, lightcurve_features

    feats = np.full((len(items), len(FEATURE_NAMES)), np.nan)
    for i, (lc, _, z) in enumerate(items):
        if lc is not None:
            feats[i] = lightcurve_features(lc, z)
    feats = feats.astype(np.float32)  # a float64 feature beyond float32 becomes inf: undefined
    mask = np.isfinite(feats)
    return {"photometry_features": np.where(mask, feats, 0.0), "photometry_features_mask": mask}


def _require_finite(out: dict[str, np.ndarray], supernovae, items) -> None:
    """The processor's guarantee: every float output is finite, or a ValidationError names the
    first object (batch index and id) and the tensor that is not."""
    for key, arr in out.items():
        if arr.dtype.kind != "f":
            continue
        rows = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
        if not rows.any():
            continue
        i = int(np.flatnonzero(rows)[0])
        if supernovae is not None:
            name = ([supernovae] if isinstance(supernovae, Supernova) else supernovae)[i].id
        else:
            lc, sps = items[i][0], items[i][1]
            ids = [getattr(lc, "object_id", None), *(s.object_id for s in sps)]
            name = next((x for x in ids if x), None)
        raise ValidationError(
            f"batch index {i}: non-finite values in the processed input "
            f"({int(rows.sum())} object(s) affected)",
            object_id=name,
            field=key,
        )


def _as_list(x, name: str) -> list:
    if isinstance(x, (str, bytes, LightCurve, Spectrum, Supernova)) or not isinstance(x, Sequence):
        raise MavenError(f"{name} must be a list, got {type(x).__name__}")
    return list(x)


def _budget(band: np.ndarray, max_tokens: int) -> np.ndarray:
    """Deterministic indices (sorted) of at most ``max_tokens`` points (time-sorted input).

    Each band gets a share proportional to its count (largest remainder; at least one per
    band while there is room); within a band, points evenly spaced in time order are kept.
    """
    names, inverse, counts = np.unique(band, return_inverse=True, return_counts=True)
    exact = counts * max_tokens / counts.sum()
    alloc = np.floor(exact).astype(int)
    if len(names) <= max_tokens:
        alloc = np.maximum(alloc, 1)
    while alloc.sum() > max_tokens:  # the at-least-one rule overshot: trim the largest
        alloc[int(np.argmax(alloc))] -= 1
    order = np.argsort(-(exact - alloc), kind="stable")
    for j in order[: max_tokens - alloc.sum()]:
        alloc[j] += 1
    alloc = np.minimum(alloc, counts)
    keep = []
    for j in range(len(names)):
        members = np.flatnonzero(inverse == j)
        if alloc[j] > 0:
            pick = np.round(np.linspace(0, members.size - 1, alloc[j])).astype(int)
            keep.append(members[pick])
    return np.sort(np.concatenate(keep))


def _noise_estimate(flux: np.ndarray) -> float:
    """Constant 1-sigma noise from the pixel-to-pixel scatter of a spectrum (in units of the
    median |flux|, so that fluxes near the float limit cannot overflow the differences)."""
    unit = float(np.median(np.abs(flux))) or float(np.max(np.abs(flux))) or 1.0
    d = np.diff(flux / unit)
    sigma = 1.4826 * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2) if d.size else 0.0
    if not sigma > 0:
        sigma = 1e-3
    return sigma * unit
