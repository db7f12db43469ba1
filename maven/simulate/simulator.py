"""The simulator: per-object draws (configuration: :mod:`maven.simulate.config`; templates per
class: :mod:`maven.simulate.library`; data sets on disk: :mod:`maven.simulate.dataset`).

Per object: class (balanced by default, fixed per output slot so that the *triggered* sample
has the requested mix) -> template (uniform within the class, a bank of realisations such as
the BayeSN Ia counting as one template; held-out ids excluded by default) -> redshift
(volumetric rate to a class-dependent depth), peak time and sky position (uniform within the
survey's time span and sky) -> brightness, stretch / x1, c (BayeSN: theta1), dust
-> the visits the survey made there (fields whose footprint holds the position: ZTF's CCD
mosaic with its gaps, Rubin's circle; :mod:`maven.simulate.survey`) -> noisy fluxes (forced or
alert photometry, ``SimConfig.photometry``) -> trigger (>= ``min_detections`` points at
SNR >= ``snr_detect``, two of them >= ``min_detection_gap_days`` apart: the 30-minute rule)
-> the light curve (alert photometry: the detections in the public alert bands only; forced:
every visit). Objects that are not triggered are **re-drawn** (a fresh draw from the
same random stream), so a shard always holds ``n`` objects; the number of draws is recorded.
Everything is deterministic per ``(seed, shard)`` (numpy ``Generator`` seeded with both).

Classes: :data:`DEFAULT_CLASSES` (Ia, II, Ibc, IIn, SLSN-I) by default. The novel classes of
:data:`NOVEL_CLASSES`, for novelty evaluation, are simulated only when listed in
``SimConfig.classes``; all their templates count as held out and ``heldout`` does not filter them:

* ``"TDE"``: physics (:func:`~maven.simulate.physics.tde_bank`): a ~2-4e4 K blackbody rising
  over 20-40 d and declining as (1 + t/tau)^-alpha, alpha ~ 5/3, with broad H-alpha / He II
  bumps; peak M_B ~ N(-20.0, 0.6) (van Velzen+21).
* ``"KN"``: the Kasen+17 kilonova models of the template directory (``sed/kasen17_kilonova``,
  needs ``h5py``), else three physics kilonovae (:func:`~maven.simulate.physics.kilonova_bank`);
  brightness is the model's own (physical units) + N(0, 0.3) mag. ``provenance()["templates"]``
  says which source was used.
* ``"Ia-91bg"``: the Nugent 91bg template (``sed/nugent/Nugent_SN91bg_SED.fits.gz``), peak
  M_B ~ N(-17.6, 0.5); without it :class:`ConfigError` (no stand-in: a stretched normal Ia would
  not be 91bg-like in its spectra).

Records of novel classes have ``type`` = the class name, ``type_raw`` "TDE", "Kilonova" or
"SN Ia-91bg", and ``meta["novel_class"] = True``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from maven.data.photometry import AB_ZEROPOINT
from maven.data.records import LightCurve, Supernova
from maven.errors import ConfigError, MavenError
from maven.simulate import population as pop
from maven.simulate.config import SimConfig
from maven.simulate.followup import FOLLOWUP, load_followup_stats
from maven.simulate.grid import (
    HELDOUT,
    NOVEL_CLASSES,
    TemplateGrid,
)
from maven.simulate.host import draw_host, get_host_library
from maven.simulate.library import TemplateLibrary, get_library, is_held
from maven.simulate.sources import ObjectModel, ObjectParams, band_info
from maven.simulate.spectra import INSTRUMENTS, observe_spectrum
from maven.simulate.survey import (
    Cadence,
    first_per_night,
    load_cadence,
    passes_trigger,
    photometric_noise,
)
from maven.simulate.templates import (
    find_template_dir,
    pick_template,
)

__all__ = [
    "provenance",
    "simulate",
]


# --------------------------------------------------------------------------- simulation

_DEG = math.pi / 180.0
#: margin (mag) of the cheap trigger pre-filter in :func:`_visits`
PREFILTER_MARGIN_MAG = 1.0


def _resolve(config: SimConfig) -> tuple[str | None, TemplateLibrary, Cadence]:
    tdir = find_template_dir(config.template_dir) if config.use_templates else None
    lib = get_library(
        str(tdir) if tdir else None,
        config.classes,
        config.heldout,
        config.use_templates,
        config.heldout_subtypes,
    )
    if config.survey == FOLLOWUP:  # no pointing log: the schedule comes from its table
        load_followup_stats()
        return (str(tdir) if tdir else None), lib, None
    cad = load_cadence(config.survey, tdir if config.use_templates else None, config.cadence)
    return (str(tdir) if tdir else None), lib, cad


def _z_samplers(config: SimConfig, spec) -> dict[str, pop.RedshiftSampler]:
    depth = config.depth_mag if config.depth_mag is not None else spec.depth_mag
    if config.depth_mag is None:  # alert photometry is shallower than the exposure's m5
        depth += _noise_model(config, spec)[0]
    out = {}
    for c in config.classes:
        if config.z_max is not None:
            zmax = config.z_max
        else:
            mean, sig = pop.LUMINOSITY[c]
            bright = min(mean - 2.0 * sig, -19.8) if c == "Ia" else mean - 2.0 * sig
            zmax = min(max(pop.z_at_distmod(depth - bright), config.z_min * 2), config.z_cap)
        out[c] = pop.RedshiftSampler(config.z_min, zmax, pop.RATE_ALPHA[c])
    return out


def _draw_params(
    rng, cls: str, tmpl: TemplateGrid, zs: pop.RedshiftSampler, t_range: tuple[float, float]
) -> ObjectParams:
    z = float(zs.draw(rng))
    t_peak = float(rng.uniform(*t_range))
    x1 = c = theta1 = None
    stretch = 1.0
    if tmpl.family == "bayesn":  # a BayeSN realisation: theta1 and eps are in the grid
        theta1 = float(tmpl.meta["theta1"])
    elif cls == "Ia":
        x1, c = pop.draw_salt_params(rng)
        if tmpl.m1 is None:  # Hsiao: stretch from x1 (Guy+07), no colour parameter
            stretch = 0.98 + 0.091 * x1 + 0.003 * x1**2 - 0.00075 * x1**3
            c = None
    else:
        stretch = float(np.clip(rng.lognormal(0.0, 0.1), 0.7, 1.4))
    native = tmpl.native_abs_mag if tmpl.meta.get("abs_mag_native") else None
    mag = pop.draw_peak_mag(rng, cls, tmpl.subtype, x1, c, native, tmpl.meta.get("native_sigma"))
    if cls == "Ia" and tmpl.m1 is not None:
        av, rv = 0.0, 3.1  # SALT colour c carries the host reddening
    else:
        av, rv = pop.draw_host_dust(rng, cls)
    return ObjectParams(
        template=tmpl.id,
        z=z,
        t_peak=t_peak,
        peak_abs_mag=mag,
        stretch=stretch,
        x1=x1,
        c=c,
        host_av=av,
        host_rv=rv,
        mwebv=pop.draw_mwebv(rng),
        theta1=theta1,
    )


class _Positions:
    """Sky positions uniform on the survey's declination band, drawn and matched to field
    centres in blocks (one vectorised KD-tree query per block) from their own random stream."""

    def __init__(self, rng: np.random.Generator, cad: Cadence, block: int = 256) -> None:
        self.rng, self.cad, self.block = rng, cad, block
        lo, hi = cad.dec_range
        self.sin_lo, self.sin_hi = np.sin(max(lo, -np.pi / 2)), np.sin(min(hi, np.pi / 2))
        self._i, self._n = 0, 0

    def next(self) -> tuple[float, float, np.ndarray]:
        if self._i >= self._n:
            self._ra = self.rng.uniform(0, 2 * np.pi, self.block)
            self._dec = np.arcsin(self.rng.uniform(self.sin_lo, self.sin_hi, self.block))
            self._centers = self.cad.centers_containing(self._ra, self._dec)
            self._i, self._n = 0, self.block
        i = self._i
        self._i += 1
        return float(self._ra[i]), float(self._dec[i]), self._centers[i]


def _visits(
    config: SimConfig, cad: Cadence, tmpl: TemplateGrid, p: ObjectParams, centers: np.ndarray
) -> np.ndarray | None:
    """Visits that can see the object (cheap; before any flux is computed), or ``None``."""
    scale = p.stretch * (1.0 + p.z)
    # pre-explosion (zero-flux) visits only when the template starts faint (< 5% of peak)
    pre = config.pre_days if tmpl.start_fraction < 0.05 else 0.0
    t_first = p.t_peak + (tmpl.phase[0] - pre - tmpl.peak_phase) * scale
    last = min(tmpl.phase[-1], tmpl.peak_phase + config.max_phase)
    idx = cad.visits(centers, float(t_first), float(p.t_peak + (last - tmpl.peak_phase) * scale))
    need = max(config.min_detections, 1)
    if idx.size < need:
        return None
    zp1 = 1.0 + p.z
    kept = config.kept_bands()
    ok = np.array(
        [
            b in kept and band_info(b).lo >= tmpl.wmin * zp1 and band_info(b).hi <= tmpl.wmax * zp1
            for b in cad.spec.bands
        ]
    )[cad.band[idx]]
    idx = idx[ok]
    alert = cad.spec.alert if config.photometry_mode == "alert" else None
    if alert is not None:  # the public stream: its share of field-nights, 1 visit a night
        idx = idx[cad.public_nights(idx, alert.public_fraction)]
        if alert.per_night > 0:
            idx = idx[first_per_night(cad.mjd[idx], cad.band[idx], alert.per_night)]
    if idx.size < need:
        return None
    # cheap pre-filter (speed only): the brightest the object can be at each visit is its
    # rest-B peak + distance modulus - 2.5 log10(1+z) (bandwidth term) shifted by the template's
    # brightest-band envelope (any rest wavelength, relative to the B peak) and 0.3 A_V; if fewer
    # than min_detections visits reach even PREFILTER_MARGIN_MAG brighter, it cannot trigger.
    if config.min_detections > 0:
        peak = p.peak_abs_mag + float(pop.distmod(p.z)) - 2.5 * np.log10(zp1) + 0.3 * p.host_av
        phase = tmpl.peak_phase + (cad.mjd[idx] - p.t_peak) / scale
        env = np.interp(phase, tmpl.phase, tmpl.envelope, left=1e-6, right=1e-6)
        est = peak - 2.5 * np.log10(np.maximum(env, 1e-6))
        dm5 = _noise_model(config, cad.spec)[0]
        reach = cad.m5[idx] + dm5 >= est - PREFILTER_MARGIN_MAG
        if not passes_trigger(
            cad.mjd[idx], reach, config.min_detections, config.min_detection_gap_days
        ):
            return None
    return idx


def _noise_model(config: SimConfig, spec) -> tuple[float, float, float]:
    """(depth offset from the cadence's m5, photo-electron zero point, floor) of the
    configured photometry: the survey's :class:`~maven.simulate.survey.AlertStream` for alert
    photometry (when it has one), else the forced-photometry noise with ``calib_floor``."""
    if config.photometry_mode == "alert" and spec.alert is not None:
        a = spec.alert
        return a.depth_offset, a.zp_electrons, a.floor
    return 0.0, spec.zp_electrons, config.calib_floor


def _observe(rng, config: SimConfig, cad: Cadence, model: ObjectModel, idx: np.ndarray):
    """Noisy fluxes and detections at visits ``idx``; ``None`` if the object does not trigger."""
    spec = cad.spec
    bands = np.array(spec.bands)[cad.band[idx]]
    m5 = cad.m5[idx].astype(np.float64)
    mjd = cad.mjd[idx]
    true = model.bandflux(bands, mjd)
    dm5, zp_e, floor = _noise_model(config, spec)
    err = photometric_noise(true, m5 + dm5, zp_e, floor)
    flux = true if config.noiseless else true + err * rng.standard_normal(true.size)
    det = flux / err >= config.snr_detect
    if not passes_trigger(mjd, det, config.min_detections, config.min_detection_gap_days):
        return None
    if config.max_peak_mag is not None:  # spectroscopic-like selection on the brightest point
        brightest = flux[det].max() if det.any() else 0.0
        if not brightest > 10.0 ** (-0.4 * (config.max_peak_mag - AB_ZEROPOINT)):
            return None
    if config.photometry_mode == "alert":  # an alert light curve holds the detections only
        mjd, bands, flux, err, det = mjd[det], bands[det], flux[det], err[det], det[det]
    return mjd, bands, flux, err, det


#: classes with a low trigger efficiency get a larger draw budget (a kilonova is visible for a
#: few days: ~0.5 % of LSST draws trigger)
_DRAW_FACTOR = {"KN": 10}


def _draw_factor(classes: tuple[str, ...]) -> int:
    return max(_DRAW_FACTOR.get(c, 1) for c in classes)


def _class_probs(config: SimConfig) -> np.ndarray:
    w = config.class_weights or {}
    p = np.array([float(w.get(c, 1.0)) if w else 1.0 for c in config.classes])
    return p / p.sum()


def simulate(
    n: int,
    *,
    survey: str | None = None,
    seed: int = 0,
    shard: int = 0,
    classes=None,
    config: SimConfig | None = None,
) -> list[Supernova]:
    """Simulate ``n`` triggered supernovae, deterministic per ``(seed, shard)``.

    Args:
        n: number of objects returned.
        survey: ``"ztf"`` or ``"lsst"`` (overrides ``config.survey``).
        seed, shard: random stream ``default_rng([seed, shard])``.
        classes: classes to simulate (overrides ``config.classes``).
        config: :class:`SimConfig` (default: ``SimConfig()``).

    Returns:
        :class:`Supernova` records; truth in ``meta`` (class, template, z, t_peak, peak_abs_mag,
        amplitude scale, stretch, x1, c, host_av, host_rv, mwebv, ...).
    """
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    config = config or SimConfig()
    over = {}
    if survey is not None:
        over["survey"] = survey
    if classes is not None:
        over["classes"] = tuple([classes] if isinstance(classes, str) else classes)
    if over:
        config = replace(config, **over)
    tdir, lib, cad = _resolve(config)
    if cad is None:
        return _simulate_followup(n, config, lib, int(seed), int(shard))
    rng = np.random.default_rng([int(seed), int(shard)])
    zs = _z_samplers(config, cad.spec)
    probs = _class_probs(config)
    span = cad.mjd_range
    t_range = (span[0] + 10.0, span[1] - 10.0)
    positions = _Positions(np.random.default_rng([int(seed), int(shard), 1]), cad)
    out: list[Supernova] = []
    draws = 0
    limit = max(n, 1) * config.max_draws_per_object * _draw_factor(config.classes)
    cls = None
    while len(out) < n:
        draws += 1
        if draws > limit:
            raise MavenError(
                f"only {len(out)} of {n} objects triggered after {limit} draws; "
                "loosen the trigger rule or the redshift range"
            )
        if cls is None:  # the class is fixed per output slot: the *triggered* mix is balanced
            cls = config.classes[int(rng.choice(len(probs), p=probs))]
        grids = lib.by_class[cls]
        tmpl = grids[pick_template(rng, grids)]
        params = _draw_params(rng, cls, tmpl, zs[cls], t_range)
        ra, dec, centers = positions.next()
        idx = _visits(config, cad, tmpl, params, centers)
        if idx is None:
            continue
        model = ObjectModel(tmpl, params)
        obs = _observe(rng, config, cad, model, idx)
        if obs is None:
            continue
        out.append(
            _record(rng, config, cad, model, cls, ra, dec, obs, seed, shard, len(out), draws)
        )
        cls = None
    return out


#: MJD range of the follow-up stream's peak times (archival photometry of all eras)
FOLLOWUP_MJD_RANGE = (55000.0, 60000.0)
#: the follow-up stream draws redshifts from min(z_min, this): the real follow-up set holds
#: objects at z = 0.002-0.005 (its brightest, 13-14 mag, peaks)
FOLLOWUP_Z_MIN = 0.001
#: the follow-up stream's draw budget is this many times the cadence streams' (a magnitude-
#: limited selection of broad luminosity functions keeps ~0.5 % of the draws of II and IIn;
#: a rejected draw costs ~0.1 ms)
FOLLOWUP_DRAW_FACTOR = 20


def _simulate_followup(
    n: int, config: SimConfig, lib: TemplateLibrary, seed: int, shard: int
) -> list[Supernova]:
    """``simulate`` for ``survey="followup"`` (:mod:`maven.simulate.followup`): the schedule,
    band set, noise and peak-magnitude selection of each object from the shipped table; the
    rest (classes, templates, population, spectra, record) as in the cadence streams."""
    from scipy.special import ndtr

    from maven.simulate.followup import OPTICAL, _wave_eff

    stats = load_followup_stats()
    rng = np.random.default_rng([seed, shard])
    sky = np.random.default_rng([seed, shard, 1])
    depth = config.depth_mag if config.depth_mag is not None else stats.depth()
    z_min = min(config.z_min, FOLLOWUP_Z_MIN)
    zs = _z_samplers(replace(config, depth_mag=depth + PREFILTER_MARGIN_MAG, z_min=z_min), None)
    probs = _class_probs(config)
    out: list[Supernova] = []
    draws = 0
    limit = max(n, 1) * config.max_draws_per_object * _draw_factor(config.classes)
    limit *= FOLLOWUP_DRAW_FACTOR
    need = max(config.min_detections, 1)
    cls = None
    while len(out) < n:
        draws += 1
        if draws > limit:
            raise MavenError(
                f"only {len(out)} of {n} follow-up objects were selected after {limit} draws; "
                "loosen the trigger rule or the redshift range"
            )
        if cls is None:
            cls = config.classes[int(rng.choice(len(probs), p=probs))]
        grids = lib.by_class[cls]
        tmpl = grids[pick_template(rng, grids)]
        # the limit of the survey the object came from, then a redshift it can be seen at
        m_lim = stats.draw_limit(rng, cls)
        if config.max_peak_mag is not None:
            m_lim = min(m_lim, float(config.max_peak_mag))
        z_hi = pop.z_at_distmod(m_lim + PREFILTER_MARGIN_MAG - _bright_end(cls))
        p = _draw_params(rng, cls, tmpl, _Truncated(zs[cls], z_hi), FOLLOWUP_MJD_RANGE)
        ra = float(sky.uniform(0.0, 2.0 * np.pi))
        dec = float(np.arcsin(sky.uniform(-1.0, 1.0)))
        # cheap pre-filter (speed only), as in _visits: the brightest the object can be
        zp1 = 1.0 + p.z
        peak = p.peak_abs_mag + float(pop.distmod(p.z)) - 2.5 * np.log10(zp1) + 0.3 * p.host_av
        brightest = peak - 2.5 * np.log10(max(float(np.max(tmpl.envelope)), 1e-6))
        if brightest - PREFILTER_MARGIN_MAG > m_lim:
            continue
        dt, bands = stats.draw_schedule(rng, cls)
        obj_u = float(rng.standard_normal())
        model = ObjectModel(tmpl, p)
        mjd = p.t_peak + dt
        covered = {b: model.covers(band_info(b)) for b in set(bands.tolist())}
        phase = model.template_phase(mjd)
        tp = tmpl.phase
        keep = np.array([covered[b] for b in bands], dtype=bool)
        # before a template that starts faint: pre-explosion points (zero flux); before one
        # that starts bright: dropped. After its last phase: faded (zero flux), as the late
        # non-detections of real follow-up
        if tmpl.start_fraction >= 0.05:
            keep &= phase >= tp[0]
        if keep.sum() < need:
            continue
        mjd, bands = mjd[keep], bands[keep]
        true = model.bandflux(bands, mjd)
        err = stats.flux_error(rng, true, obj_u)
        flux = true if config.noiseless else true + err * rng.standard_normal(true.size)
        det = flux / err >= config.snr_detect
        if not passes_trigger(mjd, det, config.min_detections, config.min_detection_gap_days):
            continue
        weff = np.array([_wave_eff(b) for b in bands])
        opt = det & (weff >= OPTICAL[0]) & (weff <= OPTICAL[1])
        if not opt.any() or AB_ZEROPOINT - 2.5 * np.log10(flux[opt].max()) > m_lim:
            continue
        obs = (mjd, bands, flux, err, det)
        out.append(
            _record(rng, config, None, model, cls, ra, dec, obs, seed, shard, len(out), draws)
        )
        out[-1].meta["selection_limit_mag"] = round(m_lim, 3)
        out[-1].meta["noise_quantile"] = round(float(ndtr(obj_u)), 4)
        cls = None
    return out


def _bright_end(cls: str) -> float:
    """A bound on the brightest peak M_B of a class (LF clipped at 3 sigma; Tripp extremes)."""
    mean, sig = pop.LUMINOSITY[cls]
    bright = mean - 3.0 * sig
    if cls in ("II", "Ibc"):  # subtype luminosity functions (IIL, IIb, Ic-BL)
        bright = min([bright] + [m - 3.0 * s for m, s in pop.SUBTYPE_LUMINOSITY.values()])
    return min(bright, -20.8) if cls == "Ia" else bright


@dataclass
class _Truncated:
    """A :class:`~maven.simulate.population.RedshiftSampler` restricted to ``z <= z_hi``
    (inverse CDF on the same table: the volumetric shape below ``z_hi`` is unchanged)."""

    base: pop.RedshiftSampler
    z_hi: float

    def draw(self, rng, size=None):
        b = self.base
        u_hi = float(np.interp(min(self.z_hi, b.z_max), b._z, b._cdf))
        return np.interp(rng.random(size) * u_hi, b._cdf, b._z)


def _cadence_name(cad: Cadence | None) -> str:
    if cad is None:
        return FOLLOWUP
    return cad.source if cad.source == "synthetic" else Path(cad.source).name


def _record(rng, config, cad, model: ObjectModel, cls, ra, dec, obs, seed, shard, i, draws):
    mjd, bands, flux, err, det = obs
    p = model.params
    sid = f"sim-{config.survey}-s{seed}-{shard:05d}-{i:06d}"
    lc = LightCurve(mjd, bands, flux, err, det, object_id=sid)
    spectra = []
    # host light and chip gaps: their own stream per object (the main stream is untouched)
    hosts = _host_library(config) if config.host_light > 0 else None
    extra = (
        np.random.default_rng([int(seed), int(shard), 2, int(i)])
        if (hosts is not None or config.chip_gaps) and config.n_spectra
        else None
    )
    for _ in range(config.n_spectra):
        phase = float(rng.uniform(*config.spec_phase))
        t_obs = p.t_peak + phase * model.one_plus_z
        inst = INSTRUMENTS[int(rng.integers(len(INSTRUMENTS)))]
        res = float(np.exp(rng.uniform(np.log(inst.r_min), np.log(inst.r_max))))
        snr = float(np.exp(rng.uniform(*np.log(config.spec_snr))))
        wave_range = inst.draw_range(rng)
        wave, fl = model.spectrum(t_obs, wave_range)
        smeta = {
            "simulated": True,
            "phase_rest": phase,
            "resolution": round(res, 1),
            "snr": round(snr, 2),
        }
        host = gap = None
        if hosts is not None:
            host = draw_host(extra, hosts, cls, config.host_light, config.host_fraction)
            smeta["host_template"] = host.template if host else None
            smeta["host_fraction"] = host.fraction if host else 0.0
        if config.chip_gaps:
            gap = inst.draw_chip_gap(extra)
            if gap is not None:
                smeta["chip_gap"] = list(gap)
        s = observe_spectrum(
            wave,
            fl,
            rng=rng,
            resolution=res,
            wave_range=wave_range,
            snr=snr,
            mjd=t_obs,
            instrument=inst.name,
            object_id=sid,
            noiseless=config.noiseless,
            meta=smeta,
            host_flux=host.observed(wave, p.z) if host else None,
            host_fraction=host.fraction if host else 0.0,
            chip_gap=gap,
        )
        if s is not None:
            spectra.append(s)
    tm = model.template
    meta = {
        "simulated": True,
        "class": cls,
        "subtype": tm.subtype,
        "template": tm.id,
        "template_family": tm.family,
        "template_heldout": is_held(tm, config.heldout_subtypes),
        "novel_class": cls in NOVEL_CLASSES,
        "survey": config.survey,
        "cadence": _cadence_name(cad),
        **{k: v for k, v in p.to_dict().items() if k != "template"},
        "template_t0": float(model.mjd_of(0.0)),  # MJD of template phase 0 (SALT's t0)
        "peak_phase_template": float(model.peak_phase),
        "distmod": float(pop.distmod(p.z)),
        "flux_scale": float(model.scale),
        "n_detections": int(det.sum()),
        "photometry": config.photometry_mode,
        "draw_index": int(draws),
        "seed": int(seed),
        "shard": int(shard),
    }
    if tm.family == "physics":
        meta["physics_params"] = tm.meta
    return Supernova(
        id=sid,
        lightcurve=lc,
        spectra=spectra,
        type=cls,
        type_raw=_TYPE_RAW.get(cls, f"SN {tm.subtype}"),
        redshift=p.z,
        ra=ra / _DEG % 360.0,
        dec=dec / _DEG,
        mwebv=p.mwebv,
        source=f"maven.simulate ({config.survey})",
        meta=meta,
    )


_TYPE_RAW = {"TDE": "TDE", "KN": "Kilonova"}


def _host_library(config: SimConfig):
    """The host-galaxy templates for ``config`` (cached per process)."""
    tdir = find_template_dir(config.template_dir) if config.use_templates else None
    return get_host_library(str(tdir) if tdir else None)


def provenance(config: SimConfig, seed: int) -> dict:
    """What a simulated dataset was made from (stored in the dataset manifest)."""
    tdir, lib, cad = _resolve(config)
    return {
        "generator": "maven.simulate",
        "config": config.to_dict(),
        "seed": int(seed),
        "template_dir": tdir,
        "templates": lib.sources,
        "heldout_ids": {c: list(v) for c, v in HELDOUT.items()},
        "heldout_subtypes": list(config.heldout_subtypes),
        "cadence": cad.source if cad is not None else FOLLOWUP,
        "cadence_visits": cad.n_visits if cad is not None else 0,
        "host_galaxies": _host_library(config).provenance() if config.host_light > 0 else None,
    }
