"""Physics models -> :class:`~maven.simulate.grid.TemplateGrid`: bolometric light curve
plus a cooling blackbody photosphere (no spectral lines, except the SLSN-I features and the
TDE bumps below).

* SLSN-I: magnetar spin-down powered diffusion (Arnett 1982 integral with the Kasen & Bildsten
  2010 / Woosley 2010 input, gamma-ray leakage and a photospheric temperature floor as in
  Nicholl, Guillochon & Berger 2017, ApJ 850 55; UV suppression below 3000 A as in their
  eq. 4). Parameters drawn from the Nicholl+17 posterior ranges. With a template directory the
  blackbody is multiplied, per phase from peak, by the line features (flux / fitted continuum)
  of one real SLSN-I from the DASH spectra (:mod:`maven.simulate.slsn_features`), normalised
  to keep the mean F_lambda over 3500-9000 A; without one they stay pure blackbodies.
* Fallback only (no template directory): Ibc from 56Ni-powered Arnett diffusion, II from a
  plateau (Popov 1993-like constant luminosity) plus a 56Co tail, IIn from a smooth
  power-law rise/decline (CSM interaction); all with cooling blackbodies. Crude, documented
  stand-ins so that a fresh clone simulates every default class.

Novel classes (off by default, for novelty evaluation):

* TDE (:func:`tde_grid`): a hot blackbody, T ~ 2-4e4 K roughly constant (cooling linearly by
  0-25 % over 200 d after peak), luminosity rising as a half-Gaussian over t_rise ~ 20-40 d to
  L_peak ~ 10^43.5-10^44.5 erg/s then declining as a power law
  L = L_peak (1 + (t - t_rise)/tau)^-alpha, alpha ~ N(5/3, 0.15) (fallback accretion rate,
  Rees 1988, Phinney 1989); radius from L = 4 pi R^2 sigma T^4. Two broad Gaussian emission
  bumps of fixed rest equivalent width (H-alpha 6563 A, He II 4686 A, FWHM ~ 1e4 km/s) stand
  in for the broad lines (van Velzen et al. 2021, ApJ 908 4; Gezari 2021 ARA&A 59 21).
* Kilonova fallback (:func:`kilonova_grid`; used only when the Kasen et al. 2017 models of the
  template directory cannot be read): r-process heating eps = 2e10 eps_th (t/1 d)^-1.3 erg/s/g
  (Metzger 2019 LRR 23 1, the Korobkin+12 fit at t >> 1 s; eps_th = 0.5) through Arnett diffusion,
  expanding photosphere with a 2500-4000 K floor (lanthanide recombination): a fast-fading
  red blackbody, peak ~0.5-1.5 d, M_B ~ -15 to -16 at the blue end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from maven.simulate.grid import HELDOUT, REST_WAVE, TemplateGrid, peak_phase_of
from maven.simulate.slsn_features import DASH_TARBALL, HELDOUT_OBJECTS, load_slsn_features

__all__ = [
    "magnetar_bank",
    "magnetar_grid",
    "fallback_bank",
    "tde_grid",
    "tde_bank",
    "kilonova_grid",
    "kilonova_bank",
]

_DAY = 86400.0
_MSUN = 1.989e33
_C = 2.99792458e10
_SIGMA_SB = 5.670374e-5
_H = 6.62607015e-27
_KB = 1.380649e-16
_PC10 = 3.0857e19  # 10 pc in cm
_TIME = np.concatenate([np.arange(0.5, 200.0, 1.0), np.arange(200.0, 301.0, 3.0)])  # days


def _blackbody_grid(lum: np.ndarray, temp: np.ndarray, radius: np.ndarray, uv_cut: float):
    """F_lambda at 10 pc (erg/s/cm^2/A) of a blackbody photosphere per epoch -> (P, W)."""
    lam = REST_WAVE * 1e-8  # cm
    x = _H * _C / (lam[None, :] * _KB * temp[:, None])
    with np.errstate(over="ignore"):
        b_lam = 2 * _H * _C**2 / lam[None, :] ** 5 / np.expm1(np.minimum(x, 700.0))
    f = np.pi * b_lam * (radius[:, None] / _PC10) ** 2 * 1e-8  # per Angstrom
    if uv_cut > 0:
        f = f * np.where(REST_WAVE < uv_cut, REST_WAVE / uv_cut, 1.0)[None, :]
    return np.nan_to_num(f)


def _photosphere(lum: np.ndarray, t_s: np.ndarray, v_cm_s: float, t_floor: float):
    """Temperature and radius: expanding photosphere until T reaches ``t_floor``."""
    r = v_cm_s * t_s
    temp = (lum / (4 * np.pi * _SIGMA_SB * r**2)) ** 0.25
    floor = temp < t_floor
    temp = np.where(floor, t_floor, temp)
    r = np.where(floor, np.sqrt(lum / (4 * np.pi * _SIGMA_SB * t_floor**4)), r)
    return temp, r


def _diffuse(t_s: np.ndarray, lum_in: np.ndarray, t_diff: float) -> np.ndarray:
    """Arnett (1982) diffusion: L(t) = e^{-x^2} int 2 L_in(t') (t'/td) e^{x'^2} dt'/td."""
    fine = np.linspace(0.0, t_s[-1], 6000)
    lin = np.interp(fine, t_s, lum_in, left=lum_in[0])
    x = fine / t_diff
    expo = np.minimum(x**2, 600.0)
    integrand = 2.0 * lin * x * np.exp(expo - expo.max()) / t_diff
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(fine))])
    out = cum * np.exp(expo.max() - np.minimum((fine / t_diff) ** 2, 600.0))
    return np.interp(t_s, fine, out)


def _make_grid(
    tid: str, cls: str, subtype: str, time: np.ndarray, flux: np.ndarray, citation: str, params
) -> TemplateGrid:
    g = TemplateGrid(
        id=tid,
        cls=cls,
        subtype=subtype,
        family="physics",
        phase=time.copy(),
        flux=flux,
        wmin=float(REST_WAVE[0]),
        wmax=float(REST_WAVE[-1]),
        source="maven.simulate.physics",
        citation=citation,
        meta=params,
    )
    g.peak_phase = peak_phase_of(g.phase, g.flux)[0]
    return g


def _grid(
    tid: str, cls: str, subtype: str, lum, v_kms: float, t_floor: float, uv_cut: float, params: dict
) -> TemplateGrid:
    t_s = _TIME * _DAY
    temp, r = _photosphere(np.clip(lum, 1e30, None), t_s, v_kms * 1e5, t_floor)
    flux = _blackbody_grid(lum, temp, r, uv_cut)
    return _make_grid(tid, cls, subtype, _TIME, flux, "Nicholl+17 (magnetar), Arnett 1982", params)


def magnetar_grid(
    tid: str,
    p_ms: float,
    b14: float,
    mej: float,
    v_kms: float,
    kappa: float = 0.1,
    kappa_gamma: float = 0.1,
    t_floor: float = 6000.0,
    m_ns: float = 1.4,
) -> TemplateGrid:
    """One magnetar-powered SLSN-I (Nicholl+17 eqs. 1-5; spin-down energy and time scale)."""
    t_s = _TIME * _DAY
    e_p = 2.6e52 * p_ms**-2 * (m_ns / 1.4) ** 1.5
    t_p = 1.3e5 * p_ms**2 * b14**-2 * (m_ns / 1.4) ** 1.5
    lum_in = e_p / t_p / (1.0 + t_s / t_p) ** 2
    t_diff = np.sqrt(2 * kappa * mej * _MSUN / (13.8 * _C * v_kms * 1e5))
    lum = _diffuse(t_s, lum_in, t_diff)
    leak = 3 * kappa_gamma * mej * _MSUN / (4 * np.pi * (v_kms * 1e5) ** 2)
    lum = lum * (1.0 - np.exp(-leak / t_s**2))
    params = {
        "P_ms": p_ms,
        "B_1e14G": b14,
        "Mej_Msun": mej,
        "v_kms": v_kms,
        "kappa": kappa,
        "T_floor_K": t_floor,
    }
    return _grid(tid, "SLSN-I", "SLSN-I", lum, v_kms, t_floor, 3000.0, params)


_NO_FEATURES = (
    "maven.simulate.physics (pure blackbody: no template directory or no DASH SLSN spectra, "
    "so no SLSN-I spectral features)"
)


def _with_features(g: TemplateGrid, feats, depth: float) -> TemplateGrid:
    """``g`` times the feature ratio of one real SLSN-I (``feats``, a
    :class:`~maven.simulate.slsn_features.SlsnFeatures`) at each phase from peak, line depth
    scaled as ``ratio ** depth``; per phase the mean F_lambda over 3500-9000 A is kept."""
    ratio = feats.at(g.phase - g.peak_phase) ** depth
    flux = g.flux * ratio
    band = (REST_WAVE >= 3500.0) & (REST_WAVE <= 9000.0)
    before, after = g.flux[:, band].sum(axis=1), flux[:, band].sum(axis=1)
    flux *= np.where(after > 0, before / np.where(after > 0, after, 1.0), 1.0)[:, None]
    meta = dict(g.meta, features=feats.obj, feature_depth=round(depth, 3))
    meta["feature_phases"] = ",".join(f"{p:+g}" for p in feats.phase)
    return _make_grid(
        g.id,
        g.cls,
        g.subtype,
        g.phase,
        flux,
        g.citation + "; features of " + feats.obj + " (DASH SLSN spectra, Muthukrishna+19)",
        meta,
    )


def magnetar_bank(
    n: int = 32, seed: int = 20170, template_dir: Path | None = None
) -> list[TemplateGrid]:
    """A fixed bank of ``n`` magnetar models (``magnetar-000``...), parameters drawn once with
    a fixed seed from ranges of the Nicholl+17 SLSN-I posteriors (P ~ 1-6 ms, B ~ 0.1-3e14 G,
    Mej ~ 2-20 Msun, v ~ 6000-15000 km/s, T_floor ~ 5000-8000 K).

    With a template directory holding the DASH training set, each model's blackbody SED is
    multiplied by the spectral features of one real SLSN-I
    (:mod:`maven.simulate.slsn_features`): the held-out ids (``HELDOUT["SLSN-I"]``) take the
    objects of :data:`~maven.simulate.slsn_features.HELDOUT_OBJECTS` in turn, the others the
    remaining objects in name order; line depth ``ratio ** d``, d ~ U(0.7, 1.3) from a second
    fixed seed (the physical parameters do not change). Without one: pure blackbodies."""
    grids = _magnetar_models(n, seed)
    feats = load_slsn_features(template_dir)
    if not feats:
        for g in grids:
            g.source = _NO_FEATURES
            g.meta["features"] = "none (pure blackbody)"
        return grids
    held_objs = [o for o in HELDOUT_OBJECTS if o in feats]
    train_objs = [o for o in feats if o not in HELDOUT_OBJECTS]
    held_ids = set(HELDOUT.get("SLSN-I", ()))
    depth_rng = np.random.default_rng(seed + 1)
    out, n_held, n_train = [], 0, 0
    for g in grids:
        if g.id in held_ids and held_objs:
            obj, n_held = held_objs[n_held % len(held_objs)], n_held + 1
        else:
            obj, n_train = train_objs[n_train % len(train_objs)], n_train + 1
        f = _with_features(g, feats[obj], float(depth_rng.uniform(0.7, 1.3)))
        f.source = f"maven.simulate.physics + SLSN-I features of {obj} ({DASH_TARBALL})"
        out.append(f)
    return out


def _magnetar_models(n: int, seed: int) -> list[TemplateGrid]:
    """The pure-blackbody magnetar models of :func:`magnetar_bank`."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        out.append(
            magnetar_grid(
                f"magnetar-{i:03d}",
                p_ms=float(np.clip(rng.lognormal(np.log(2.4), 0.35), 1.0, 6.0)),
                b14=float(np.clip(rng.lognormal(np.log(0.8), 0.6), 0.1, 3.0)),
                mej=float(np.clip(rng.lognormal(np.log(5.0), 0.55), 2.0, 20.0)),
                v_kms=float(rng.uniform(6000.0, 15000.0)),
                kappa=float(rng.uniform(0.1, 0.2)),
                t_floor=float(rng.uniform(5000.0, 8000.0)),
            )
        )
    return out


