"""Task heads: forward/backward, save/load, loading pre-trained encoders, freezing, errors."""

from __future__ import annotations

import json
import logging
import math

import pytest
import torch

from maven.data.types import DEFAULT_CLASSES
from maven.errors import ConfigError, MavenError
from maven.models import MavenConfig, MavenModel, MavenProcessor
from maven.models.modeling_heads import (
    MavenClassificationOutput,
    MavenForRedshift,
    MavenForSupernovaClassification,
    MavenRedshiftOutput,
    balanced_class_weights,
)

from .toy import toy_supernovae


@pytest.fixture(autouse=True)
def _quiet_transformers():
    logging.getLogger("transformers").setLevel(logging.ERROR)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models: one intra-op thread is fastest (and ~100x faster on a loaded machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def batch():
    sne = toy_supernovae(6, seed=3)
    sne[5].spectra = []  # one object without a spectrum
    for i, sn in enumerate(sne):
        sn.redshift = 0.02 * (i + 1)
    return MavenProcessor(spectrum_bins=128)(sne)


def tiny(**kw) -> MavenConfig:
    return MavenConfig.from_preset("tiny", **kw)


def _phot_only(batch):
    keep = batch["has_photometry"] & batch["has_spectrum"]
    return {k: v[keep] for k, v in batch.items()}


LABELS = torch.tensor([0, 1, 2, 3, 4, 0])


@pytest.mark.parametrize(
    ("modality", "fusion", "dim"),
    [("photometry", "concat", 32), ("both", "concat", 64), ("both", "mean", 32)],
)
def test_classification_forward_backward(batch, modality, fusion, dim):
    torch.manual_seed(0)
    model = MavenForSupernovaClassification(
        tiny(), head_modality=modality, head_fusion=fusion, head_hidden_size=16
    )
    assert model.config.id2label == dict(enumerate(DEFAULT_CLASSES))
    assert model.config.label2id["SLSN-I"] == 4
    out = model(**batch, labels=LABELS)
    assert isinstance(out, MavenClassificationOutput)
    assert out.logits.shape == (6, 5) and out.embeddings.shape == (6, dim)
    if dim == 64:  # concat: object 5 has no spectrum -> zeros in the spectrum half
        assert torch.all(out.embeddings[5, 32:] == 0) and out.embeddings[5, :32].abs().sum() > 0
    assert torch.isfinite(out.loss)
    out.loss.backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None}
    assert any(n.startswith("classifier.") for n in grads)
    assert any(n.startswith("maven.photometry_model.") for n in grads)
    assert any(n.startswith("maven.spectrum_model.") for n in grads) == (modality == "both")
    assert "maven.logit_scale" not in grads
    # rows without labels (-100) are ignored; all ignored -> zero loss
    ignored = model(**batch, labels=torch.full((6,), -100)).loss
    assert ignored.item() == 0.0
    assert model(**batch, return_dict=False)[0].shape == (6, 5)


def test_head_settings_do_not_touch_the_callers_config():
    config = tiny()
    model = MavenForSupernovaClassification(config, head_modality="both")
    assert model.config.head_modality == "both"
    assert not hasattr(config, "head_modality") and config.num_labels == 2


def test_head_settings_are_checked_config_fields(tmp_path):
    with pytest.raises(ConfigError, match="head_modality must be"):
        tiny(head_modality="bogus")
    with pytest.raises(ConfigError, match="did you mean 'freeze_encoder'"):
        tiny(freeze_encoderr=True)
    with pytest.raises(ConfigError, match="did you mean 'hidden_size'"):
        tiny(photometry_config={"hiden_size": 64})
    with pytest.raises(ConfigError, match="extra_feature_scale"):
        tiny(head_extra_features=2, extra_feature_scale=[1.0])
    config = tiny(head_modality="both")
    assert config.head_modality == "both" and not hasattr(config, "freeze_encoder")
    full = config.with_head_settings(freeze_encoder=True)
    assert full.freeze_encoder and full.head_modality == "both" and full.head_fusion == "concat"
    assert not hasattr(config, "freeze_encoder")
    with pytest.raises(ConfigError, match="unknown head settings"):
        config.with_head_settings(head_dropuot=0.1)
    full.save_pretrained(tmp_path)
    assert MavenConfig.from_pretrained(tmp_path).to_dict() == full.to_dict()


