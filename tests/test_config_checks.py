"""Bad values in the YAML-driven configs raise ConfigError naming config, field and value."""

import pytest
import yaml

from maven.errors import ConfigError
from maven.training.config import TrainingConfig
from maven.training.finetune import FinetuneConfig


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"batch_size": True}, "training config: batch_size must be a positive integer, got True"),
        ({"lr": "x"}, "training config: lr must be a finite number > 0, got 'x'"),
        ({"lr": float("inf")}, "lr must be a finite number"),
        ({"weight_decay": "0.1"}, "weight_decay"),
        ({"warmup_steps": 1.5}, "warmup_steps must be an integer >= 0"),
        ({"seed": "0"}, "seed"),
        ({"augment": "yes"}, "augment must be a bool"),
        ({"cpu": 1}, "cpu must be a bool"),
        ({"model": "tiny"}, "model must be a mapping"),
        ({"processor": [1]}, "processor must be a mapping"),
        ({"init_from": 3}, "init_from must be a path or null"),
        ({"save_minutes": True}, "save_minutes"),
        ({"data": 3}, "data must be a mapping"),
        ({"data": {"val_size": 0}}, "data.val_size must be a positive integer"),
        ({"data": {"survey": "sdss"}}, "data.survey must be one of"),
        ({"data": {"simulate": "tiny"}}, "data.simulate must be a mapping"),
        ({"data": {"bucket": True}}, "data.bucket"),
    ],
)
def test_training_config_bad_values(tmp_path, bad, match):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match=match):
        TrainingConfig.from_yaml(path)


def test_training_config_file_errors_name_the_file(tmp_path):
    (tmp_path / "list.yaml").write_text("[1, 2]\n")
    with pytest.raises(ConfigError, match="training config .*list.yaml: expected a mapping"):
        TrainingConfig.from_yaml(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="cannot read training config"):
        TrainingConfig.from_yaml(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"batch_size": True}, "fine-tuning config: batch_size must be a positive integer"),
        ({"lr": "x"}, "fine-tuning config: lr must be a finite number > 0, got 'x'"),
        ({"encoder_lr": None}, "encoder_lr"),
        ({"val_fraction": "0.1"}, "val_fraction"),
        ({"warmup_fraction": True}, "warmup_fraction"),
        ({"head_dropout": 1.0}, r"head_dropout must be a finite number in \[0, 1\)"),
        ({"head_hidden_size": -1}, "head_hidden_size"),
        ({"contrastive_steps": True}, "contrastive_steps"),
        ({"weight_decay": -1}, "weight_decay"),
        ({"augment": "no"}, "augment must be a bool"),
        ({"use_redshift_input": 0}, "use_redshift_input must be a bool"),
        ({"processor": "rest"}, "processor must be a mapping"),
        ({"task": ["redshift"]}, "task must be one of"),
        ({"preset": ""}, "preset must be a path"),
        ({"seed": 0.5}, "seed"),
    ],
)
def test_finetune_config_bad_values(tmp_path, bad, match):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"preset": "tiny", **bad}))
    with pytest.raises(ConfigError, match=match):
        FinetuneConfig.from_yaml(path)


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"max_tokens": True}, "processor config: max_tokens must be a positive integer, got True"),
        ({"spectrum_wave_max": float("inf")}, "spectrum_wave_max must be a finite number > 0"),
        ({"spectrum_wave_min": "3000"}, "spectrum_wave_min"),
        ({"extra_band_wavelengths": {"x::y": True}}, r"extra_band_wavelengths\['x::y'\]"),
        ({"extra_band_wavelengths": [5000]}, "extra_band_wavelengths must be a mapping"),
        ({"aug_max_stretch": 0.6}, r"aug_max_stretch must be a finite number in \[0, 0.5\]"),
        ({"time_reference": "middle"}, "time_reference must be one of"),
        ({"no_such_option": 1}, r"processor config: .*unknown keys \['no_such_option'\]"),
    ],
)
def test_processor_options_bad_values(tmp_path, bad, match):
    from maven.models.processing_maven import MavenProcessor
    from maven.models.processor_options import ProcessorOptions

    with pytest.raises(ConfigError, match=match):
        MavenProcessor(**bad)
    path = tmp_path / "processor.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match=match):
        ProcessorOptions.from_yaml(path)


