"""Loading saved maven models without transformers' load report where its mismatch is expected.

A fine-tuned head folder (``MavenForSupernovaClassification``, ``MavenForRedshift``) holds the
towers plus the head. Reading only the towers from it (:func:`load_towers`), or a head from a
pre-trained :class:`MavenModel` folder (:func:`quiet_loading`), leaves keys out on purpose;
transformers would print them as a warning table, which reads like a fault.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from transformers.utils import logging as hf_logging

__all__ = ["load_towers", "quiet_loading"]


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Silence transformers' warnings (its load report among them) inside the block."""
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)


def load_towers(path: str | Path):
    """The :class:`~maven.models.MavenModel` (towers, projections, temperature) saved in
    ``path``: a pre-trained folder, or a fine-tuned head folder, whose head is left out
    without a report. A plain MavenModel folder loads with the usual report, so a real
    mismatch still shows."""
    from maven.models import MavenModel

    try:
        arch = json.loads((Path(path) / "config.json").read_text()).get("architectures") or []
    except (OSError, json.JSONDecodeError):
        arch = []
    head_folder = any(a != "MavenModel" for a in arch)
    with quiet_loading() if head_folder else nullcontext():
        return MavenModel.from_pretrained(path)