def test_auto_class_registration(tmp_path):
    from transformers import AutoModelForSequenceClassification

    # the registration line proposed for maven/models/__init__.py
    AutoModelForSequenceClassification.register(
        MavenConfig, MavenForSupernovaClassification, exist_ok=True
    )
    MavenModel(tiny()).save_pretrained(tmp_path / "pre")
    model = AutoModelForSequenceClassification.from_pretrained(
        tmp_path / "pre", head_modality="both"
    )
    assert isinstance(model, MavenForSupernovaClassification) and model.num_labels == 5


def test_spectrum_modality_needs_spectra(batch):
    model = MavenForSupernovaClassification(tiny(), head_modality="spectrum")
    with pytest.raises(MavenError, match="1 of 6 objects have no spectrum"):
        model(**batch)
    out = model(**_phot_only(batch))
    assert out.logits.shape == (5, 5)


def test_mean_fusion_uses_present_modalities(batch):
    torch.manual_seed(0)
    model = MavenForSupernovaClassification(tiny(), head_modality="both", head_fusion="mean")
    emb = model(**batch).embeddings
    photo = MavenForSupernovaClassification(model.config, head_modality="photometry")
    photo.load_state_dict(model.state_dict())
    # object 5 has no spectrum: its mean-fused feature is its photometry feature alone
    torch.testing.assert_close(emb[5], photo(**batch).embeddings[5])


def _hidden(batch, missing: str, rows) -> dict:
    """``batch`` with ``missing`` declared absent in ``rows``."""
    out = dict(batch)
    flag = out[f"has_{missing}"].clone()
    flag[rows] = False
    out[f"has_{missing}"] = flag
    return out


def test_per_input_fusion_is_one_head_per_input_set(batch):
    torch.manual_seed(0)
    model = MavenForSupernovaClassification(tiny(), head_modality="both", head_fusion="per_input")
    model.eval()
    d = model.config.projection_dim
    with torch.no_grad():
        out = model(**batch)
    assert out.embeddings.shape == (6, 4 * d) and model.feature_dim == 4 * d
    filled = out.embeddings.view(6, 4, d).abs().sum(-1) > 0
    # objects 0-4 have both inputs (both-input slots); object 5 a light curve only
    assert filled[:5].tolist() == [[True, True, False, False]] * 5
    assert filled[5].tolist() == [False, False, True, False]
    views, rows = model.input_views(out.embeddings)
    assert rows.tolist() == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
    # the training views are what prediction sees with the other input hidden
    with torch.no_grad():
        lc_only = model(**_hidden(batch, "spectrum", slice(None))).embeddings
        spec_only = model(**_hidden(batch, "photometry", slice(0, 5))).embeddings
    torch.testing.assert_close(views[6:11], lc_only[:5])
    torch.testing.assert_close(views[11:], spec_only[:5])
    # and the loss scores every view
    expected = torch.nn.functional.cross_entropy(model.classifier(views), LABELS[rows])
    with torch.no_grad():
        torch.testing.assert_close(model(**batch, labels=LABELS).loss, expected)


def test_per_input_loss_trains_each_inputs_head(batch):
    torch.manual_seed(0)
    model = MavenForSupernovaClassification(tiny(), head_modality="both", head_fusion="per_input")
    model(**batch, labels=LABELS).loss.backward()
    d = model.config.projection_dim
    grad = model.classifier[-1].weight.grad.view(5, 4, d).abs().sum(dim=(0, 2))
    assert bool((grad > 0).all())  # all four slots learn from a batch with both inputs
    concat = MavenForSupernovaClassification(tiny(), head_modality="both")
    views, rows = concat.input_views(torch.ones(6, 2 * d))
    assert views.shape == (6, 2 * d) and rows.tolist() == list(range(6))  # other fusions: as is