def _nickel(t_s: np.ndarray, m_ni: float) -> np.ndarray:
    """56Ni + 56Co decay power (erg/s), Nadyozhin 1994."""
    t_d = t_s / _DAY
    return m_ni * (6.45e43 * np.exp(-t_d / 8.8) + 1.45e43 * np.exp(-t_d / 111.3))


def fallback_bank() -> list[TemplateGrid]:
    """Physics stand-ins for II, Ibc and IIn when no template directory exists."""
    t_s = _TIME * _DAY
    out = []
    for i, (mni, mej, v) in enumerate(
        [(0.1, 2.0, 9000.0), (0.2, 3.0, 11000.0), (0.4, 4.0, 20000.0)]
    ):
        td = np.sqrt(2 * 0.07 * mej * _MSUN / (13.8 * _C * v * 1e5))
        lum = _diffuse(t_s, _nickel(t_s, mni), td)
        sub = "Ic-BL" if v > 15000 else "Ib/c"
        out.append(
            _grid(
                f"physics-ibc-{i}",
                "Ibc",
                sub,
                lum,
                v,
                4500.0,
                3500.0,
                {"M_Ni": mni, "Mej_Msun": mej, "v_kms": v},
            )
        )
    for i, (lp, tp) in enumerate([(1e42, 100.0), (2e42, 80.0), (5e42, 60.0)]):
        t_d = _TIME
        plateau = lp / (1.0 + np.exp((t_d - tp) / 4.0)) * (1 - np.exp(-t_d / 3.0))
        lum = plateau + _nickel(t_s, 0.04) * (t_d > tp / 2)
        out.append(
            _grid(
                f"physics-ii-{i}",
                "II",
                "IIP" if tp > 70 else "IIL",
                lum,
                8000.0,
                5500.0,
                3000.0,
                {"L_plateau": lp, "t_plateau_d": tp},
            )
        )
    for i, (lpk, trise, alpha) in enumerate([(5e42, 20.0, 1.5), (1e43, 35.0, 1.0)]):
        t_d = _TIME
        lum = lpk * (t_d / trise) ** 2 / (1 + (t_d / trise) ** (2 + alpha))
        out.append(
            _grid(
                f"physics-iin-{i}",
                "IIn",
                "IIn",
                lum,
                5000.0,
                7000.0,
                0.0,
                {"L_peak": lpk, "t_rise_d": trise, "alpha": alpha},
            )
        )
    return out


