"""MavenProcessor: outputs, token budget, spectra, determinism, augmentation, errors, I/O."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from maven.data.records import LightCurve, Spectrum, Supernova
from maven.errors import ConfigError, MavenError
from maven.models import MavenProcessor
from maven.models.processing_maven import _budget


def make_lc(n: int = 30, bands=("ztf::g", "ztf::r"), peak: float = 59010.0) -> LightCurve:
    rng = np.random.default_rng(n)
    t = np.sort(rng.uniform(59000, 59060, n))
    band = np.array([bands[i % len(bands)] for i in range(n)])
    flux = 1000 * np.exp(-0.5 * ((t - peak) / 6) ** 2) + 5
    err = np.full(n, 10.0)
    return LightCurve(t, band, flux, err, flux > 30, object_id="lc")


def make_spectrum(mjd: float | None = 59012.0, lo=3500.0, hi=9000.0, err=True) -> Spectrum:
    wave = np.linspace(lo, hi, 900)
    flux = 2e-16 * (1 + 0.5 * np.exp(-0.5 * ((wave - 6150) / 100) ** 2))
    return Spectrum(wave, flux, np.full(wave.size, 1e-18) if err else None, mjd=mjd)


def make_sn(name="SN1", **kw) -> Supernova:
    return Supernova(name, lightcurve=make_lc(**kw), spectra=[make_spectrum()], redshift=0.05)


def test_output_keys_shapes_dtypes():
    proc = MavenProcessor(spectrum_bins=256)
    out = proc([make_sn("a", n=30), make_sn("b", n=10)])
    assert set(out.keys()) == set(MavenProcessor.model_input_names)
    assert out["photometry_values"].shape == (2, 30, 3)
    assert out["photometry_values"].dtype == torch.float32
    assert out["photometry_mask"].dtype == torch.bool
    assert out["photometry_mask"].sum(1).tolist() == [30, 10]
    assert out["spectrum_values"].shape == (2, 256, 2)
    assert out["spectrum_wavelength"].shape == (2, 256)
    assert out["has_photometry"].all() and out["has_spectrum"].all()
    assert out["redshift_mask"].all()
    assert torch.allclose(out["redshift"], torch.tensor([0.05, 0.05]))
    # padding is zeros
    assert (out["photometry_values"][1, 10:] == 0).all()
    np_out = proc([make_sn()], return_tensors="np")
    assert isinstance(np_out["photometry_values"], np.ndarray)


def test_photometry_encoding():
    lc = make_lc(n=20)
    out = MavenProcessor()(lightcurves=[lc], return_tensors="np")
    det = lc.detected
    scale = max(np.percentile(np.abs(lc.flux[det]), 95), np.median(lc.flux_err))
    assert out["photometry_scale"][0] == pytest.approx(math.log10(scale), rel=1e-6)
    vals = out["photometry_values"][0]
    np.testing.assert_allclose(vals[:, 0], np.arcsinh(lc.flux / scale), rtol=1e-5)
    np.testing.assert_allclose(vals[:, 1], np.arcsinh(lc.flux_err / scale), rtol=1e-5)
    np.testing.assert_array_equal(vals[:, 2], det.astype(np.float32))
    # reference = time of the brightest detection
    t_peak = lc.time[det][np.argmax(lc.flux[det])]
    np.testing.assert_allclose(out["photometry_time"][0], lc.time - t_peak, atol=1e-3)
    from maven.data.bands import get_band

    expected = [math.log10(get_band(b).wave_eff) for b in lc.band]
    np.testing.assert_allclose(out["photometry_wavelength"][0], expected, rtol=1e-6)
    first = MavenProcessor(time_reference="first_detection")(lightcurves=[lc], return_tensors="np")
    assert first["photometry_time"][0][det][0] == pytest.approx(0.0)


def test_token_budget_is_deterministic_and_balanced():
    lc = make_lc(n=600, bands=("ztf::g", "ztf::r", "ztf::i"))
    proc = MavenProcessor(max_tokens=64)
    a = proc(lightcurves=[lc], return_tensors="np")
    b = proc(lightcurves=[lc], return_tensors="np")
    assert a["photometry_mask"].shape == (1, 64) and a["photometry_mask"].all()
    np.testing.assert_array_equal(a["photometry_time"], b["photometry_time"])
    # band shares are proportional (200 each -> 21/21/22 in some order)
    counts = np.unique(a["photometry_wavelength"][0], return_counts=True)[1]
    assert sorted(counts.tolist()) == [21, 21, 22]
    # kept points span the whole light curve in each band
    assert a["photometry_time"][0].max() - a["photometry_time"][0].min() > 50


def test_budget_rule():
    band = np.array(["a"] * 90 + ["b"] * 9 + ["c"])
    idx = _budget(band, 10)
    assert len(idx) == 10 and len(set(idx.tolist())) == 10
    kept = band[idx]
    assert (kept == "c").sum() == 1 and (kept == "b").sum() >= 1
    assert idx[0] == 0 and 89 in idx  # evenly spaced, ends included
    assert np.array_equal(_budget(band, 200), np.arange(100))


def test_spectrum_resampling_and_choice():
    proc = MavenProcessor(spectrum_bins=128)
    early, peak = make_spectrum(mjd=58990.0, lo=4000), make_spectrum(mjd=59011.0)
    sn = Supernova("s", lightcurve=make_lc(), spectra=[early, peak])
    out = proc(sn, return_tensors="np")
    mask = out["spectrum_mask"][0]
    waves = 10 ** out["spectrum_wavelength"][0]
    # the spectrum closest to the light-curve peak (3500-9000 A) is chosen
    assert mask[(waves > 3550) & (waves < 8950)].all()
    assert not mask[waves < 3450].any() and not mask[waves > 9100].any()
    # normalised by the median: continuum ~ asinh(1)
    flux = np.sinh(out["spectrum_values"][0, mask, 0])
    assert np.median(flux) == pytest.approx(1.0, rel=0.05)
    # without light curve: the first spectrum
    out2 = proc(spectra=[[early, peak]], return_tensors="np")
    assert not out2["spectrum_mask"][0][waves < 3950].any()
    # no error array: still finite, error channel estimated and positive
    out3 = proc(spectra=[make_spectrum(err=False)], return_tensors="np")
    assert np.isfinite(out3["spectrum_values"]).all()
    assert (out3["spectrum_values"][0, out3["spectrum_mask"][0], 1] > 0).all()


def test_spectrum_gap_is_masked():
    wave = np.concatenate([np.linspace(3500, 5000, 400), np.linspace(6000, 9000, 600)])
    sp = Spectrum(wave, np.ones(wave.size))
    out = MavenProcessor(spectrum_bins=128)(spectra=[sp], return_tensors="np")
    waves = 10 ** out["spectrum_wavelength"][0]
    mask = out["spectrum_mask"][0]
    assert not mask[(waves > 5100) & (waves < 5900)].any()
    assert mask[(waves > 3600) & (waves < 4900)].all()


def test_spectrum_outside_grid_counts_as_missing():
    nir = Spectrum(np.linspace(11000, 24000, 100), np.ones(100))
    out = MavenProcessor()(lightcurves=[make_lc()], spectra=[nir])
    assert out["has_photometry"].tolist() == [True]
    assert out["has_spectrum"].tolist() == [False]
    assert not out["spectrum_mask"].any()


def test_missing_modalities_are_masked_rows():
    proc = MavenProcessor()
    out = proc(lightcurves=[make_lc(), None], spectra=[None, make_spectrum()])
    assert out["has_photometry"].tolist() == [True, False]
    assert out["has_spectrum"].tolist() == [False, True]
    assert not out["photometry_mask"][1].any() and not out["spectrum_mask"][0].any()
    assert not out["redshift_mask"].any()


def test_deterministic_without_augment_and_varied_with():
    proc = MavenProcessor()
    sne = [make_sn("a", n=40), make_sn("b", n=25)]
    a, b = proc(sne), proc(sne)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    c = proc(sne, augment=np.random.default_rng(1))
    d = proc(sne, augment=np.random.default_rng(2))
    e = proc(sne, augment=np.random.default_rng(1))
    differs = lambda x, y: any(  # noqa: E731
        x[k].shape != y[k].shape or not torch.equal(x[k], y[k]) for k in x
    )
    assert differs(a, c) and differs(c, d)
    assert not differs(c, e)  # same seed, same batch
    for key in ("photometry_values", "photometry_time", "spectrum_values"):
        assert torch.isfinite(c[key]).all()


def test_bad_inputs_raise_maven_error():
    proc = MavenProcessor()
    with pytest.raises(MavenError):
        proc()
    with pytest.raises(MavenError):
        proc([])
    with pytest.raises(MavenError):
        proc(["not a supernova"])
    with pytest.raises(MavenError):
        proc("SN2011fe")
    with pytest.raises(MavenError):
        proc(lightcurves=[make_spectrum()])
    with pytest.raises(MavenError):
        proc(lightcurves=make_lc())
    with pytest.raises(MavenError):
        proc(spectra=[np.ones(10)])
    with pytest.raises(MavenError):
        proc(lightcurves=[make_lc(), make_lc()], spectra=[make_spectrum()])
    with pytest.raises(MavenError):
        proc(lightcurves=[None], spectra=[None])
    with pytest.raises(MavenError):
        proc([make_sn()], lightcurves=[make_lc()])
    with pytest.raises(MavenError):
        proc([make_sn()], return_tensors="tf")
    with pytest.raises(MavenError):
        proc([make_sn()], augment=42)
    with pytest.raises(MavenError):
        proc(lightcurves=[make_lc()], redshifts=["high"])
    bad_band = LightCurve([1.0, 2.0], ["nowhere::x", "nowhere::x"], [1.0, 2.0], [1.0, 1.0])
    with pytest.raises(MavenError):
        proc(lightcurves=[bad_band])


def test_extra_band_wavelengths():
    lc = LightCurve([1.0, 2.0], ["mycam::Z", "mycam::Z"], [1.0, 2.0], [1.0, 1.0])
    out = MavenProcessor(extra_band_wavelengths={"mycam::Z": 9000.0})(lightcurves=[lc])
    assert out["photometry_wavelength"][0, 0].item() == pytest.approx(math.log10(9000.0))


def test_bad_options_raise_config_error():
    with pytest.raises(ConfigError):
        MavenProcessor(max_tokens=0)
    with pytest.raises(ConfigError):
        MavenProcessor(time_reference="middle")
    with pytest.raises(ConfigError):
        MavenProcessor(spectrum_wave_min=9000, spectrum_wave_max=3000)
    with pytest.raises(ConfigError):
        MavenProcessor(no_such_option=1)


def test_save_load_round_trip(tmp_path):
    proc = MavenProcessor(max_tokens=100, spectrum_bins=256, extra_band_wavelengths={"x::y": 5e3})
    path = proc.save_pretrained(tmp_path)
    assert path.name == "processor_config.json"
    loaded = MavenProcessor.from_pretrained(tmp_path)
    assert loaded.to_dict() == proc.to_dict()
    sne = [make_sn("a"), make_sn("b", n=12)]
    a, b = proc(sne), loaded(sne)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    with pytest.raises(ConfigError):
        MavenProcessor.from_pretrained(tmp_path / "missing")


@pytest.mark.realdata
def test_real_objects_process_and_embed(real_data):
    """Every object of the PLUS/WISeREP folder: finite tensors and embeddings."""
    from maven.io import read_supernovae
    from maven.models import MavenConfig, MavenModel

    folder = real_data / "pplus_wiserep"
    if not folder.exists():
        pytest.skip(f"{folder} not found")
    sne = read_supernovae(folder)
    proc = MavenProcessor()
    model = MavenModel(MavenConfig.from_preset("tiny")).eval()
    for augment in (None, np.random.default_rng(0)):
        batch = proc(sne, augment=augment)
        for key, value in batch.items():
            assert torch.isfinite(value.float()).all(), key
        with torch.no_grad():
            out = model(**batch, return_loss=True)
        assert torch.isfinite(out.photometry_embeds).all()
        assert torch.isfinite(out.spectrum_embeds).all()
        assert torch.isfinite(out.loss)


def _line_spectrum(z: float) -> Spectrum:
    """A flat spectrum with one emission line at 6150 (1 + z) A."""
    wave = np.linspace(3000, 9800, 1500)
    flux = 1 + 2 * np.exp(-0.5 * ((wave - 6150 * (1 + z)) / 40) ** 2)
    return Spectrum(wave, flux, np.full(wave.size, 0.05), flux_unit="uncalibrated")


def _peak_wave(out, i: int = 0) -> float:
    return float(10 ** out["spectrum_wavelength"][i][np.argmax(out["spectrum_values"][i, :, 0])])


def test_rest_frame_spectra_put_lines_in_the_same_bins():
    """spectrum_frame="rest": a line observed at 6150 (1 + z) A lands in the 6150 A bin at
    every known redshift; without a redshift a rest-frame processor gives no spectrum (it is
    never fed an observer-frame one), and hiding the redshift token keeps the rest frame."""
    rest = MavenProcessor(spectrum_bins=256, spectrum_frame="rest")
    observer = MavenProcessor(spectrum_bins=256)
    for z in (0.0, 0.1, 0.3):
        spec = _line_spectrum(z)
        out = rest(spectra=[spec], redshifts=[z], return_tensors="np")
        assert out["redshift_mask"][0] and out["has_spectrum"][0]
        assert _peak_wave(out) == pytest.approx(6150, rel=0.01)
        out = observer(spectra=[spec], redshifts=[z], return_tensors="np")
        assert _peak_wave(out) == pytest.approx(6150 * (1 + z), rel=0.01)
    unknown = rest(spectra=[_line_spectrum(0.3)], redshifts=[None], return_tensors="np")
    assert not unknown["has_spectrum"][0] and not unknown["spectrum_mask"][0].any()
    hide = MavenProcessor(spectrum_bins=256, spectrum_frame="rest", aug_hide_redshift_probability=1)
    out = hide(
        spectra=[_line_spectrum(0.3)],
        redshifts=[0.3],
        return_tensors="np",
        augment=np.random.default_rng(0),
    )
    assert not out["redshift_mask"][0]  # the token is hidden ...
    assert _peak_wave(out) == pytest.approx(6150, rel=0.01)  # ... the frame is still the rest


@pytest.mark.parametrize("frame", ["observer", "rest"])
def test_augmentation_never_moves_spectral_lines(frame):
    """Augmentations keep the label true: over many seeds a line stays in its bin (no
    wavelength stretch, which would be another redshift) while light-curve times may jitter."""
    proc = MavenProcessor(spectrum_bins=256, spectrum_frame=frame, aug_max_stretch=0.05)
    z = 0.2
    expected = 6150 * (1 + z) if frame == "observer" else 6150
    bin_width = 10 ** (np.log10(10000 / 3000) / 256) - 1
    for seed in range(20):
        out = proc(
            spectra=[_line_spectrum(z)],
            redshifts=[z],
            return_tensors="np",
            augment=np.random.default_rng(seed),
        )
        assert abs(_peak_wave(out) / expected - 1) <= 1.5 * bin_width


def test_redshift_recipes_get_no_time_stretch(tmp_path):
    """Time dilation is a redshift cue: a redshift head's processor has no stretch."""
    from maven.training.finetune import FinetuneConfig, _build

    config = FinetuneConfig(model=None, preset="tiny", task="redshift")
    _, processor = _build(config, None)
    assert processor.aug_max_stretch == 0.0
    config = FinetuneConfig(model=None, preset="tiny", task="classification")
    _, processor = _build(config, None)
    assert processor.aug_max_stretch > 0


