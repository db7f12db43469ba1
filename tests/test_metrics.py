"""maven.evaluation: metrics against hand-computed cases, calibration, plots, reports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from maven.errors import MavenError
from maven.evaluation import (
    apply_temperature,
    bias_audit,
    classification_metrics,
    confusion_matrix,
    expected_calibration_error,
    fit_temperature,
    nmad,
    plot_confusion_matrix,
    plot_metric_by_bin,
    plot_redshift,
    plot_reliability_diagram,
    redshift_metrics,
    reliability_diagram_data,
    write_report,
)

PNG = b"\x89PNG\r\n\x1a\n"


def _json_ok(obj) -> None:
    json.dumps(obj, allow_nan=False)


# ---------------------------------------------------------------------- classification

Y_TRUE = ["A", "A", "A", "B", "B", "C"]
Y_PRED = ["A", "A", "B", "B", "C", "C"]


def test_confusion_matrix_hand_computed():
    cm = confusion_matrix(Y_TRUE, Y_PRED, labels=["A", "B", "C"])
    assert cm["counts"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert cm["normalised"][0] == pytest.approx([2 / 3, 1 / 3, 0])
    assert cm["normalised"][1] == pytest.approx([0, 0.5, 0.5])
    # a class with no true objects has an undefined (None) row
    cm = confusion_matrix(["A", "A"], ["A", "B"], labels=["A", "B"])
    assert cm["counts"] == [[1, 1], [0, 0]] and cm["normalised"][1] == [None, None]
    _json_ok(cm)


def test_classification_metrics_hand_computed():
    m = classification_metrics(Y_TRUE, Y_PRED, labels=["A", "B", "C"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    f1 = {"A": 0.8, "B": 0.5, "C": 2 / 3}
    assert m["macro_f1"] == pytest.approx(np.mean(list(f1.values())))
    assert m["weighted_f1"] == pytest.approx((3 * 0.8 + 2 * 0.5 + 2 / 3) / 6)
    pc = m["per_class"]
    assert pc["A"] == pytest.approx(
        {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3, "n_predicted": 2}
    )
    assert pc["B"]["precision"] == pytest.approx(0.5) and pc["C"]["recall"] == 1.0
    assert m["class_counts"] == {"A": 3, "B": 2, "C": 1}
    assert m["confusion_matrix"]["counts"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    _json_ok(m)


def test_classification_absent_classes_and_index_predictions():
    labels = ["Ia", "II", "Ibc", "IIn", "SLSN-I"]
    # integer predictions index into string labels (e.g. logits.argmax)
    m = classification_metrics(["Ia", "Ia", "II"], np.array([0, 1, 1]), labels=labels)
    assert m["accuracy"] == pytest.approx(2 / 3)
    # Ibc/IIn/SLSN-I have no true object: left out of the macro averages, recall None
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert m["per_class"]["IIn"] == {
        "precision": None,
        "recall": None,
        "f1": None,
        "support": 0,
        "n_predicted": 0,
    }
    _json_ok(m)


def test_classification_with_probabilities():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    m = classification_metrics(["a", "b", "b", "a"], labels=["a", "b"], probabilities=probs)
    assert m["accuracy"] == 0.5
    p_true = np.array([0.9, 0.8, 0.4, 0.3])
    assert m["log_loss"] == pytest.approx(-np.mean(np.log(p_true)))
    assert m["brier"] == pytest.approx(np.mean(2 * (1 - p_true) ** 2))
    assert 0 <= m["ece"] <= 1
    _json_ok(m)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "kw", "match"),
    [
        (["A", "B"], ["A"], {}, "length mismatch"),
        ([], [], {}, "empty"),
        (["A", "X"], ["A", "A"], {"labels": ["A", "B"]}, "unknown label 'X'"),
        (["A", "B"], [0, 7], {"labels": ["A", "B"]}, "class index 7"),
        (["A"], ["A"], {"labels": ["A", "A"]}, "duplicates"),
        ([["A"]], [["A"]], {}, "1-D"),
    ],
)
def test_classification_bad_input(y_true, y_pred, kw, match):
    with pytest.raises(MavenError, match=match):
        classification_metrics(y_true, y_pred, **kw)


def test_classification_bad_probabilities():
    with pytest.raises(MavenError, match="sum to 1"):
        classification_metrics(["a"], labels=["a", "b"], probabilities=[[2.0, 3.0]])
    with pytest.raises(MavenError, match="shape"):
        classification_metrics(["a"], ["a"], labels=["a", "b"], probabilities=[[1.0]])


# ---------------------------------------------------------------------- redshift


def test_nmad_known_array():
    assert nmad([1.0, 2.0, 3.0, 4.0, 100.0]) == pytest.approx(1.4826)
    rng = np.random.default_rng(0)
    assert nmad(rng.normal(0, 0.02, 200_000)) == pytest.approx(0.02, rel=0.01)


def test_redshift_metrics_hand_computed():
    zt = np.array([0.0, 0.1, 0.2, 0.3, 1.0])
    dz = np.array([0.01, -0.011, 0.06, 0.065, 0.5])  # last: |dz|/(1+z)=0.25 -> outlier
    zp = zt + dz
    m = redshift_metrics(zt, zp)
    x = dz / (1 + zt)
    assert m["nmad"] == pytest.approx(1.4826 * np.median(np.abs(x - np.median(x))))
    assert m["outlier_fraction"] == pytest.approx(1 / 5)
    assert m["abs_outlier_fraction"] == pytest.approx(1 / 5)  # only 0.5 > 0.07
    assert m["bias"] == pytest.approx(x.mean())
    assert m["bias_dz"] == pytest.approx(dz.mean())
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean(dz**2)))
    ss_res, ss_tot = np.sum(dz**2), np.sum((zt - zt.mean()) ** 2)
    assert m["r2"] == pytest.approx(1 - ss_res / ss_tot)
    # x = 0.01, -0.01, 0.05, 0.05, 0.25: only the last is beyond 0.05 (0.05 is not)
    assert m["outlier_fraction_05"] == pytest.approx(1 / 5)
    lt, lp = np.log1p(zt), np.log1p(zp)
    expected = 1 - np.sum((lp - lt) ** 2) / np.sum((lt - lt.mean()) ** 2)
    assert m["r2_log1p"] == pytest.approx(expected)
    _json_ok(m)
    # constant truth: R² undefined -> None (not NaN)
    assert redshift_metrics([0.1, 0.1], [0.1, 0.2])["r2"] is None


def test_redshift_uncertainty_calibration():
    rng = np.random.default_rng(1)
    n = 50_000
    zt = rng.uniform(0.01, 0.5, n)
    sigma = rng.uniform(0.005, 0.05, n)
    zp = zt + rng.normal(0, sigma)
    m = redshift_metrics(zt, zp, sigma)
    assert m["coverage_68"] == pytest.approx(0.6827, abs=0.01)
    assert m["coverage_95"] == pytest.approx(0.95, abs=0.005)
    assert m["mean_normalised_residual"] == pytest.approx(0, abs=0.02)
    assert m["std_normalised_residual"] == pytest.approx(1, abs=0.02)
    # sigma claimed twice too small: over-confident
    m2 = redshift_metrics(zt, zp, sigma / 2)
    assert m2["coverage_68"] < 0.45 and m2["std_normalised_residual"] == pytest.approx(2, 0.03)
    # exact small case: residuals 0.5, 1.5, -2.5 sigma
    m3 = redshift_metrics([0.1, 0.1, 0.1], [0.15, 0.25, -0.15], [0.1, 0.1, 0.1])
    assert m3["coverage_68"] == pytest.approx(1 / 3) and m3["coverage_95"] == pytest.approx(2 / 3)
    assert m3["mean_normalised_residual"] == pytest.approx(-0.5 / 3)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0.1, 0.2], [0.1]), "length mismatch"),
        (([], []), "empty"),
        (([0.1, np.nan], [0.1, 0.2]), "non-finite"),
        (([-1.5], [0.1]), "> -1"),
        (([0.1], [0.1], [0.0]), "z_sigma must be > 0"),
        (([0.1, 0.2], [0.1, 0.2], [0.1]), "length mismatch"),
        ((["a"], [0.1]), "numeric"),
    ],
)
def test_redshift_bad_input(args, match):
    with pytest.raises(MavenError, match=match):
        redshift_metrics(*args)


# ---------------------------------------------------------------------- calibration


def _binary_probs(conf: float, n: int, n_correct: int) -> tuple[np.ndarray, np.ndarray]:
    probs = np.tile([conf, 1 - conf], (n, 1))
    y = np.ones(n, dtype=int)
    y[:n_correct] = 0
    return probs, y


def test_ece_perfect_and_overconfident():
    probs, y = _binary_probs(0.75, 100, 75)  # 75% confident, 75% right
    assert expected_calibration_error(probs, y) == pytest.approx(0.0, abs=1e-12)
    probs, y = _binary_probs(0.9, 100, 60)  # 90% confident, 60% right
    assert expected_calibration_error(probs, y) == pytest.approx(0.3)
    # half calibrated (0.9 / 90%), half over-confident (0.6 / 30%) -> 0.5 * 0.3
    p1, y1 = _binary_probs(0.9, 100, 90)
    p2, y2 = _binary_probs(0.6, 100, 30)
    probs, y = np.vstack([p1, p2]), np.concatenate([y1, y2])
    data = reliability_diagram_data(probs, y, n_bins=10)
    assert data["ece"] == pytest.approx(0.15)
    assert data["mce"] == pytest.approx(0.3)
    assert sum(data["count"]) == 200 and len(data["bin_edges"]) == 11
    assert data["accuracy"][8] == pytest.approx(0.9)  # 0.9 falls in (0.8, 0.9]
    assert data["confidence"][5] == pytest.approx(0.6)  # 0.6 falls in (0.5, 0.6]
    assert data["accuracy"][0] is None
    _json_ok(data)


def test_temperature_scaling_recovers_known_temperature():
    rng = np.random.default_rng(0)
    n, k, t_true = 20_000, 5, 2.5
    true_logits = rng.normal(0, 2.0, (n, k))
    p = apply_temperature(true_logits, 1.0)
    y = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)  # labels drawn from p
    model_logits = true_logits * t_true  # an over-confident model
    t = fit_temperature(model_logits, y)
    assert t == pytest.approx(t_true, rel=0.05)
    before = expected_calibration_error(apply_temperature(model_logits, 1.0), y)
    after = expected_calibration_error(apply_temperature(model_logits, t), y)
    assert after < 0.02 < before
    # argmax (hence accuracy) unchanged
    assert (apply_temperature(model_logits, t).argmax(1) == model_logits.argmax(1)).all()


def test_calibration_bad_input():
    with pytest.raises(MavenError, match="class indices"):
        fit_temperature(np.zeros((3, 2)), [0, 1, 2])
    with pytest.raises(MavenError, match="length mismatch"):
        fit_temperature(np.zeros((3, 2)), [0, 1])
    with pytest.raises(MavenError, match="logits"):
        fit_temperature(np.zeros(3), [0, 1, 0])
    with pytest.raises(MavenError, match="temperature"):
        apply_temperature(np.zeros((2, 2)), 0.0)
    with pytest.raises(MavenError, match="n_bins"):
        reliability_diagram_data([[0.5, 0.5]], [0], n_bins=0)


# ---------------------------------------------------------------------- plots + reports


def test_plots_write_png(tmp_path):
    m = classification_metrics(Y_TRUE, Y_PRED)
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (200, 3))
    y = rng.integers(0, 3, 200)
    zt = rng.uniform(0, 0.5, 100)
    zp = zt + rng.normal(0, 0.03, 100)
    audit = bias_audit(zt, zp, {"redshift": zt})
    figs = {
        "cm.png": plot_confusion_matrix(m, path=tmp_path / "cm.png"),
        "cm_counts.png": plot_confusion_matrix(
            np.array([[3, 1], [0, 2]]), ["a", "b"], normalise=False, path=tmp_path / "cm_counts.png"
        ),
        "rel.png": plot_reliability_diagram(
            apply_temperature(logits, 1.0),
            y,
            calibrated=apply_temperature(logits, 3.0),
            path=tmp_path / "rel.png",
        ),
        "z.png": plot_redshift(zt, zp, np.full(100, 0.03), path=tmp_path / "sub" / "z.png"),
        "bin.png": plot_metric_by_bin(
            audit["groups"]["redshift"],
            ["nmad", "bias"],
            group="redshift",
            path=tmp_path / "bin.png",
        ),
    }
    for name, fig in figs.items():
        path = tmp_path / ("sub/" + name if name == "z.png" else name)
        assert path.read_bytes()[:8] == PNG, name
        assert fig.axes
    assert plot_confusion_matrix(m) is not None  # no path: returned, not saved
    with pytest.raises(MavenError, match="square"):
        plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(MavenError, match="not in the bins"):
        plot_metric_by_bin(audit["groups"]["redshift"], "accuracy")


def test_write_report(tmp_path):
    y = ["Ia"] * 8 + ["II"] * 3 + ["SLSN-I"]
    p = ["Ia"] * 7 + ["II"] * 4 + ["Ia"]
    metrics = {
        "classification": classification_metrics(y, p, labels=["Ia", "II", "SLSN-I"]),
        "redshift": redshift_metrics([0.1, 0.2, 0.3], [0.1, 0.25, 0.3], [0.05, 0.05, 0.05]),
        "retrieval": {"phot2spec_top1": 0.5, "spec2phot_top1": np.float32(0.25)},
        "bias_audit": bias_audit(y, p, {"survey": ["ztf"] * 6 + ["atlas"] * 6}, train_labels=y),
        "model": "tiny",
    }
    paths = write_report(metrics, tmp_path / "eval")
    data = json.loads(paths["json"].read_text())
    assert data["classification"]["per_class"]["Ia"]["support"] == 8
    assert data["retrieval"]["spec2phot_top1"] == 0.25
    md = paths["markdown"].read_text()
    assert "| class | precision | recall | F1 | support | predicted |" in md
    assert "Class counts: Ia 8, II 3, SLSN-I 1; the data are imbalanced" in md
    assert "NMAD" in md and "phot2spec_top1" in md and "by survey" in md
    assert "Class counts (train)" in md
    # a bare classification dict works too
    paths = write_report(classification_metrics(["a", "b"], ["a", "b"]), tmp_path / "bare")
    assert "roughly balanced" in paths["markdown"].read_text()
    with pytest.raises(MavenError):
        write_report([1, 2], tmp_path)
    with pytest.raises(MavenError, match="JSON"):
        write_report({"x": object()}, tmp_path)


def test_bias_audit_classification():
    y = np.array(["Ia", "Ia", "II", "II", "Ia", "II", "Ia", "Ibc"])
    p = np.array(["Ia", "II", "II", "II", "Ia", "Ia", "Ia", "Ibc"])
    z = np.array([0.01, 0.02, 0.03, 0.04, 0.2, 0.3, np.nan, 0.5])
    survey = np.array(["ztf", "ztf", "ztf", "ztf", "atlas", "atlas", "atlas", "atlas"])
    a = bias_audit(
        y,
        p,
        {"redshift": z, "survey": survey},
        bins={"redshift": [0.0, 0.1, 0.6]},
        train_labels=["Ia", "Ia", "Ia", "II"],
        labels=["Ia", "II", "Ibc"],
    )
    assert a["task"] == "classification"
    assert a["class_counts"]["test"] == {"Ia": 4, "II": 3, "Ibc": 1}
    assert a["class_counts"]["train"] == {"Ia": 3, "II": 1, "Ibc": 0}
    zb = {b["bin"]: b for b in a["groups"]["redshift"]}
    assert zb["[0, 0.1)"]["n"] == 4 and zb["[0, 0.1)"]["accuracy"] == pytest.approx(0.75)
    assert zb["[0.1, 0.6]"]["n"] == 3 and zb["missing"]["n"] == 1
    assert zb["[0.1, 0.6]"]["recall"]["II"] == 0.0
    sb = {b["bin"]: b for b in a["groups"]["survey"]}
    assert sb["ztf"]["accuracy"] == pytest.approx(0.75) and sb["atlas"]["n"] == 4
    _json_ok(a)
    # default: quantile bins with equal counts
    q = bias_audit(y[:6], p[:6], {"z": z[:6]}, n_bins=2)
    assert [b["n"] for b in q["groups"]["z"]] == [3, 3]


def test_bias_audit_redshift_and_errors():
    rng = np.random.default_rng(2)
    zt = rng.uniform(0, 1, 400)
    zp = zt + rng.normal(0, 0.02, 400) * (1 + 3 * (zt > 0.5))  # worse at high z
    a = bias_audit(zt, zp, {"z": zt}, bins={"z": [0, 0.5, 1.0]}, z_sigma=np.full(400, 0.02))
    lo, hi = a["groups"]["z"]
    assert a["task"] == "redshift" and lo["nmad"] < hi["nmad"]
    assert lo["coverage_68"] > hi["coverage_68"]
    # an empty bin: n = 0 and None metrics
    e = bias_audit(zt, zp, {"z": zt}, bins={"z": [0, 1.0, 2.0]})
    assert e["groups"]["z"][1]["n"] == 0 and e["groups"]["z"][1]["nmad"] is None
    _json_ok(e)
    with pytest.raises(MavenError, match="length"):
        bias_audit(zt, zp, {"z": zt[:3]})
    with pytest.raises(MavenError, match="unknown groups"):
        bias_audit(zt, zp, {"z": zt}, bins={"mag": [0, 1]})
    with pytest.raises(MavenError, match="increasing"):
        bias_audit(zt, zp, {"z": zt}, bins={"z": [1.0, 0.0]})
    with pytest.raises(MavenError, match="unknown label"):
        bias_audit(["a"], ["a"], {"g": [1]}, labels=["a"], train_labels=["b"])


def test_retrieval_metrics_reexported():
    import maven.evaluation as ev
    from maven.evaluation.retrieval import retrieval_metrics

    assert ev.retrieval_metrics is retrieval_metrics