def test_per_input_redshift_loss_scores_every_view(batch):
    torch.manual_seed(0)
    model = MavenForRedshift(tiny(), head_modality="both", head_fusion="per_input")
    z = torch.linspace(0.02, 0.12, 6)
    out = model(**batch, redshift_labels=z)
    views, rows = model.input_views(out.embeddings)
    mu, log_sigma, _, _ = model.gaussian(views)
    torch.testing.assert_close(out.loss, model._loss(mu, log_sigma, z[rows], None))
    mask = torch.tensor([True, False, True, True, True, True])
    masked = model(**batch, redshift_labels=z, redshift_labels_mask=mask).loss
    torch.testing.assert_close(masked, model._loss(mu, log_sigma, z[rows], mask[rows]))


@pytest.mark.parametrize("fusion", ["concat", "mean", "per_input"])
@pytest.mark.parametrize("missing", ["spectrum", "photometry"])
def test_both_head_skips_a_tower_no_row_needs(batch, fusion, missing):
    torch.manual_seed(0)
    model = MavenForSupernovaClassification(tiny(), head_modality="both", head_fusion=fusion)
    model.eval()
    one = _phot_only(batch)  # rows with both modalities; then one is declared missing
    one[f"has_{missing}"] = torch.zeros_like(one[f"has_{missing}"])
    calls = []
    tower = getattr(model.maven, f"{missing}_model")
    hook = tower.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        out = model(**one)
    hook.remove()
    assert calls == []  # the empty modality's tower did not run
    # the same as running both towers and fusing (what the head did before the skip)
    with torch.no_grad():
        ep = model.maven.get_photometry_features(**one)
        es = model.maven.get_spectrum_features(**one)
        feats = model.fuse(ep, es, one["has_photometry"], one["has_spectrum"])
        torch.testing.assert_close(out.logits, model.classifier(feats), rtol=0, atol=0)
    hook = tower.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():  # a mixed batch runs both towers
        model(**batch)
    hook.remove()
    assert calls == [1]


def test_class_weights_and_labels(batch):
    names = ["Ia", "II", "Ibc", "IIn", "SLSN-I", "other"]
    torch.manual_seed(0)
    model = MavenForSupernovaClassification(tiny(), id2label=dict(enumerate(names)))
    assert model.num_labels == 6 and model.config.label2id["other"] == 5
    # generic names kept when the user set num_labels; only the unset default is replaced
    assert MavenForSupernovaClassification(tiny(num_labels=3)).config.id2label[2] == "LABEL_2"
    enc = model.encode_labels(["II", "other", "TDE", None], unknown="ignore")
    assert enc.tolist() == [1, 5, -100, -100]
    with pytest.raises(MavenError, match="unknown class 'TDE'"):
        model.encode_labels(["TDE"])
    w = balanced_class_weights(torch.tensor([0, 0, 0, 1]), 3)
    assert w == pytest.approx([4 / 9, 4 / 3, 1.0])
    torch.manual_seed(0)
    weighted = MavenForSupernovaClassification(tiny(), class_weights=[1.0, 5.0, 1, 1, 1])
    logits = weighted(**batch).logits
    expect = torch.nn.functional.cross_entropy(
        logits, LABELS, weight=torch.tensor([1.0, 5.0, 1, 1, 1])
    )
    torch.testing.assert_close(weighted(**batch, labels=LABELS).loss, expect)
    with pytest.raises(ConfigError, match="class_weights"):
        MavenForSupernovaClassification(tiny(), class_weights=[1.0, 2.0])


