"""Shared fixtures: the location of ../shared/data (tests that need it skip when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from .paths import REAL_DATA, SHARED_DATA

# tiny test models are overhead-bound: one thread is faster and steadier on a 2-core machine
torch.set_num_threads(1)


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