# --------------------------------------------------------------------------- novel classes


def _line_bumps(flux: np.ndarray, lines: dict[float, float], fwhm_kms: float) -> np.ndarray:
    """Add Gaussian emission lines of rest equivalent width ``lines[center]`` (A) on top of
    the continuum at each line centre."""
    out = flux.copy()
    for center, ew in lines.items():
        sigma = center * fwhm_kms / 2.99792458e5 / 2.3548
        prof = np.exp(-0.5 * ((REST_WAVE - center) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
        cont = flux[:, int(np.argmin(np.abs(REST_WAVE - center)))]
        out += ew * cont[:, None] * prof[None, :]
    return out


def tde_grid(
    tid: str,
    log_lpeak: float,
    t_rise: float,
    alpha: float = 5.0 / 3.0,
    tau: float = 60.0,
    temp0: float = 3.0e4,
    cooling: float = 0.1,
    ew_halpha: float = 150.0,
    ew_heii: float = 60.0,
    fwhm_kms: float = 1.0e4,
) -> TemplateGrid:
    """One tidal disruption event: a hot blackbody with a half-Gaussian rise over ``t_rise``
    days to 10^``log_lpeak`` erg/s, then L = L_peak (1 + (t - t_rise)/tau)^-alpha; T =
    ``temp0`` before peak, cooling linearly by the fraction ``cooling`` over 200 d after it;
    broad H-alpha and He II 4686 bumps of rest equivalent widths ``ew_*`` (A)."""
    t = _TIME
    lpk = 10.0**log_lpeak
    after = np.clip(t - t_rise, 0.0, None)
    rise = np.exp(-0.5 * ((t - t_rise) / (t_rise / 2.5)) ** 2)
    lum = lpk * np.where(t < t_rise, rise, (1.0 + after / tau) ** -alpha)
    temp = temp0 * (1.0 - cooling * np.clip(after / 200.0, 0.0, 1.0))
    radius = np.sqrt(lum / (4 * np.pi * _SIGMA_SB * temp**4))
    flux = _blackbody_grid(lum, temp, radius, 0.0)
    flux = _line_bumps(flux, {6563.0: ew_halpha, 4686.0: ew_heii}, fwhm_kms)
    params = {
        "log_Lpeak": log_lpeak,
        "t_rise_d": t_rise,
        "alpha": alpha,
        "tau_d": tau,
        "T0_K": temp0,
        "cooling": cooling,
        "EW_Halpha": ew_halpha,
        "EW_HeII": ew_heii,
    }
    return _make_grid(tid, "TDE", "TDE", t, flux, "van Velzen+21 (ApJ 908 4), Gezari 2021", params)


def tde_bank(n: int = 32, seed: int = 20210) -> list[TemplateGrid]:
    """A fixed bank of ``n`` TDE models (``tde-000``...), parameters drawn once with a fixed
    seed: log L_peak ~ U(43.5, 44.5), t_rise ~ U(20, 40) d, alpha ~ N(5/3, 0.15) in
    [1.3, 2.1], tau ~ U(40, 100) d, T0 ~ U(2, 4)e4 K, cooling ~ U(0, 0.25), EW(H-alpha) ~
    U(50, 300) A, EW(He II) ~ U(0, 150) A, FWHM ~ U(0.7, 1.5)e4 km/s."""
    rng = np.random.default_rng(seed)
    return [
        tde_grid(
            f"tde-{i:03d}",
            log_lpeak=float(rng.uniform(43.5, 44.5)),
            t_rise=float(rng.uniform(20.0, 40.0)),
            alpha=float(np.clip(rng.normal(5.0 / 3.0, 0.15), 1.3, 2.1)),
            tau=float(rng.uniform(40.0, 100.0)),
            temp0=float(rng.uniform(2.0e4, 4.0e4)),
            cooling=float(rng.uniform(0.0, 0.25)),
            ew_halpha=float(rng.uniform(50.0, 300.0)),
            ew_heii=float(rng.uniform(0.0, 150.0)),
            fwhm_kms=float(rng.uniform(7.0e3, 1.5e4)),
        )
        for i in range(n)
    ]


_KN_TIME = np.concatenate([np.arange(0.05, 5.0, 0.1), np.arange(5.0, 30.01, 0.5)])  # days


def kilonova_grid(
    tid: str, m_ej: float, v_c: float, kappa: float, t_floor: float, eps_th: float = 0.5
) -> TemplateGrid:
    """One kilonova (physics fallback): r-process heating through Arnett diffusion, expanding
    photosphere at ``v_c`` (units of c) with temperature floor ``t_floor`` (K)."""
    t_s = _KN_TIME * _DAY
    heat = eps_th * m_ej * _MSUN * 2.0e10 * (_KN_TIME**-1.3)
    t_diff = np.sqrt(2 * kappa * m_ej * _MSUN / (13.8 * _C * v_c * _C))
    lum = np.clip(_diffuse(t_s, heat, t_diff), 1e30, None)
    temp, r = _photosphere(lum, t_s, v_c * _C, t_floor)
    flux = _blackbody_grid(lum, temp, r, 0.0)
    params = {"Mej_Msun": m_ej, "v_c": v_c, "kappa": kappa, "T_floor_K": t_floor}
    g = _make_grid(tid, "KN", "KN", _KN_TIME, flux, "Metzger 2019 (LRR 23 1), Arnett 1982", params)
    g.meta["abs_mag_native"] = True
    return g


def kilonova_bank() -> list[TemplateGrid]:
    """Three physics kilonovae (blue, intermediate, red) standing in for Kasen+17."""
    return [
        kilonova_grid(f"physics-kn-{i}", m, v, k, tf)
        for i, (m, v, k, tf) in enumerate(
            [(0.04, 0.25, 0.5, 4000.0), (0.04, 0.15, 1.0, 3000.0), (0.05, 0.1, 3.0, 2500.0)]
        )
    ]