def test_redshift_forward_backward_and_nll(batch):
    torch.manual_seed(0)
    model = MavenForRedshift(tiny(), head_modality="both")
    z = torch.linspace(0.05, 0.5, 6)
    out = model(**batch, redshift_labels=z)
    assert isinstance(out, MavenRedshiftOutput)
    assert out.redshift_mean.shape == out.redshift_sigma.shape == (6,)
    assert (out.redshift_sigma > 0).all()
    # initial sigma ~ 0.1 in log(1+z)
    assert out.log_sigma.exp().mean().item() == pytest.approx(0.1, rel=0.2)
    t = torch.log1p(z)
    nll = 0.5 * ((t - out.mu) / out.log_sigma.exp()) ** 2 + out.log_sigma + 0.9189385
    torch.testing.assert_close(out.loss, nll.mean())
    torch.testing.assert_close(out.redshift_mean, torch.expm1(out.mu))
    torch.testing.assert_close(out.redshift_sigma, (1 + out.redshift_mean) * out.log_sigma.exp())
    out.loss.backward()
    assert model.regressor[-1].weight.grad is not None
    # a masked row is left out
    mask = torch.tensor([True] * 5 + [False])
    bad_z = torch.cat([z[:5], torch.tensor([float("nan")])])
    masked = model(**batch, redshift_labels=bad_z, redshift_labels_mask=mask).loss
    torch.testing.assert_close(masked, nll[:5].mean())
    # "z" target: identity transform
    zmodel = MavenForRedshift(tiny(), redshift_target="z")
    zo = zmodel(**batch)
    torch.testing.assert_close(zo.redshift_mean, zo.mu)


def test_beta_nll_weights_each_object_by_its_own_sigma():
    model = MavenForRedshift(tiny(), redshift_loss_beta=0.5)
    mu = torch.zeros(3, requires_grad=True)
    log_sigma = torch.log(torch.tensor([0.01, 0.1, 1.0])).requires_grad_()
    z = torch.tensor([0.02, 0.3, 0.1])
    loss = model._loss(mu, log_sigma, z, None)
    t, sigma = torch.log1p(z), log_sigma.detach().exp()
    nll = 0.5 * ((t - mu.detach()) / sigma) ** 2 + log_sigma.detach() + 0.9189385
    torch.testing.assert_close(loss, (sigma * nll).sum() / sigma.sum())
    loss.backward()
    # no gradient through the weights: d loss / d mu_i = -w_i (t_i - mu_i) / sigma_i^2 / sum w
    torch.testing.assert_close(mu.grad, -sigma * t / sigma**2 / sigma.sum())
    # beta = 1: the mean's gradient is the squared error's, whatever the sigmas
    mse = MavenForRedshift(tiny(), redshift_loss_beta=1.0)
    mu.grad = None
    mse._loss(mu, log_sigma, z, None).backward()
    torch.testing.assert_close(mu.grad, -t / sigma.pow(2).sum())
    for bad in (-0.1, 1.5, True):
        with pytest.raises(ConfigError, match="redshift_loss_beta"):
            MavenForRedshift(tiny(), redshift_loss_beta=bad)


def test_redshift_head_ignores_redshift_input(batch):
    torch.manual_seed(0)
    model = MavenForRedshift(tiny()).eval()
    assert model.config.photometry_config.use_redshift  # the tower could see it ...
    shifted = dict(batch, redshift=batch["redshift"] + 1.0)
    with torch.no_grad():
        a, b = model(**batch), model(**shifted)
    torch.testing.assert_close(a.redshift_mean, b.redshift_mean)  # ... but the head hides it
    clf = MavenForSupernovaClassification(tiny()).eval()
    with torch.no_grad():
        assert not torch.allclose(clf(**batch).logits, clf(**shifted).logits)
    clf.config.use_redshift_input = False
    with torch.no_grad():
        torch.testing.assert_close(clf(**batch).logits, clf(**shifted).logits)


