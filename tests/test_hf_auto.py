"""``import maven`` is enough for transformers' Auto classes, in a fresh interpreter, without
importing torch itself; and in the other order (transformers first, then maven)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from maven.models import MavenConfig, MavenForSupernovaClassification, MavenModel, MavenProcessor

AUTO = """
from transformers import (
    AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoProcessor,
)
assert type(AutoConfig.from_pretrained(TOWERS)).__name__ == "MavenConfig"
assert type(AutoModel.from_pretrained(TOWERS)).__name__ == "MavenModel"
clf = AutoModelForSequenceClassification.from_pretrained(HEAD)
assert type(clf).__name__ == "MavenForSupernovaClassification", type(clf)
processor = AutoProcessor.from_pretrained(HEAD)
assert type(processor).__name__ == "MavenProcessor" and processor.spectrum_frame == "rest"
model, proc = maven.from_pretrained(HEAD)
assert type(model).__name__ == "MavenForSupernovaClassification"
print("ok")
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("auto")
    torch.manual_seed(0)
    config = MavenConfig.from_preset("tiny")
    MavenModel(config).save_pretrained(root / "towers")
    MavenForSupernovaClassification(config).save_pretrained(root / "head")
    MavenProcessor(spectrum_frame="rest").save_pretrained(root / "head")
    return root


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_import_maven_alone_registers_the_auto_classes(saved):
    paths = f"TOWERS, HEAD = {str(saved / 'towers')!r}, {str(saved / 'head')!r}\n"
    out = _run(
        "import sys\nimport maven\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n" + paths + AUTO
    )
    assert out.strip() == "ok"


def test_transformers_imported_before_maven(saved):
    paths = f"TOWERS, HEAD = {str(saved / 'towers')!r}, {str(saved / 'head')!r}\n"
    out = _run("from transformers import AutoModel\nimport maven\n" + paths + AUTO)
    assert out.strip() == "ok"


def test_shipped_card_metadata_is_what_the_shipped_files_say():
    import json

    import yaml
    from huggingface_hub import ModelCard

    from maven.evaluation.model_card import _split_notes, card_metadata

    from .paths import REPO

    weights = REPO / "weights" / "maven-base"
    if not (weights / "README.md").exists():
        pytest.skip(f"no shipped weights at {weights}")
    text = (weights / "README.md").read_text()
    block = yaml.safe_load(text.split("---\n")[1])
    ft = json.loads((weights / "finetune_summary.json").read_text())["config"]
    cvs = [json.loads(p.read_text()) for p in sorted(weights.glob("evaluation/*/crossval.json"))]
    extra, _ = _split_notes((REPO / "model_cards" / "maven-base" / "notes.md").read_text())
    assert block == card_metadata("maven-base", ft, cvs, extra)
    card = ModelCard.load(weights / "README.md")  # the Hub's own parser
    assert (card.data.license, card.data.pipeline_tag) == ("bsd-3-clause", "tabular-classification")
    f1 = {r.metric_type: r.metric_value for r in card.data.eval_results}["f1"]
    both = next(c for c in cvs if c["modality"] == "both")
    assert f1 == round(both["methods"]["maven"]["mean_std"]["macro_f1"]["mean"], 4)
    assert "maven.from_pretrained(" in text and "load_head" not in text


def test_card_metadata_per_task_and_bad_notes():
    from maven.errors import MavenError
    from maven.evaluation.model_card import _split_notes, card_metadata

    cv = {
        "task": "redshift",
        "modality": "photometry",
        "config": {},
        "n": 10,
        "n_folds": 2,
        "methods": {"maven": {"mean_std": {"nmad": {"mean": 0.02, "std": 0.001}}}},
    }
    meta = card_metadata("z", {"task": "redshift", "modality": "photometry"}, [cv])
    assert meta["license"] == "bsd-3-clause" and meta["pipeline_tag"] == "tabular-regression"
    (result,) = meta["model-index"][0]["results"]
    assert result["metrics"] == [
        {"type": "nmad", "name": "NMAD of dz / (1 + z) (mean of 2 folds; std 0.001)", "value": 0.02}
    ]
    # another recipe's cross-validation is on the card, not in this model's model-index
    other = card_metadata("z", {"task": "redshift", "modality": "spectrum"}, [cv])
    assert "model-index" not in other
    assert _split_notes("## Notes\n\ntext") == ({}, "## Notes\n\ntext")
    with pytest.raises(MavenError, match="may set"):
        _split_notes("---\nlicense: mit\n---\n\ntext")
    with pytest.raises(MavenError, match="not YAML"):
        _split_notes("---\ndatasets: [a\n")
