"""Shared fixtures: the location of ../shared/data (tests that need it skip when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# tiny test models are overhead-bound: one thread is faster and steadier on a 2-core machine
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MAVEN_SHARED_DATA", REPO.parent / "shared" / "data"))
REAL_DATA = Path(os.environ.get("MAVEN_REAL_DATA", SHARED_DATA / "real"))


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