def test_frozen_encoder_has_no_grad(batch):
    torch.manual_seed(0)
    model = MavenForSupernovaClassification(tiny(), head_modality="both", freeze_encoder=True)
    assert not any(p.requires_grad for p in model.maven.parameters())
    model.train()
    assert not model.maven.training and model.classifier.training
    out = model(**batch, labels=LABELS)
    assert not out.embeddings.requires_grad
    out.loss.backward()
    assert all(p.grad is None for p in model.maven.parameters())
    assert all(p.grad is not None for p in model.classifier.parameters())
    model.set_encoder_frozen(False)  # then fine-tune everything
    assert model.maven.training and not model.config.freeze_encoder
    model(**batch, labels=LABELS).loss.backward()
    assert all(p.grad is not None for p in model.maven.photometry_model.parameters())


def test_save_load_round_trip(tmp_path, batch):
    torch.manual_seed(0)
    model = MavenForSupernovaClassification(
        tiny(), head_modality="both", head_hidden_size=8, class_weights=[1, 2, 3, 4, 5]
    ).eval()
    model.save_pretrained(tmp_path / "clf")
    cfg = json.loads((tmp_path / "clf" / "config.json").read_text())
    assert cfg["head_modality"] == "both" and cfg["class_weights"] == [1, 2, 3, 4, 5]
    loaded = MavenForSupernovaClassification.from_pretrained(tmp_path / "clf").eval()
    assert loaded.config.id2label == model.config.id2label
    assert loaded.config.class_weights == [1.0, 2.0, 3.0, 4.0, 5.0]
    sd, ld = model.state_dict(), loaded.state_dict()
    assert sd.keys() == ld.keys() and all(torch.equal(sd[k], ld[k]) for k in sd)
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, loaded(**batch).logits)

    reg = MavenForRedshift(tiny(), freeze_encoder=True).eval()
    reg.save_pretrained(tmp_path / "reg")
    reg2 = MavenForRedshift.from_pretrained(tmp_path / "reg").eval()
    assert reg2.config.freeze_encoder and not any(p.requires_grad for p in reg2.maven.parameters())
    with torch.no_grad():
        a, b = reg(**batch), reg2(**batch)
    assert torch.equal(a.redshift_mean, b.redshift_mean)
    assert torch.equal(a.redshift_sigma, b.redshift_sigma)
    # the fine-tuned towers load back into a plain MavenModel
    base = MavenModel.from_pretrained(tmp_path / "reg")
    assert torch.equal(base.photometry_projection.weight, reg.maven.photometry_projection.weight)


def test_towers_load_from_a_head_folder_without_the_load_report(tmp_path):
    from transformers.utils import logging as hf_logging

    from maven.models.loading import from_pretrained

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.text = ""

        def emit(self, record):
            self.text += record.getMessage()

    torch.manual_seed(2)
    head = MavenForSupernovaClassification(tiny(), head_modality="both").eval()
    head.save_pretrained(tmp_path / "clf")
    hf_logging.set_verbosity_warning()
    collect = Collect()
    logging.getLogger("transformers").addHandler(collect)
    try:
        MavenModel.from_pretrained(tmp_path / "clf")  # transformers reports the head's keys
        assert "classifier" in collect.text
        collect.text = ""
        MavenProcessor().save_pretrained(tmp_path / "clf")
        towers, _ = from_pretrained(tmp_path / "clf", task="towers")
        assert "classifier" not in collect.text
    finally:
        logging.getLogger("transformers").removeHandler(collect)
    assert hf_logging.get_verbosity() == hf_logging.WARNING  # restored
    for name, tensor in towers.state_dict().items():
        assert torch.equal(head.state_dict()["maven." + name], tensor), name


