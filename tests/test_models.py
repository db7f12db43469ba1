"""MavenConfig / MavenModel: shapes, loss, overfitting, save/load, unseen bands."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel

from maven.data.records import LightCurve, Spectrum, Supernova
from maven.errors import ConfigError, MavenError
from maven.models import (
    MavenConfig,
    MavenModel,
    MavenOutput,
    MavenPhotometryConfig,
    MavenProcessor,
    MavenSpectrumConfig,
    clip_loss,
    contrastive_loss,
)

BANDS = ("ztf::g", "ztf::r", "ztf::i")


def make_supernova(i: int, n_per_band: int = 12, bands=BANDS, with_spectrum=True) -> Supernova:
    """A synthetic object whose light curve and spectrum both depend on ``i``."""
    rng = np.random.default_rng(1000 + i)
    t0, width, amp = 58000.0 + 3.0 * i, 8.0 + 4.0 * (i % 4), 200.0 * (1 + i)
    times, band, flux = [], [], []
    for k, b in enumerate(bands):
        t = np.sort(rng.uniform(t0 - 20, t0 + 60, n_per_band))
        colour = 1.0 + 0.5 * math.sin(i + k)
        f = amp * colour * np.exp(-0.5 * ((t - t0) / width) ** 2) * (1 + 0.1 * (t > t0))
        times.append(t)
        band += [b] * n_per_band
        flux.append(f)
    flux = np.concatenate(flux)
    err = np.full(flux.size, 0.05 * amp)
    lc = LightCurve(
        np.concatenate(times),
        np.array(band),
        flux + rng.normal(0, 1, flux.size) * err,
        err,
        flux > 3 * err,
    )
    spectra = []
    if with_spectrum:
        wave = np.linspace(3500, 9000, 800)
        line = 4000 + 600 * i
        sp = 1.0 + 0.8 * np.exp(-0.5 * ((wave - line) / 80) ** 2) - 0.3 * (wave / 9000) * (i % 3)
        spectra = [Spectrum(wave, sp * 1e-15, 0.02e-15 * np.ones(wave.size), mjd=t0 + 2)]
    return Supernova(f"SYN{i}", lightcurve=lc, spectra=spectra, redshift=0.01 * (i + 1))


@pytest.fixture(scope="module")
def tiny_model() -> MavenModel:
    torch.manual_seed(0)
    return MavenModel(MavenConfig.from_preset("tiny")).eval()


@pytest.fixture(scope="module")
def batch():
    processor = MavenProcessor(spectrum_bins=128)
    return processor([make_supernova(i) for i in range(6)])


# ---------------------------------------------------------------------- config


def test_config_presets_and_validation():
    tiny = MavenConfig.from_preset("tiny")
    assert tiny.photometry_config.hidden_size == 32
    assert tiny.photometry_config.num_hidden_layers == 2
    assert MavenConfig().logit_scale_init_value == pytest.approx(math.log(1 / 0.07))
    assert MavenConfig().projection_dim == 128
    assert MavenPhotometryConfig.base_config_key == "photometry_config"
    assert MavenSpectrumConfig.model_type == "maven_spectrum"
    custom = MavenConfig.from_preset(
        "tiny", spectrum_config={"patch_size": 8, "use_redshift": True}
    )
    assert custom.spectrum_config.patch_size == 8 and custom.spectrum_config.hidden_size == 32
    with pytest.raises(ConfigError):
        MavenConfig.from_preset("huge")
    with pytest.raises(ConfigError):
        MavenConfig(projection_dim=0)
    with pytest.raises(ValueError):
        MavenPhotometryConfig(hidden_size=30, num_attention_heads=4)
    with pytest.raises(ConfigError):
        MavenConfig(photometry_config=[1, 2])
    with pytest.raises(ConfigError):
        MavenSpectrumConfig(dropout=1.5)


def test_config_round_trip(tmp_path):
    config = MavenConfig.from_preset("tiny", projection_dim=16, custom_field="kept")
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, MavenConfig)
    assert loaded.projection_dim == 16 and loaded.custom_field == "kept"
    assert loaded.photometry_config.to_dict() == config.photometry_config.to_dict()
    assert isinstance(loaded.spectrum_config, MavenSpectrumConfig)


def test_preset_sizes():
    counts = {}
    for name in ("tiny", "base", "large"):
        model = MavenModel(MavenConfig.from_preset(name))
        counts[name] = sum(p.numel() for p in model.parameters())
    assert counts["tiny"] < 100_000
    assert 500_000 <= counts["base"] <= 2_000_000
    assert counts["large"] > counts["base"]


# ---------------------------------------------------------------------- loss


def _numpy_clip_loss(logits: np.ndarray) -> float:
    """Slow reference: mean over rows and columns of -log softmax at the diagonal."""
    n = logits.shape[0]
    total_rows = total_cols = 0.0
    for i in range(n):
        row = logits[i]
        total_rows += -(row[i] - math.log(sum(math.exp(v) for v in row)))
        col = logits[:, i]
        total_cols += -(col[i] - math.log(sum(math.exp(v) for v in col)))
    return 0.5 * (total_rows / n + total_cols / n)


@pytest.mark.parametrize("n", [1, 3, 8])
@pytest.mark.parametrize("scale", [1.0, 10.0])
def test_clip_loss_matches_numpy(n, scale):
    rng = np.random.default_rng(n)
    logits = rng.normal(size=(n, n)) * scale
    got = clip_loss(torch.tensor(logits)).item()
    assert got == pytest.approx(_numpy_clip_loss(logits), rel=1e-10, abs=1e-12)


def test_loss_analytic_values():
    n = 5
    # all logits equal: every row and column is uniform -> log(n)
    assert clip_loss(torch.zeros(n, n)).item() == pytest.approx(math.log(n))
    assert contrastive_loss(torch.zeros(n, n)).item() == pytest.approx(math.log(n))
    # strongly diagonal: loss -> 0
    assert clip_loss(100 * torch.eye(n)).item() == pytest.approx(0.0, abs=1e-30)


# ---------------------------------------------------------------------- model


def test_forward_shapes(tiny_model, batch):
    b = batch["photometry_values"].shape[0]
    with torch.no_grad():
        out = tiny_model(**batch, return_loss=True)
    assert isinstance(out, MavenOutput)
    assert out.logits_per_photometry.shape == (b, b)
    assert torch.equal(out.logits_per_spectrum, out.logits_per_photometry.t())
    assert out.photometry_embeds.shape == (b, 32)
    assert torch.allclose(out.photometry_embeds.norm(dim=-1), torch.ones(b), atol=1e-5)
    assert torch.allclose(out.spectrum_embeds.norm(dim=-1), torch.ones(b), atol=1e-5)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    with torch.no_grad():
        feats = tiny_model.get_photometry_features(**batch)
        spec = tiny_model.get_spectrum_features(**batch)
    assert feats.shape == spec.shape == (b, 32)
    assert torch.allclose(torch.nn.functional.normalize(feats, dim=-1), out.photometry_embeds)
    # no loss unless asked
    with torch.no_grad():
        assert tiny_model(**batch).loss is None


def test_one_modality_and_missing_rows(tiny_model):
    processor = MavenProcessor(spectrum_bins=128)
    sne = [make_supernova(0), make_supernova(1, with_spectrum=False)]
    sne.append(Supernova("SPEC", spectra=make_supernova(2).spectra))
    batch = processor(sne)
    assert batch["has_photometry"].tolist() == [True, True, False]
    assert batch["has_spectrum"].tolist() == [True, False, True]
    with torch.no_grad():
        out = tiny_model(**batch, return_loss=True)
        assert torch.isfinite(out.photometry_embeds).all()
        assert torch.isfinite(out.spectrum_embeds).all()
        assert torch.isfinite(out.loss)
        phot_only = {k: v for k, v in batch.items() if not k.startswith("spectrum")}
        out = tiny_model(**phot_only)
    assert out.logits_per_photometry is None and out.spectrum_embeds is None
    with pytest.raises(MavenError):
        tiny_model(**phot_only, return_loss=True)


def test_padding_does_not_change_embeddings(tiny_model):
    processor = MavenProcessor(spectrum_bins=128)
    short = make_supernova(0, n_per_band=5)
    alone = processor([short])
    padded = processor([short, make_supernova(1, n_per_band=30)])
    with torch.no_grad():
        a = tiny_model.get_photometry_features(**alone)
        b = tiny_model.get_photometry_features(**padded)
    torch.testing.assert_close(a[0], b[0], atol=1e-5, rtol=1e-5)


def test_unseen_bands_embed(tiny_model):
    processor = MavenProcessor(spectrum_bins=128)
    sn = make_supernova(3, bands=("swift::uvw2", "2mass::Ks", "lsst::y"), with_spectrum=False)
    with torch.no_grad():
        emb = tiny_model.get_photometry_features(**processor(sn))
    assert emb.shape == (1, 32) and torch.isfinite(emb).all()


def test_tiny_model_overfits_small_batch():
    """Retrieval top-1 reaches 1.0 both ways on 8 distinct synthetic objects."""
    torch.manual_seed(0)
    processor = MavenProcessor(spectrum_bins=128)
    batch = processor([make_supernova(i) for i in range(8)])
    model = MavenModel(MavenConfig.from_preset("tiny"))
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
    target = torch.arange(8)
    model.train()  # dropout is 0 in the preset: train and eval outputs agree
    for _ in range(500):
        out = model(**batch, return_loss=True)
        top1 = min(
            (out.logits_per_photometry.argmax(1) == target).float().mean().item(),
            (out.logits_per_spectrum.argmax(1) == target).float().mean().item(),
        )
        if top1 == 1.0 and out.loss.item() < 0.5:
            break
        optim.zero_grad()
        out.loss.backward()
        optim.step()
    model.eval()
    with torch.no_grad():
        out = model(**batch)
    assert (out.logits_per_photometry.argmax(1) == target).all(), f"stuck at top-1 {top1}"
    assert (out.logits_per_spectrum.argmax(1) == target).all(), f"stuck at top-1 {top1}"


def test_logit_scale_clamped(batch):
    model = MavenModel(MavenConfig.from_preset("tiny")).eval()
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
        out = model(**batch)
    cos = out.photometry_embeds @ out.spectrum_embeds.t()
    torch.testing.assert_close(out.logits_per_photometry, 100.0 * cos)


def test_save_and_auto_load_round_trip(tmp_path, tiny_model, batch):
    tiny_model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert not list(tmp_path.glob("*.bin"))
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is MavenModel
    for (k1, v1), (k2, v2) in zip(
        tiny_model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert k1 == k2 and torch.equal(v1, v2), k1
    with torch.no_grad():
        a = tiny_model(**batch, return_loss=True)
        b = loaded(**batch, return_loss=True)
    assert torch.equal(a.logits_per_photometry, b.logits_per_photometry)
    assert torch.equal(a.photometry_embeds, b.photometry_embeds)
    assert torch.equal(a.loss, b.loss)
    # the processor is saved next to the weights and comes back with the same options
    processor = MavenProcessor(spectrum_bins=128)
    processor.save_pretrained(tmp_path)
    assert MavenProcessor.from_pretrained(tmp_path).to_dict() == processor.to_dict()


def test_return_tuple(tiny_model, batch):
    with torch.no_grad():
        out = tiny_model(**batch, return_dict=False)
    assert isinstance(out, tuple)
    assert torch.is_tensor(out[0]) and out[0].shape[0] == out[0].shape[1]


def test_redshift_is_optional_input(tiny_model, batch):
    """Photometry uses a known redshift; hiding it (mask False) equals giving none."""
    no_z = {k: v for k, v in batch.items() if not k.startswith("redshift")}
    hidden = {**batch, "redshift_mask": torch.zeros_like(batch["redshift_mask"])}
    with torch.no_grad():
        with_z = tiny_model.get_photometry_features(**batch)
        without = tiny_model.get_photometry_features(**no_z)
        masked = tiny_model.get_photometry_features(**hidden)
        spec_a = tiny_model.get_spectrum_features(**batch)
        spec_b = tiny_model.get_spectrum_features(**no_z)
    assert not torch.allclose(with_z, without)
    torch.testing.assert_close(without, masked)
    torch.testing.assert_close(spec_a, spec_b)  # spectrum tower: use_redshift off by default
    config = MavenConfig.from_preset("tiny")
    config.spectrum_config.use_redshift = True
    model = MavenModel(config).eval()
    with torch.no_grad():
        out = model(**batch)
        spec_c = model.get_spectrum_features(**no_z)
    assert out.spectrum_model_output.last_hidden_state.shape[1] == 1 + 128 // 16
    assert not torch.allclose(model.get_spectrum_features(**batch), spec_c)


def test_distance_modulus_input_equals_astropy_and_is_absent_without_redshift():
    """The redshift token's distance modulus is astropy's (Planck18) for known z; unknown
    redshifts contribute nothing; presets switch it on, older configs keep it off."""
    from astropy.cosmology import Planck18

    from maven.models.encoders import RedshiftToken, distance_modulus

    z = np.array([0.002, 0.0123, 0.034, 0.1, 0.5, 1.7, 3.0])
    got = distance_modulus(torch.tensor(z, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, Planck18.distmod(z).value, atol=1e-4)
    token = RedshiftToken(8, distance_modulus=True)
    plain = RedshiftToken(8, distance_modulus=False)
    plain.load_state_dict({k: v for k, v in token.state_dict().items() if "distance" not in k})
    zs = torch.tensor([0.05, 0.05, 0.3])
    known = torch.tensor([True, False, False])
    with_mu, valid = token(zs, known, 3, torch.device("cpu"))
    without, _ = plain(zs, known, 3, torch.device("cpu"))
    assert valid.tolist() == [True, False, False]
    assert not torch.allclose(with_mu[0], without[0])  # the modulus moves a known row
    torch.testing.assert_close(with_mu[1:], without[1:])  # and nothing else
    torch.testing.assert_close(with_mu[1], with_mu[2])  # an unknown z carries no value
    assert MavenConfig.from_preset("tiny").photometry_config.use_distance_modulus
    assert not MavenConfig().photometry_config.use_distance_modulus