def test_unknown_spectrum_frame_is_refused():
    with pytest.raises(ConfigError):
        MavenProcessor(spectrum_frame="comoving")


def test_lightcurve_features_are_those_of_maven_evaluation_features(tmp_path):
    from maven.evaluation.features import FEATURE_NAMES, lightcurve_features

    proc = MavenProcessor(spectrum_bins=256, lightcurve_features=True)
    sne = [make_sn("a", n=30), make_sn("b", n=3)]
    sne.append(Supernova("c", spectra=[make_spectrum()], redshift=0.1))  # no light curve
    out = proc(sne, return_tensors="np")
    added = {"photometry_features", "photometry_features_mask"}
    assert set(out) == set(proc.model_input_names) == set(MavenProcessor.model_input_names) | added
    f, mask = out["photometry_features"], out["photometry_features_mask"]
    assert f.shape == mask.shape == (3, len(FEATURE_NAMES))
    assert f.dtype == np.float32 and mask.dtype == bool and np.isfinite(f).all()
    for i in range(2):
        ref = lightcurve_features(sne[i].lightcurve, 0.05)
        np.testing.assert_array_equal(mask[i], np.isfinite(ref))
        np.testing.assert_allclose(f[i][mask[i]], ref[mask[i]], rtol=1e-6)
        assert (f[i][~mask[i]] == 0).all()
    assert 0 < mask[1].sum() < mask[0].sum()  # three points define fewer features
    assert not mask[2].any() and (f[2] == 0).all()
    # without the option: no such keys; the config round-trips the option
    assert "photometry_features" not in MavenProcessor(spectrum_bins=256)(sne)
    assert "lightcurve_features" not in MavenProcessor().to_dict()
    proc.save_pretrained(tmp_path)
    loaded = MavenProcessor.from_pretrained(tmp_path)
    assert loaded.lightcurve_features and loaded.to_dict() == proc.to_dict()
    with pytest.raises(ConfigError, match="lightcurve_features"):
        MavenProcessor(lightcurve_features="yes")


def test_a_hidden_redshift_hides_the_redshift_features():
    from maven.evaluation.features import FEATURE_NAMES

    z_cols = [FEATURE_NAMES.index("redshift"), FEATURE_NAMES.index("peak_abs_mag")]
    sn = make_sn("a")
    shown = MavenProcessor(lightcurve_features=True)([sn], return_tensors="np")
    assert shown["photometry_features_mask"][0, z_cols].all()
    assert shown["photometry_features"][0, z_cols[0]] == pytest.approx(0.05)
    hide = MavenProcessor(lightcurve_features=True, aug_hide_redshift_probability=1.0)
    out = hide([sn], return_tensors="np", augment=np.random.default_rng(0))
    assert not out["redshift_mask"][0]
    assert not out["photometry_features_mask"][0, z_cols].any()
    assert (out["photometry_features"][0, z_cols] == 0).all()
    # the other features describe the record's light curve, whatever the augmentation did
    other = np.ones(len(FEATURE_NAMES), bool)
    other[z_cols] = False
    np.testing.assert_array_equal(
        out["photometry_features"][0, other], shown["photometry_features"][0, other]
    )
