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
