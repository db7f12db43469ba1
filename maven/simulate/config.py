"""The simulator's configuration: :class:`SimConfig` (validated on construction) and its
:data:`PRESETS`; what each field means is in the class docstring, how a simulation uses it in
:mod:`maven.simulate.simulator`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from maven.data.types import DEFAULT_CLASSES
from maven.errors import ConfigError
from maven.simulate.followup import FOLLOWUP
from maven.simulate.grid import (
    NOVEL_CLASSES,
)
from maven.simulate.survey import (
    SURVEYS,
)

__all__ = ["PRESETS", "SimConfig"]

_HELDOUT_MODES = ("exclude", "include", "only")
_PHOTOMETRY = ("auto", "forced", "alert")


@dataclass
class SimConfig:
    """Simulation settings (validated; bad values raise :class:`ConfigError`).

    Attributes:
        survey: ``"ztf"``, ``"lsst"`` (cadence surveys: pointing logs, footprints, alert
            streams) or ``"followup"``: follow-up photometry shaped like the real development
            set (several telescopes and filter systems, schedule, band mix, SNR at a given
            magnitude and peak-magnitude selection from the shipped table of
            :mod:`maven.simulate.followup`; forced-style points with non-detections; no
            cadence file, so ``cadence`` and ``alert_bands`` do not apply).
        classes: classes to simulate, from :data:`DEFAULT_CLASSES` (the default) and the
            novel classes :data:`NOVEL_CLASSES` ("TDE", "KN", "Ia-91bg"; never simulated
            unless listed, see the module docstring); ``class_weights`` (class -> weight)
            defaults to balanced.
        template_dir: the template directory (``None``: ``$MAVEN_TEMPLATE_DIR``, else the
            fallback, with a logged warning; never searched for); ``use_templates=False`` forces
            the fallback (sncosmo's bundled Hsiao + physics models).
        heldout: ``"exclude"`` (training sets), ``"only"`` (test sets) or ``"include"``;
            novel classes are held out as a whole and are not filtered.
        heldout_subtypes: subtypes held out on request on top of :data:`HELDOUT`, e.g.
            ``("Ic-BL",)``: every template of that subtype counts as held out (``"exclude"``
            drops them, ``"only"`` draws them; they keep their class, e.g. Ibc).
        cadence: ``"auto"`` (real if present, else synthetic), ``"real"`` or ``"synthetic"``.
        z_min, z_max: redshift range; ``z_max=None`` sets a class-dependent depth from
            ``depth_mag`` (default the survey's) and the bright end of the luminosity function,
            capped at ``z_cap``.
        min_detections, snr_detect, min_detection_gap_days: trigger rule: at least
            ``min_detections`` points at SNR >= ``snr_detect`` of which at least one pair is
            ``min_detection_gap_days`` apart (default 30 min, ZTF's rule against asteroids and
            artefacts; 0 turns it off; :func:`~maven.simulate.survey.passes_trigger`).
        photometry: what a light curve holds. ``"forced"``: every visit in the window
            (non-detections included), all survey bands, forced-photometry noise with
            ``calib_floor`` (the simulator's behaviour before this option, e.g. for the
            ``weights/maven-base`` pre-training). ``"alert"``: alert-stream photometry: only the
            detections (SNR >= ``snr_detect``), only ``alert_bands`` (default the survey's
            public alert bands: ZTF g and r, Rubin all six), and the survey's public stream
            (:class:`~maven.simulate.survey.AlertStream`; ZTF: difference-image errors
            measured on the BTS alert light curves, a 0.022 floor instead of ``calib_floor``,
            one visit per band and night on 70 % of the field-nights of the pointing log;
            Rubin: every visit, the forced noise, uncalibrated).
            ``"auto"`` (default): ``"alert"`` for ZTF (the real ZTF light curves the model is
            fine-tuned on are mostly BTS alert photometry), ``"forced"`` for Rubin.
        alert_bands: bands kept by ``photometry="alert"`` (``None``: the survey's public ones).
        max_peak_mag: optional selection like a spectroscopic survey's (e.g. 18.5 for the ZTF
            Bright Transient Survey): the brightest detection must be brighter than this AB
            magnitude. ``None`` (default): the photometric trigger only.
        pre_days, max_phase: light-curve window, rest-frame days before the template start and
            after peak.
        calib_floor: fractional flux error floor of forced photometry (alert photometry uses
            the survey's measured alert floor, see ``photometry``).
        n_spectra: spectra per object; ``spec_phase``: rest-frame days from peak (uniform);
            ``spec_snr``: per-pixel SNR range (log-uniform).
        host_light: probability that a spectrum holds host-galaxy light (default 0.5: real
            classification spectra of SNe in galaxies usually do; 0 turns it off and leaves the
            spectra as without the feature). Host type per SN class, templates and the host
            fraction definition: :mod:`maven.simulate.host`.
        host_fraction: range (log-uniform) of the host fraction f_host = host / SN mean
            F_lambda in observer 5500-7000 A; truth in the spectrum's ``meta``
            (``host_template``, ``host_fraction``; ``None`` / 0 without host).
        chip_gaps: drop the pixels of the instruments' chip gaps (``sim-lowres``: 30-60 A at
            5000-6500 A, drawn per spectrum; ``meta["chip_gap"]``).
            Host and chip-gap draws come from their own random stream per object, so they
            never change the light curves or the spectral noise.
        noiseless: no noise (for checks).
        max_draws_per_object: give up (MavenError) after this many draws per requested object
            (times 10 when "KN" is simulated: kilonovae rarely trigger).
    """

    survey: str = "ztf"
    classes: tuple[str, ...] = DEFAULT_CLASSES
    class_weights: dict[str, float] | None = None
    template_dir: str | None = None
    use_templates: bool = True
    heldout: str = "exclude"
    heldout_subtypes: tuple[str, ...] = ()
    cadence: str = "auto"
    z_min: float = 0.005
    z_max: float | None = None
    z_cap: float = 2.5
    depth_mag: float | None = None
    min_detections: int = 2
    snr_detect: float = 5.0
    min_detection_gap_days: float = 30.0 / 1440.0
    photometry: str = "auto"
    alert_bands: tuple[str, ...] | None = None
    max_peak_mag: float | None = None
    pre_days: float = 20.0
    max_phase: float = 150.0
    calib_floor: float = 0.005
    n_spectra: int = 1
    spec_phase: tuple[float, float] = (-5.0, 15.0)
    spec_snr: tuple[float, float] = (5.0, 50.0)
    host_light: float = 0.5
    host_fraction: tuple[float, float] = (0.05, 1.0)
    chip_gaps: bool = True
    noiseless: bool = False
    max_draws_per_object: int = 200

    def __post_init__(self) -> None:
        self.classes = tuple(self.classes)
        hs = self.heldout_subtypes
        self.heldout_subtypes = (hs,) if isinstance(hs, str) else tuple(hs)
        self.spec_phase = tuple(self.spec_phase)
        self.spec_snr = tuple(self.spec_snr)
        if self.alert_bands is not None:
            ab = self.alert_bands
            self.alert_bands = (ab,) if isinstance(ab, str) else tuple(ab)
        self.host_fraction = tuple(self.host_fraction)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field (see the class docstring)."""
        from maven.utils.checks import check_bool, check_choice, check_int, check_number, fail

        cfg = "simulation"

        def bad(msg: str) -> None:
            raise ConfigError(f"simulation config: {msg}")

        check_choice(cfg, "survey", self.survey, sorted([*SURVEYS, FOLLOWUP]))
        if self.survey == FOLLOWUP and self.photometry == "alert":
            bad("photometry='alert' needs a survey with an alert stream, not 'followup'")
        if self.survey == FOLLOWUP and self.alert_bands is not None:
            bad("alert_bands do not apply to survey 'followup' (its bands come from its table)")
        if not self.classes:
            bad("classes is empty")
        known = DEFAULT_CLASSES + NOVEL_CLASSES
        unknown = [c for c in self.classes if c not in known]
        if unknown:
            bad(f"unknown classes {unknown}; known: {list(known)}")
        if self.class_weights is not None:
            extra = set(self.class_weights) - set(self.classes)
            if extra:
                bad(f"class_weights names classes not simulated: {sorted(extra)}")
            for c, w in self.class_weights.items():
                check_number(cfg, f"class_weights[{c!r}]", w, minimum=0)
            if sum(self.class_weights.get(c, 0.0) for c in self.classes) <= 0:
                bad("class_weights sum to zero")
        check_choice(cfg, "heldout", self.heldout, _HELDOUT_MODES)
        if not all(isinstance(t, str) and t for t in self.heldout_subtypes):
            fail(cfg, "heldout_subtypes", "non-empty strings", self.heldout_subtypes)
        check_choice(cfg, "cadence", self.cadence, ("auto", "real", "synthetic"))
        check_number(cfg, "z_cap", self.z_cap, above=0, maximum=4.0)
        check_number(cfg, "z_min", self.z_min, above=0, below=self.z_cap)
        check_number(cfg, "z_max", self.z_max, above=self.z_min, maximum=4.0, optional=True)
        check_number(cfg, "depth_mag", self.depth_mag, optional=True)
        check_int(cfg, "min_detections", self.min_detections, minimum=0)
        check_number(cfg, "snr_detect", self.snr_detect, above=0)
        check_number(
            cfg, "min_detection_gap_days", self.min_detection_gap_days, minimum=0, maximum=30
        )
        check_choice(cfg, "photometry", self.photometry, _PHOTOMETRY)
        if self.alert_bands is not None and self.survey in SURVEYS:
            known_bands = SURVEYS[self.survey].bands
            if not self.alert_bands or any(b not in known_bands for b in self.alert_bands):
                fail(
                    cfg,
                    "alert_bands",
                    f"a non-empty subset of the {self.survey} bands {list(known_bands)}",
                    list(self.alert_bands),
                )
        check_number(cfg, "max_peak_mag", self.max_peak_mag, above=5.0, below=35.0, optional=True)
        check_number(cfg, "pre_days", self.pre_days, minimum=0)
        check_number(cfg, "max_phase", self.max_phase, above=0)
        check_number(cfg, "calib_floor", self.calib_floor, minimum=0, below=1)
        check_int(cfg, "n_spectra", self.n_spectra, minimum=0, maximum=20)
        for name, low, high in (
            ("spec_phase", None, None),
            ("spec_snr", 0, None),
            ("host_fraction", 0, 100),
        ):
            pair = getattr(self, name)
            if len(pair) != 2:
                fail(cfg, name, "a pair (lo, hi)", pair)
            lo = check_number(cfg, f"{name}[0]", pair[0], above=low)
            check_number(cfg, f"{name}[1]", pair[1], minimum=lo, maximum=high)
        check_number(cfg, "host_light", self.host_light, minimum=0, maximum=1)
        check_bool(cfg, "chip_gaps", self.chip_gaps)
        for name in ("use_templates", "noiseless"):
            check_bool(cfg, name, getattr(self, name))
        check_int(cfg, "max_draws_per_object", self.max_draws_per_object, minimum=1)

    @classmethod
    def from_dict(cls, d: dict) -> SimConfig:
        """From a plain mapping (YAML/JSON); unknown keys raise :class:`ConfigError`."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"simulation config: unknown keys {unknown}; known: {sorted(names)}")
        return cls(**d)

    @property
    def photometry_mode(self) -> str:
        """``photometry`` with ``"auto"`` resolved: ``"alert"`` for ZTF, else ``"forced"``
        (``"followup"``: forced-style points, non-detections included)."""
        if self.photometry == "auto":
            return "alert" if self.survey == "ztf" else "forced"
        return self.photometry

    def kept_bands(self) -> tuple[str, ...]:
        """The survey bands a light curve holds (all of them for forced photometry; the
        ``"followup"`` stream's bands come from its table: ``()``)."""
        if self.survey == FOLLOWUP:
            return ()
        spec = SURVEYS[self.survey]
        if self.photometry_mode != "alert":
            return spec.bands
        if self.alert_bands is not None:
            return self.alert_bands
        return spec.alert.bands if spec.alert is not None else spec.bands

    @classmethod
    def preset(cls, name: str, **overrides) -> SimConfig:
        """A named preset (:data:`PRESETS`) with overrides."""
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; known: {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    @classmethod
    def from_yaml(cls, path, preset: str = "default", **overrides) -> SimConfig:
        """A preset with the fields of a YAML file, then the ``overrides`` that are not
        ``None``.

        Raises:
            ConfigError: an unreadable file, unknown keys or bad values.
        """
        from maven.utils.checks import check_keys, read_yaml

        raw = read_yaml(path, "simulation")
        raw.update({k: v for k, v in overrides.items() if v is not None})
        check_keys("simulation", raw, [f.name for f in fields(cls)], str(path))
        return cls.preset(preset, **raw)

    def to_dict(self) -> dict:
        """The configuration as a plain dict, tuples as lists (for YAML, JSON and manifests)."""
        d = asdict(self)
        d["classes"] = list(self.classes)
        d["heldout_subtypes"] = list(self.heldout_subtypes)
        d["spec_phase"], d["spec_snr"] = list(self.spec_phase), list(self.spec_snr)
        if self.alert_bands is not None:
            d["alert_bands"] = list(self.alert_bands)
        d["host_fraction"] = list(self.host_fraction)
        return d


#: ``tiny``: runs anywhere in a second (fallback sources, synthetic cadence); ``default``.
PRESETS: dict[str, dict] = {
    "default": {},
    "tiny": {"use_templates": False, "cadence": "synthetic"},
}