def test_load_encoders_from_pretrained_maven_model(tmp_path, batch):
    torch.manual_seed(1)
    pretrained = MavenModel(tiny()).eval()
    pretrained.save_pretrained(tmp_path / "pre")
    for cls in (MavenForSupernovaClassification, MavenForRedshift):
        head = cls.from_pretrained(tmp_path / "pre", head_modality="both", freeze_encoder=True)
        for name, tensor in pretrained.state_dict().items():
            assert torch.equal(head.state_dict()["maven." + name], tensor), name
        assert head.config.head_modality == "both" and head.config.freeze_encoder
        if cls is MavenForSupernovaClassification:
            three = cls.from_pretrained(tmp_path / "pre", id2label={0: "Ia", 1: "CC", 2: "other"})
            assert three.config.label2id == {"Ia": 0, "CC": 1, "other": 2}
            assert three.classifier[-1].out_features == 3
        assert not any(p.requires_grad for p in head.maven.parameters())
        # the head's embedding is the pre-trained model's normalised embedding * sqrt(D)
        with torch.no_grad():
            feats = head.eval().embed(**batch)[:, :32]
            ref = torch.nn.functional.normalize(pretrained.get_photometry_features(**batch), dim=-1)
        torch.testing.assert_close(feats, ref * 32**0.5)
    # fresh head weights are initialised (finite, not all zero)
    w = head.regressor[-1].weight
    assert torch.isfinite(w).all() and w.abs().sum() > 0


def test_bad_inputs_raise(batch):
    model = MavenForSupernovaClassification(tiny())
    with pytest.raises(MavenError, match="labels must have shape"):
        model(**batch, labels=torch.tensor([0, 1]))
    with pytest.raises(MavenError, match="class indices in 0..4"):
        model(**batch, labels=torch.tensor([0, 1, 2, 3, 4, 5]))
    with pytest.raises(MavenError, match="integer class indices"):
        model(**batch, labels=torch.zeros(6))
    with pytest.raises(MavenError, match="needs the photometry inputs"):
        model(spectrum_values=batch["spectrum_values"])
    with pytest.raises(MavenError, match="photometry inputs missing"):
        model(photometry_values=batch["photometry_values"])
    reg = MavenForRedshift(tiny())
    with pytest.raises(MavenError, match="redshift_labels must have shape"):
        reg(**batch, redshift_labels=torch.zeros(3))
    with pytest.raises(MavenError, match="> -1"):
        reg(**batch, redshift_labels=torch.full((6,), -2.0))
    with pytest.raises(MavenError, match="needs the spectrum inputs"):
        MavenForRedshift(tiny(), head_modality="both")(
            **{k: v for k, v in batch.items() if not k.startswith("spectrum")}
        )
    for kw, match in (
        ({"head_modality": "radio"}, "head_modality"),
        ({"head_fusion": "max"}, "head_fusion"),
        ({"head_hidden_size": -1}, "head_hidden_size"),
        ({"freeze_encoder": "yes"}, "freeze_encoder"),
        ({"redshift_target": "log"}, "redshift_target"),
        ({"head_dropuot": 0.1}, "unknown head settings"),
        ({"id2label": {0: "Ia"}}, "at least 2 classes"),
    ):
        with pytest.raises(ConfigError, match=match):
            MavenForSupernovaClassification(tiny(), **kw)
    with pytest.raises(MavenError):
        balanced_class_weights([0, 3], 2)


def test_heads_fit_a_small_batch(batch):
    torch.manual_seed(0)
    clf = MavenForSupernovaClassification(tiny(), head_hidden_size=32).train()
    reg = MavenForRedshift(tiny(), head_hidden_size=32).train()
    z = torch.linspace(0.05, 0.5, 6)
    for model, kw in ((clf, {"labels": LABELS}), (reg, {"redshift_labels": z})):
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
        first = None
        for _ in range(40):
            loss = model(**batch, **kw).loss
            first = loss.item() if first is None else first
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert loss.item() < first - 0.5, type(model).__name__


@pytest.fixture(scope="module")
def feature_batch():
    sne = toy_supernovae(6, seed=3)
    for i, sn in enumerate(sne):
        sn.redshift = 0.02 * (i + 1)
    return MavenProcessor(spectrum_bins=128, lightcurve_features=True)(sne)


