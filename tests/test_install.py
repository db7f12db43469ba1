"""The install is light: nothing maven depends on pulls in jax (piscola did, for a few filter
curves that now ship with maven), and importing maven, reading every band and simulating imports
neither jax nor piscola."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata

HEAVY = {"jax", "jaxlib", "piscola"}


def _dependency_closure(dist: str) -> set[str]:
    """Names of ``dist`` and of everything it needs, transitively, as installed (optional
    extras left out; a requirement that is not installed was left out by its marker)."""
    seen: set[str] = set()
    todo = [dist]
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [re.match(r"[A-Za-z0-9._-]+", r).group(0) for r in reqs if "extra ==" not in r]
    return seen


def test_installed_dependencies_have_no_jax():
    closure = _dependency_closure("maven-sn")
    assert {"torch", "sncosmo", "speclite"} <= closure  # the walk sees the real tree
    assert not closure & HEAVY, sorted(closure & HEAVY)


def test_using_maven_imports_no_jax():
    code = (
        "import math, sys\n"
        "from maven.data.bands import get_band, list_bands\n"
        "from maven.errors import UnknownBandError\n"
        "from maven.simulate import SimConfig, simulate\n"
        "def finite(n):\n"
        "    try:\n"
        "        return math.isfinite(get_band(n).vega_to_ab)\n"
        "    except UnknownBandError:  # ATLAS curves come from MAVEN_TEMPLATE_DIR only\n"
        "        return n.startswith('atlas::')\n"
        "assert all(finite(n) for n in list_bands())\n"
        "assert len(simulate(2, seed=1, config=SimConfig.preset('tiny'))) == 2\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(HEAVY)!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
