"""Where the team's reference data lives: ``../shared/data`` next to the repository, or the
``MAVEN_SHARED_DATA`` / ``MAVEN_REAL_DATA`` / ``MAVEN_TEMPLATE_DIR`` environment variables.
A user's clone has none of it; tests that need it skip with the reason. ``conftest.py`` exports
``MAVEN_TEMPLATE_DIR`` = :data:`TEMPLATES` when it exists (maven itself never looks here)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MAVEN_SHARED_DATA", REPO.parent / "shared" / "data"))
REAL_DATA = Path(os.environ.get("MAVEN_REAL_DATA", SHARED_DATA / "real"))
TEMPLATES = Path(os.environ.get("MAVEN_TEMPLATE_DIR") or SHARED_DATA / "templates")