def test_head_with_light_curve_features(feature_batch):
    from maven.evaluation.features import FEATURE_NAMES

    n = len(FEATURE_NAMES)
    center, scale = [float(i) for i in range(n)], [0.5] * n
    torch.manual_seed(0)
    model = MavenForSupernovaClassification(
        tiny(), head_extra_features=n, extra_feature_center=center, extra_feature_scale=scale
    )
    assert model.feature_dim == 32 + 2 * n
    out = model(**feature_batch, labels=LABELS)
    assert out.logits.shape == (6, 5) and out.embeddings.shape == (6, 32 + 2 * n)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert model.classifier[-1].weight.grad[:, 32:].abs().sum() > 0
    f, m = feature_batch["photometry_features"], feature_batch["photometry_features_mask"]
    z = ((f - torch.tensor(center)) / 0.5).clamp(-5, 5)
    torch.testing.assert_close(out.embeddings[:, 32 : 32 + n], torch.where(m, z, 0.0))
    torch.testing.assert_close(out.embeddings[:, 32 + n :], m.float())
    # the towers' part is the embedding-only head's
    plain = MavenForSupernovaClassification(tiny())
    plain.maven.load_state_dict(model.maven.state_dict())
    plain.eval()
    model.eval()
    torch.testing.assert_close(
        plain(**feature_batch).embeddings, model(**feature_batch).embeddings[:, :32]
    )
    # the towers and an embedding-only head take (and ignore) a batch with features
    assert MavenModel(tiny())(**feature_batch).photometry_embeds.shape == (6, 32)
    # None: centre 0, scale 1
    default = MavenForSupernovaClassification(tiny(), head_extra_features=n).eval()
    torch.testing.assert_close(
        default(**feature_batch).embeddings[:, 32 : 32 + n], torch.where(m, f.clamp(-5, 5), 0.0)
    )


def test_head_features_missing_or_bad_are_refused(feature_batch):
    n = feature_batch["photometry_features"].shape[1]
    model = MavenForSupernovaClassification(tiny(), head_extra_features=n)
    plain = {k: v for k, v in feature_batch.items() if not k.startswith("photometry_features")}
    with pytest.raises(MavenError, match="lightcurve_features=True"):
        model(**plain)
    with pytest.raises(MavenError, match="photometry_features must have shape"):
        model(**{**feature_batch, "photometry_features": torch.zeros(6, 5)})
    nan = feature_batch["photometry_features"].clone()
    nan[feature_batch["photometry_features_mask"]] = float("nan")
    with pytest.raises(MavenError, match="finite where the mask"):
        model(**{**feature_batch, "photometry_features": nan})
    for kw, match in (
        ({"head_extra_features": -1}, "head_extra_features"),
        ({"head_extra_features": True}, "head_extra_features"),
        ({"head_extra_features": 2, "extra_feature_center": [0.0]}, "extra_feature_center"),
        ({"head_extra_features": 2, "extra_feature_center": [0.0, math.nan]}, "center"),
        ({"head_extra_features": 2, "extra_feature_scale": [1.0, 0.0]}, "extra_feature_scale"),
        ({"head_extra_features": 2, "extra_feature_scale": "1"}, "extra_feature_scale"),
    ):
        with pytest.raises(ConfigError, match=match):
            MavenForSupernovaClassification(tiny(), **kw)
    with pytest.raises(ConfigError, match="classification only"):
        MavenForRedshift(tiny(), head_extra_features=n)
    with pytest.raises(ConfigError, match="use_redshift_input=False"):
        MavenForSupernovaClassification(tiny(), head_extra_features=n, use_redshift_input=False)
    with pytest.raises(ConfigError, match="extra_feature_scale"):
        model.set_feature_scaling([0.0] * n, [0.0] * n)
    model.set_feature_scaling([1.0] * n, [2.0] * n)
    assert model.config.extra_feature_scale == [2.0] * n