def test_processor_options_from_yaml_match_the_processor(tmp_path):
    from maven.models.processing_maven import MavenProcessor
    from maven.models.processor_options import ProcessorOptions

    path = tmp_path / "processor.yaml"
    path.write_text("spectrum_frame: rest\nmax_tokens: 128\n")
    options = ProcessorOptions.from_yaml(path, max_tokens=64)
    processor = MavenProcessor(spectrum_frame="rest", max_tokens=64)
    assert processor.options == options and processor.max_tokens == 64
    assert MavenProcessor(**options.to_dict()).to_dict() == processor.to_dict()


@pytest.mark.parametrize(
    "argv, config, match",
    [
        (["pretrain", "--output-dir", "{tmp}/out"], "batch_size: true\n", "batch_size"),
        (["pretrain", "--output-dir", "{tmp}/out"], "lr: x\n", "lr must be a finite number"),
        (["finetune", "--data", "{tmp}", "--output-dir", "{tmp}/o"], "epochs: 1.5\n", "epochs"),
        (["simulate", "--n", "1", "--out", "{tmp}/sim"], "[1, 2]\n", "expected a mapping"),
        (["simulate", "--n", "1", "--out", "{tmp}/sim"], "survey: [1\n", "cannot read simulation"),
    ],
)
def test_cli_config_errors_exit_2(tmp_path, capsys, argv, config, match):
    import re

    from maven.cli import main

    path = tmp_path / "config.yaml"
    path.write_text(config)
    argv = [a.format(tmp=tmp_path) for a in argv] + ["--config", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"maven {argv[0]}: error:") and re.search(match, err)


def test_cli_bad_index_params_exit_2(tmp_path, capsys):
    from maven.cli import main

    argv = ["index", "build", str(tmp_path), "--output", str(tmp_path / "ix"), "--params", "[1"]
    assert main(argv) == 2
    assert "--params must be a JSON object" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, match",
    [
        ("rules: 3\n", "type mapping config: rules must be a list of"),
        ("rules: [['ia.*', Ia]]\nclasses: Ia\n", "classes must be a list"),
        ("rules: [['ia.*', Ia]]\nother: 1\n", "other must be a class name"),
        ("rules: []\nrulez: []\n", r"unknown keys \['rulez'\]"),
        ("classes: [Ia]\n", "rules must be"),
    ],
)
def test_type_mapping_yaml_bad_values(tmp_path, text, match):
    from maven.data.types import TypeMapping

    path = tmp_path / "types.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        TypeMapping.from_yaml(path)


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"min_detections": True}, "simulation config: min_detections must be an integer >= 0"),
        ({"z_min": "0.1"}, "simulation config: z_min must be a finite number"),
        ({"max_peak_mag": float("inf")}, "max_peak_mag"),
        ({"noiseless": "no"}, "noiseless must be a bool"),
        ({"spec_phase": (0.0, "x")}, r"spec_phase\[1\]"),
        ({"class_weights": {"Ia": "x"}}, r"class_weights\['Ia'\]"),
    ],
)
def test_sim_config_bad_values(bad, match):
    from maven.simulate import SimConfig

    with pytest.raises(ConfigError, match=match):
        SimConfig(**bad)


def test_sim_config_from_yaml(tmp_path):
    from maven.simulate import SimConfig

    path = tmp_path / "sim.yaml"
    path.write_text("survey: lsst\nz_max: 0.3\n")
    cfg = SimConfig.from_yaml(path, "tiny", survey=None, heldout="include")
    assert (cfg.survey, cfg.z_max, cfg.heldout, cfg.use_templates) == (
        "lsst",
        0.3,
        "include",
        False,
    )
    assert SimConfig.from_yaml(path, survey="ztf").survey == "ztf"  # an override wins
    path.write_text("survey: lsst\nz_maxx: 0.3\n")
    with pytest.raises(ConfigError, match=r"unknown keys \['z_maxx'\]"):
        SimConfig.from_yaml(path)
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        SimConfig.from_yaml(path)
