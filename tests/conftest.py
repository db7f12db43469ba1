"""Shared fixtures: the location of ../shared/data (tests that need it skip when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from .paths import REAL_DATA, SHARED_DATA, TEMPLATES

# tiny test models are overhead-bound: one thread is faster and steadier on a 2-core machine
torch.set_num_threads(1)

# The simulator never searches for its templates and cadences: the tests (and the `maven`
# subprocesses they start) use the team's copy where there is one, the built-in fallback elsewhere.
if TEMPLATES.is_dir():
    os.environ.setdefault("MAVEN_TEMPLATE_DIR", str(TEMPLATES))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """../shared/data/real, or skip: it exists on the team's machines and in CI only."""
    if not (REAL_DATA / "index.csv").exists():
        pytest.skip(
            f"real data not found at {REAL_DATA} (set MAVEN_REAL_DATA); "
            "a user's clone has no ../shared"
        )
    return REAL_DATA


@pytest.fixture(scope="session")
def filter_dir() -> Path:
    """../shared/data/templates/filters (reference curves), or skip."""
    path = SHARED_DATA / "templates" / "filters"
    if not path.exists():
        pytest.skip(f"reference filter curves not found at {path}")
    return path
